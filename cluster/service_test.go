package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// localProposer applies commands to an FSM directly, as raft would on a
// single node: the test fake for Service.
type localProposer struct {
	mu       sync.Mutex
	f        *fsm.FSM
	index    uint64
	proposed []model.CommandType
	barriers int
}

func (p *localProposer) Propose(ctx context.Context, cmd model.Command) (fsm.Result, error) {
	b, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index++
	p.proposed = append(p.proposed, cmd.Type)
	return p.f.Apply(&raft.Log{Index: p.index, Type: raft.LogCommand, Data: b}).(fsm.Result), nil
}

func (p *localProposer) Barrier(ctx context.Context) error {
	p.mu.Lock()
	p.barriers++
	p.mu.Unlock()
	return ctx.Err()
}

func (p *localProposer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.proposed)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var testArgon = auth.Argon2Params{MemoryKiB: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type svcEnv struct {
	svc   *Service
	st    *state.Store
	p     *localProposer
	clock *fakeClock
	admin model.Actor
}

func newSvcEnv(t *testing.T) *svcEnv {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &localProposer{f: fsm.New(st, nil, nil)}
	clock := &fakeClock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	svc := NewService(p, st, ServiceConfig{NodeID: "node1", Clock: clock.Now, Argon2: testArgon,
		Flavours: map[string]Flavour{"small": {VCPU: 2, MemoryMiB: 2048, DiskGiB: 20}, "huge": {VCPU: 64, MemoryMiB: 262144, DiskGiB: 2000}}})
	e := &svcEnv{svc: svc, st: st, p: p, clock: clock}
	root, err := svc.CreateUser(context.Background(), svc.system(), model.CreateUser{Username: "root", DisplayName: "Root", Admin: true}, "root password 123")
	if err != nil {
		t.Fatal(err)
	}
	e.admin = model.Actor{UserID: root.ID}
	return e
}

func (e *svcEnv) user(t *testing.T, name string) model.Actor {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), e.admin, model.CreateUser{Username: name, DisplayName: name}, name+" password 123")
	if err != nil {
		t.Fatal(err)
	}
	return model.Actor{UserID: u.ID}
}

func (e *svcEnv) project(t *testing.T, slug string, owner model.Actor) model.Project {
	t.Helper()
	now := e.clock.Now()
	p, err := e.svc.CreateProject(context.Background(), e.admin, model.CreateProject{Name: "Study " + slug, Slug: slug, ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour), Tier: 2, Quota: model.Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 100, Workstations: 4}, Owners: []string{owner.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantCode(t *testing.T, err error, code model.ErrorCode) {
	t.Helper()
	if model.CodeOf(err) != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

// login runs the whole flow for a user who has not enrolled yet and returns
// the session token, the TOTP secret and the recovery codes.
func (e *svcEnv) login(t *testing.T, name string) (string, string, []string) {
	t.Helper()
	ctx := context.Background()
	res, err := e.svc.VerifyPassword(ctx, name, name+" password 123", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if !res.MFAPending || !res.NeedsEnrol || res.Token == "" {
		t.Fatalf("first step %+v", res)
	}
	enr, err := e.svc.BeginTOTPEnrolment(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enr.URI, "otpauth://totp/sded:"+name) || len(enr.QRPNG) == 0 {
		t.Errorf("enrolment %q", enr.URI)
	}
	code, _ := auth.TOTPCode(enr.Secret, auth.TOTPStep(e.clock.Now()))
	full, err := e.svc.SecondFactor(ctx, res.Token, code, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if full.MFAPending || full.Token == res.Token || len(full.RecoveryCodes) != auth.RecoveryCodeCount {
		t.Fatalf("second step %+v", full)
	}
	return full.Token, enr.Secret, full.RecoveryCodes
}

func TestServiceLoginFlow(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann := e.user(t, "ann")
	tok, secret, recovery := e.login(t, "ann")
	info, err := e.svc.LookupSession(ctx, tok)
	if err != nil || info.Actor != ann || info.User.PasswordHash != "" || info.User.TOTPSecret != "" {
		t.Fatalf("LookupSession = %+v, %v", info, err)
	}
	// Second login: the code just used cannot be replayed.
	e.clock.Add(time.Second)
	res, err := e.svc.VerifyPassword(ctx, "ann", "ann password 123", "")
	if err != nil || res.NeedsEnrol {
		t.Fatalf("%+v %v", res, err)
	}
	used, _ := auth.TOTPCode(secret, auth.TOTPStep(e.clock.Now()))
	_, err = e.svc.SecondFactor(ctx, res.Token, used, "")
	wantCode(t, err, model.CodeUnauthenticated)
	e.clock.Add(auth.TOTPPeriod)
	next, _ := auth.TOTPCode(secret, auth.TOTPStep(e.clock.Now()))
	if _, err := e.svc.SecondFactor(ctx, res.Token, next, ""); err != nil {
		t.Fatal(err)
	}
	// The pending token was replaced: it no longer works.
	_, err = e.svc.LookupSession(ctx, res.Token)
	wantCode(t, err, model.CodeUnauthenticated)
	// A recovery code works once.
	res, _ = e.svc.VerifyPassword(ctx, "ann", "ann password 123", "")
	if _, err := e.svc.LoginWithRecoveryCode(ctx, res.Token, strings.ToUpper(recovery[0]), ""); err != nil {
		t.Fatal(err)
	}
	res, _ = e.svc.VerifyPassword(ctx, "ann", "ann password 123", "")
	_, err = e.svc.LoginWithRecoveryCode(ctx, res.Token, recovery[0], "")
	wantCode(t, err, model.CodeUnauthenticated)
	// A pending session is not a login.
	_, err = e.svc.SecondFactor(ctx, tok, next, "")
	wantCode(t, err, model.CodeConflict)
	// Logout ends the session.
	if err := e.svc.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.LookupSession(ctx, tok)
	wantCode(t, err, model.CodeUnauthenticated)
	evs, _ := e.st.AuditEvents(0, 1000)
	var actions []string
	for _, ev := range evs {
		if ev.Action == "login.success" || ev.Action == "logout" || ev.Action == "login.failure" {
			actions = append(actions, ev.Action)
		}
	}
	want := []string{"login.success", "login.failure", "login.success", "login.success", "login.failure", "logout"}
	if d := cmp.Diff(want, actions); d != "" {
		t.Errorf("login audit trail (-want +got):\n%s", d)
	}
}

func TestServiceBruteForceLockout(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	e.user(t, "bob")
	for i := 0; i < model.LockoutThreshold; i++ {
		_, err := e.svc.VerifyPassword(ctx, "bob", "wrong password!!", "198.51.100.1")
		wantCode(t, err, model.CodeUnauthenticated)
	}
	// Locked: even the right password is refused, with the time to wait.
	_, err := e.svc.VerifyPassword(ctx, "bob", "bob password 123", "")
	if model.CodeOf(err) != model.CodeForbidden || !strings.Contains(err.Error(), "try again after") {
		t.Fatalf("locked account: %v", err)
	}
	e.clock.Add(model.LockoutBase + time.Second)
	if _, err := e.svc.VerifyPassword(ctx, "bob", "bob password 123", ""); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// Unknown users get the same answer as wrong passwords, and are audited.
	_, err = e.svc.VerifyPassword(ctx, "nobody", "whatever password", "")
	if !errors.Is(err, errBadLogin) || err.Error() != errBadLogin.Error() {
		t.Errorf("unknown user: %v", err)
	}
	_, err = e.svc.VerifyPassword(ctx, strings.Repeat("x", 10000), "p", "")
	wantCode(t, err, model.CodeUnauthenticated)
}

func TestServiceTOTPBruteForce(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	e.user(t, "cat")
	e.login(t, "cat")
	res, err := e.svc.VerifyPassword(ctx, "cat", "cat password 123", "")
	if err != nil {
		t.Fatal(err)
	}
	// Five wrong codes lock the account; the right one is then refused.
	for i := 0; i < model.LockoutThreshold; i++ {
		_, err := e.svc.SecondFactor(ctx, res.Token, "000000", "")
		wantCode(t, err, model.CodeUnauthenticated)
	}
	u, _ := e.st.UserByUsername("cat")
	code, _ := auth.TOTPCode(u.TOTPSecret, auth.TOTPStep(e.clock.Now())+1)
	_, err = e.svc.SecondFactor(ctx, res.Token, code, "")
	if err == nil || !strings.Contains(err.Error(), "try again") {
		t.Fatalf("locked TOTP step: %v", err)
	}
}

func TestServiceSessionTimeoutsAndDisable(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	dan := e.user(t, "dan")
	tok, _, _ := e.login(t, "dan")
	// Activity keeps the session alive past the idle timeout...
	for i := 0; i < 3; i++ {
		e.clock.Add(20 * time.Minute)
		if _, err := e.svc.LookupSession(ctx, tok); err != nil {
			t.Fatalf("active session after %d×20m: %v", i+1, err)
		}
	}
	// ...but not idleness.
	e.clock.Add(31 * time.Minute)
	_, err := e.svc.LookupSession(ctx, tok)
	wantCode(t, err, model.CodeUnauthenticated)
	// Absolute timeout: 12h however active the session.
	e.clock.Add(time.Minute)
	tok, _ = e.relogin(t, "dan")
	start := e.clock.Now()
	for {
		e.clock.Add(20 * time.Minute)
		if _, err := e.svc.LookupSession(ctx, tok); err != nil {
			if d := e.clock.Now().Sub(start); d < 12*time.Hour-20*time.Minute || d > 12*time.Hour {
				t.Fatalf("active session ended after %v: %v", d, err)
			}
			break
		}
	}
	// Disabling ends sessions at once.
	e.clock.Add(time.Minute)
	tok, _ = e.relogin(t, "dan")
	if err := e.svc.SetUserDisabled(ctx, e.admin, dan.UserID, true); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.LookupSession(ctx, tok)
	wantCode(t, err, model.CodeUnauthenticated)
	_, err = e.svc.VerifyPassword(ctx, "dan", "dan password 123", "")
	wantCode(t, err, model.CodeUnauthenticated)
}

// relogin logs an enrolled user in with their current TOTP code.
func (e *svcEnv) relogin(t *testing.T, name string) (string, error) {
	t.Helper()
	ctx := context.Background()
	res, err := e.svc.VerifyPassword(ctx, name, name+" password 123", "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := e.st.UserByUsername(name)
	e.clock.Add(auth.TOTPPeriod)
	code, _ := auth.TOTPCode(u.TOTPSecret, auth.TOTPStep(e.clock.Now()))
	full, err := e.svc.SecondFactor(ctx, res.Token, code, "")
	if err != nil {
		t.Fatal(err)
	}
	return full.Token, nil
}

func TestServiceDeniedAttemptsAreAudited(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	bob := e.user(t, "bob")
	before := e.p.count()
	_, err := e.svc.CreateProject(ctx, bob, model.CreateProject{Name: "x", Slug: "xx", ApprovalRef: "a", DSARef: "d",
		StartsAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour), Quota: model.Quota{VCPU: 1, MemoryMiB: 1, DiskGiB: 1, Workstations: 1}})
	wantCode(t, err, model.CodeForbidden)
	if got := e.p.proposed[before:]; len(got) != 1 || got[0] != model.CmdRecordAudit {
		t.Fatalf("proposed %v, want only the audit record", got)
	}
	evs, _ := e.st.AuditEvents(0, 1000)
	last := evs[len(evs)-1]
	if last.Action != "access.denied" || last.Outcome != model.OutcomeDenied || last.Details["user_id"] != bob.UserID || last.Details["action"] != string(model.ActProjectCreate) {
		t.Errorf("denied audit %+v", last)
	}
}

// TestServiceBadInputChangesNothing: invalid input is refused before any
// proposal.
func TestServiceBadInputChangesNothing(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann := e.user(t, "ann")
	p := e.project(t, "study", ann)
	before := e.p.count()
	for name, call := range map[string]func() error{
		"short password": func() error {
			_, err := e.svc.CreateUser(ctx, e.admin, model.CreateUser{Username: "zed", DisplayName: "Z"}, "short")
			return err
		},
		"bad username": func() error {
			_, err := e.svc.CreateUser(ctx, e.admin, model.CreateUser{Username: "Zed Smith", DisplayName: "Z"}, "long enough pw")
			return err
		},
		"huge display name": func() error {
			_, err := e.svc.CreateUser(ctx, e.admin, model.CreateUser{Username: "zed", DisplayName: strings.Repeat("z", 1000)}, "long enough pw")
			return err
		},
		"bad slug": func() error {
			_, err := e.svc.CreateProject(ctx, e.admin, model.CreateProject{Name: "x", Slug: "../etc"})
			return err
		},
		"unknown flavour": func() error {
			_, err := e.svc.CreateWorkstation(ctx, ann, model.CreateWorkstation{ProjectID: p.ID, Name: "w", ImageID: "i", Flavour: "gigantic"})
			return err
		},
		"bad desired state": func() error { return e.svc.SetWorkstationRun(ctx, ann, "w1", "exploded") },
		"bad setting key":   func() error { _, err := e.svc.PutSetting(ctx, e.admin, "A B", "x"); return err },
		"huge setting": func() error {
			_, err := e.svc.PutSetting(ctx, e.admin, "banner", strings.Repeat("x", 1<<17))
			return err
		},
		"traversal file name": func() error {
			_, err := e.svc.AddAirlockFile(ctx, ann, model.AddAirlockFile{RequestID: "r1", Name: "../x", SHA256: strings.Repeat("a", 64)})
			return err
		},
		"audit limit": func() error { _, err := e.svc.AuditEvents(ctx, e.admin, 0, 0); return err },
	} {
		if err := call(); model.CodeOf(err) != model.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if e.p.count() != before {
		t.Errorf("bad input proposed %v", e.p.proposed[before:])
	}
	if _, err := e.svc.CreateUser(ctx, e.admin, model.CreateUser{Username: "ann", DisplayName: "dup"}, "long enough pw"); model.CodeOf(err) != model.CodeAlreadyExists {
		t.Errorf("duplicate username: %v", err)
	}
}

func TestServiceProjectsAndWorkstations(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann, bob, cat, eve := e.user(t, "ann"), e.user(t, "bob"), e.user(t, "cat"), e.user(t, "eve")
	p := e.project(t, "study", ann)
	other := e.project(t, "other", eve)
	for _, u := range []model.Actor{bob, cat} {
		if err := e.svc.AddMember(ctx, ann, model.AddMember{ProjectID: p.ID, UserID: u.UserID, Role: model.RoleResearcher}); err != nil {
			t.Fatal(err)
		}
	}
	err := e.svc.AddMember(ctx, bob, model.AddMember{ProjectID: p.ID, UserID: eve.UserID, Role: model.RoleResearcher})
	wantCode(t, err, model.CodeForbidden)
	img, err := e.svc.RegisterImage(ctx, e.admin, model.Image{Name: "debian", Format: model.FormatQCOW2, SHA256: strings.Repeat("b", 64), Size: 1, Path: "/var/lib/sded/images/d.qcow2"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.svc.CreateWorkstation(ctx, bob, model.CreateWorkstation{ProjectID: p.ID, Name: "bob-1", ImageID: img.ID, Flavour: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if w.VCPU != 2 || w.OwnerID != bob.UserID || w.IP == "" {
		t.Errorf("workstation %+v", w)
	}
	_, err = e.svc.CreateWorkstation(ctx, bob, model.CreateWorkstation{ProjectID: p.ID, Name: "big", ImageID: img.ID, Flavour: "huge"})
	wantCode(t, err, model.CodeConflict)
	err = e.svc.SetWorkstationRun(ctx, cat, w.ID, model.DesiredStopped)
	wantCode(t, err, model.CodeForbidden)
	_, err = e.svc.CreateWorkstation(ctx, eve, model.CreateWorkstation{ProjectID: p.ID, Name: "eve", ImageID: img.ID, Flavour: "small"})
	wantCode(t, err, model.CodeForbidden)
	if err := e.svc.SetWorkstationRun(ctx, ann, w.ID, model.DesiredStopped); err != nil {
		t.Fatal(err)
	}
	// Lists are filtered by the policy.
	for _, c := range []struct {
		who  model.Actor
		want int
	}{{ann, 1}, {bob, 1}, {cat, 0}, {e.admin, 1}} {
		ws, err := e.svc.ListWorkstations(ctx, c.who, p.ID)
		if err != nil || len(ws) != c.want {
			t.Errorf("Workstations for %s = %d, %v; want %d", c.who, len(ws), err, c.want)
		}
	}
	ps, _ := e.svc.ListProjects(ctx, bob)
	if len(ps) != 1 || ps[0].ID != p.ID {
		t.Errorf("bob sees %d projects", len(ps))
	}
	_, err = e.svc.GetProject(ctx, bob, other.ID)
	wantCode(t, err, model.CodeForbidden)
	// Desktop access: only the workstation's own researcher.
	o, err := e.svc.WorkstationObject(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Authorize(ctx, bob, model.ActWorkstationConnect, o); err != nil {
		t.Error(err)
	}
	if err := e.svc.Authorize(ctx, ann, model.ActWorkstationConnect, o); err != nil {
		t.Errorf("the owner may not open bob's desktop: %v", err)
	}
	for _, who := range []model.Actor{cat, e.admin, eve} {
		if err := e.svc.Authorize(ctx, who, model.ActWorkstationConnect, o); model.CodeOf(err) != model.CodeForbidden {
			t.Errorf("%s may open bob's desktop: %v", who, err)
		}
	}
	// Suspension refuses members.
	if err := e.svc.SuspendProject(ctx, e.admin, p.ID, "review"); err != nil {
		t.Fatal(err)
	}
	err = e.svc.SetWorkstationRun(ctx, bob, w.ID, model.DesiredRunning)
	wantCode(t, err, model.CodeForbidden)
	// The reconciler reports as the system.
	if err := e.svc.ReportWorkstation(ctx, w.ID, model.ObservedStopped, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ArchiveProject(ctx, e.admin, p.ID, "done"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.VerifyAudit(ctx, e.admin); err != nil || n < 10 {
		t.Errorf("VerifyAudit = %d, %v", n, err)
	}
	_, err = e.svc.VerifyAudit(ctx, bob)
	wantCode(t, err, model.CodeForbidden)
}

func TestServiceIdempotentRetry(t *testing.T) {
	e := newSvcEnv(t)
	ctx := WithRequestID(context.Background(), "client-key-1")
	u1, err := e.svc.CreateUser(ctx, e.admin, model.CreateUser{Username: "fay", DisplayName: "Fay"}, "long enough pw")
	if err != nil {
		t.Fatal(err)
	}
	// The retry (new random ID stamped, same request ID) returns the first result.
	u2, err := e.svc.CreateUser(ctx, e.admin, model.CreateUser{Username: "fay2", DisplayName: "Fay"}, "long enough pw")
	if err != nil || u2.ID != u1.ID || u2.Username != "fay" {
		t.Errorf("retry = %+v, %v; want the first result %s", u2, err, u1.ID)
	}
	if _, err := e.st.UserByUsername("fay2"); model.CodeOf(err) != model.CodeNotFound {
		t.Error("a retried request was applied twice")
	}
}

func TestServiceTokens(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann := e.user(t, "ann")
	p := e.project(t, "study", ann)
	raw, tok, err := e.svc.CreateAPIToken(ctx, ann, "ci", []model.Action{model.ActProjectRead}, e.clock.Now().Add(time.Hour))
	if err != nil || tok.Hash != "" || !strings.HasPrefix(raw, auth.APITokenPrefix) {
		t.Fatalf("CreateAPIToken = %q %+v %v", raw, tok, err)
	}
	a, err := e.svc.LookupAPIToken(ctx, raw)
	if err != nil || a.UserID != ann.UserID || a.TokenID != tok.ID {
		t.Fatalf("LookupAPIToken = %+v %v", a, err)
	}
	if _, err := e.svc.GetProject(ctx, a, p.ID); err != nil {
		t.Error(err)
	}
	err = e.svc.AddMember(ctx, a, model.AddMember{ProjectID: p.ID, UserID: e.admin.UserID, Role: model.RoleResearcher})
	wantCode(t, err, model.CodeForbidden)
	_, err = e.svc.LookupAPIToken(ctx, raw+"x")
	wantCode(t, err, model.CodeUnauthenticated)
	e.clock.Add(2 * time.Hour)
	_, err = e.svc.LookupAPIToken(ctx, raw)
	wantCode(t, err, model.CodeUnauthenticated)
}

func TestServiceAirlock(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann, bob, olly, otto := e.user(t, "ann"), e.user(t, "bob"), e.user(t, "olly"), e.user(t, "otto")
	p := e.project(t, "study", ann)
	for u, r := range map[model.Actor]model.MemberRole{bob: model.RoleResearcher, olly: model.RoleOutputChecker, otto: model.RoleOutputChecker} {
		if err := e.svc.AddMember(ctx, ann, model.AddMember{ProjectID: p.ID, UserID: u.UserID, Role: r}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.svc.CreateAirlock(ctx, bob, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockExport, Title: "Table 1"})
	if err != nil || r.RequiredApprovals != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := e.svc.AddAirlockFile(ctx, bob, model.AddAirlockFile{RequestID: r.ID, Name: "t1.csv", Size: 5, SHA256: strings.Repeat("c", 64)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SubmitAirlock(ctx, bob, model.SubmitAirlock{RequestID: r.ID, DisclosureControls: "suppressed < 10"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.VoteAirlock(ctx, bob, model.VoteAirlock{RequestID: r.ID, File: "t1.csv", Decision: model.VoteApprove})
	wantCode(t, err, model.CodeForbidden)
	for _, c := range []model.Actor{olly, otto} {
		if r, err = e.svc.VoteAirlock(ctx, c, model.VoteAirlock{RequestID: r.ID, File: "t1.csv", Decision: model.VoteApprove}); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != model.AirlockApproved {
		t.Fatalf("state %s", r.State)
	}
	if r, err = e.svc.TransitionAirlockAsSystem(ctx, model.TransitionAirlock{RequestID: r.ID, To: model.AirlockReleased}); err != nil || r.State != model.AirlockReleased {
		t.Fatalf("release: %v", err)
	}
	o, _ := e.svc.AirlockObject(ctx, r.ID)
	if err := e.svc.Authorize(ctx, bob, model.ActAirlockDownload, o); err != nil {
		t.Error(err)
	}
	for _, who := range []model.Actor{olly, e.admin} {
		if err := e.svc.Authorize(ctx, who, model.ActAirlockDownload, o); model.CodeOf(err) != model.CodeForbidden {
			t.Errorf("%s may download bob's export: %v", who, err)
		}
	}
	if _, err := e.svc.Airlock(ctx, e.admin, r.ID); model.CodeOf(err) != model.CodeForbidden {
		t.Errorf("admin reads an export request: %v", err)
	}
}

func TestServiceRehashesOldPasswordHashes(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	e.user(t, "ann")
	stronger := testArgon
	stronger.Time = 2
	e.svc.cfg.Argon2 = stronger
	if _, err := e.svc.VerifyPassword(ctx, "ann", "ann password 123", ""); err != nil {
		t.Fatal(err)
	}
	u, _ := e.st.UserByUsername("ann")
	if !strings.Contains(u.PasswordHash, ",t=2,") {
		t.Errorf("hash not upgraded: %s", u.PasswordHash)
	}
	if _, err := e.svc.VerifyPassword(ctx, "ann", "ann password 123", ""); err != nil {
		t.Fatalf("login after the upgrade: %v", err)
	}
}
