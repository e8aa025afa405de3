package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
)

// scheduleEnv is a project owned by ann with bob (researcher) and a
// workstation of bob's that the reconciler reported running at start.
type scheduleEnv struct {
	*svcEnv
	ann, bob model.Actor
	proj     model.Project
	w        model.Workstation
}

func newScheduleEnv(t *testing.T, start time.Time) *scheduleEnv {
	t.Helper()
	e := newSvcEnv(t)
	ctx := context.Background()
	e.clock.now = start.Add(-time.Hour)
	s := &scheduleEnv{svcEnv: e, ann: e.user(t, "ann"), bob: e.user(t, "bob")}
	s.proj = e.project(t, "study", s.ann)
	if err := e.svc.AddMember(ctx, s.ann, model.AddMember{ProjectID: s.proj.ID, UserID: s.bob.UserID, Role: model.RoleResearcher}); err != nil {
		t.Fatal(err)
	}
	img, err := e.svc.RegisterImage(ctx, e.admin, model.Image{Name: "d", Format: model.FormatRaw, SHA256: strings.Repeat("e", 64), Size: 1, Path: "/images/d.raw"})
	if err != nil {
		t.Fatal(err)
	}
	if s.w, err = e.svc.CreateWorkstation(ctx, s.bob, model.CreateWorkstation{ProjectID: s.proj.ID, Name: "bob-1", ImageID: img.ID, Flavour: "small"}); err != nil {
		t.Fatal(err)
	}
	e.clock.now = start
	if err := e.svc.ReportWorkstation(ctx, s.w.ID, model.ObservedRunning, ""); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *scheduleEnv) set(t *testing.T, sch model.Schedule) {
	t.Helper()
	if _, err := s.svc.SetProjectSchedule(context.Background(), s.ann, s.proj.ID, sch); err != nil {
		t.Fatal(err)
	}
}

// enforceAt runs EnforceSchedules with the clock at t and returns what it
// stopped and how many entries it proposed.
func (s *scheduleEnv) enforceAt(t *testing.T, at time.Time) ([]string, int) {
	t.Helper()
	s.clock.mu.Lock()
	s.clock.now = at
	s.clock.mu.Unlock()
	before := s.svcEnv.p.count()
	got, err := s.svc.EnforceSchedules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got, s.svcEnv.p.count() - before
}

func TestServiceSetProjectScheduleValidation(t *testing.T) {
	s := newScheduleEnv(t, time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	bad := []struct {
		name  string
		sch   model.Schedule
		field string
	}{
		{"hour 24", model.Schedule{NightlyShutdown: "24:00"}, "schedule.nightly_shutdown"},
		{"no leading zero", model.Schedule{NightlyShutdown: "7:30"}, "schedule.nightly_shutdown"},
		{"am/pm", model.Schedule{NightlyShutdown: "10:00 PM"}, "schedule.nightly_shutdown"},
		{"unknown zone", model.Schedule{NightlyShutdown: "22:00", TimeZone: "Mars/Olympus_Mons"}, "schedule.time_zone"},
		{"abbreviation that is no IANA name", model.Schedule{NightlyShutdown: "22:00", TimeZone: "BST"}, "schedule.time_zone"},
		{"Local (differs per node)", model.Schedule{NightlyShutdown: "22:00", TimeZone: "Local"}, "schedule.time_zone"},
		{"a path", model.Schedule{TimeZone: "../../../etc/shadow"}, "schedule.time_zone"},
		{"idle 5m", model.Schedule{IdleStopAfter: 5 * time.Minute}, "schedule.idle_stop_after"},
		{"idle 8 days", model.Schedule{IdleStopAfter: 8 * 24 * time.Hour}, "schedule.idle_stop_after"},
	}
	before := s.svcEnv.p.count()
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.svc.SetProjectSchedule(ctx, s.ann, s.proj.ID, tt.sch)
			if e := model.AsError(err); e == nil || e.Code != model.CodeInvalid || e.Field != tt.field {
				t.Fatalf("SetProjectSchedule = %v, want invalid %s", err, tt.field)
			}
		})
	}
	if n := s.svcEnv.p.count() - before; n != 0 {
		t.Fatalf("bad input proposed %d entries", n)
	}
	// A researcher may not; the refusal is audited, nothing changes.
	_, err := s.svc.SetProjectSchedule(ctx, s.bob, s.proj.ID, model.Schedule{IdleStopAfter: time.Hour})
	wantCode(t, err, model.CodeForbidden)
	_, err = s.svc.SetProjectSchedule(ctx, s.ann, "nope", model.Schedule{})
	wantCode(t, err, model.CodeNotFound)
	// The owner and an admin may; "UTC" is stored as the default.
	pr, err := s.svc.SetProjectSchedule(ctx, s.ann, s.proj.ID, model.Schedule{NightlyShutdown: "22:00", TimeZone: "UTC", IdleStopAfter: 2 * time.Hour})
	if err != nil || pr.Schedule != (model.Schedule{NightlyShutdown: "22:00", IdleStopAfter: 2 * time.Hour}) {
		t.Fatalf("owner: %+v %v", pr.Schedule, err)
	}
	if pr, err = s.svc.SetProjectSchedule(ctx, s.admin, s.proj.ID, model.Schedule{NightlyShutdown: "19:30", TimeZone: "Europe/London"}); err != nil || pr.Schedule.NightlySpec() != "19:30 Europe/London" {
		t.Fatalf("admin: %+v %v", pr.Schedule, err)
	}
	got, err := s.svc.GetProject(ctx, s.bob, s.proj.ID)
	if err != nil || got.Schedule != pr.Schedule {
		t.Fatalf("researchers read the schedule: %+v %v", got.Schedule, err)
	}
	evs, _ := s.svc.ListAudit(ctx, s.admin, AuditFilter{Action: "project.schedule_set"})
	if len(evs) != 2 || evs[0].Details["to"] != "nightly shutdown 19:30 Europe/London" || evs[0].Actor != s.admin {
		t.Fatalf("audit %+v", evs)
	}
	denied, _ := s.svc.ListAudit(ctx, s.admin, AuditFilter{Action: "access.denied"})
	if len(denied) != 1 || denied[0].Details["action"] != string(model.ActProjectSchedule) {
		t.Fatalf("denied attempts audited: %+v", denied)
	}
}

func TestServiceNightlyShutdown(t *testing.T) {
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	s := newScheduleEnv(t, start)
	// No schedule: nothing due, nothing proposed.
	if got, n := s.enforceAt(t, start.Add(20*time.Hour)); len(got) != 0 || n != 0 {
		t.Fatalf("no schedule: stopped %v, proposed %d", got, n)
	}
	s.set(t, model.Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London"})
	if got, n := s.enforceAt(t, time.Date(2026, 11, 22, 21, 59, 0, 0, time.UTC)); len(got) != 0 || n != 0 {
		t.Fatalf("21:59: stopped %v, proposed %d", got, n)
	}
	got, n := s.enforceAt(t, time.Date(2026, 11, 22, 22, 0, 30, 0, time.UTC))
	if !cmp.Equal(got, []string{s.w.ID}) || n != 1 {
		t.Fatalf("22:00: stopped %v, proposed %d", got, n)
	}
	w, _ := s.svc.GetWorkstation(context.Background(), s.bob, s.w.ID)
	if w.Desired != model.DesiredStopped {
		t.Fatalf("desired %s", w.Desired)
	}
	// Housekeep enforces too, and has nothing to do now.
	if err := s.svc.Housekeep(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// On the day British Summer Time starts (2027-03-28), 22:00 in London is
// 21:00 UTC, an hour earlier than the night before: the Service computes
// the instant in the project's zone.
func TestServiceNightlyShutdownAcrossDST(t *testing.T) {
	s := newScheduleEnv(t, time.Date(2027, 3, 27, 12, 0, 0, 0, time.UTC))
	s.set(t, model.Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London"})
	if got, _ := s.enforceAt(t, time.Date(2027, 3, 27, 21, 30, 0, 0, time.UTC)); len(got) != 0 {
		t.Fatalf("21:30 GMT stopped %v", got)
	}
	if got, _ := s.enforceAt(t, time.Date(2027, 3, 27, 22, 0, 0, 0, time.UTC)); len(got) != 1 {
		t.Fatalf("22:00 GMT stopped %v", got)
	}
	ctx := context.Background()
	s.clock.now = time.Date(2027, 3, 28, 10, 0, 0, 0, time.UTC)
	if err := s.svc.SetWorkstationRun(ctx, s.bob, s.w.ID, model.DesiredRunning); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.ReportWorkstation(ctx, s.w.ID, model.ObservedRunning, "started again"); err != nil {
		t.Fatal(err)
	}
	if got, n := s.enforceAt(t, time.Date(2027, 3, 28, 20, 59, 0, 0, time.UTC)); len(got) != 0 || n != 0 {
		t.Fatalf("21:59 BST stopped %v (proposed %d)", got, n)
	}
	if got, _ := s.enforceAt(t, time.Date(2027, 3, 28, 21, 0, 30, 0, time.UTC)); len(got) != 1 {
		t.Fatalf("22:00 BST (21:00 UTC) stopped %v", got)
	}
	evs, _ := s.svc.ListAudit(ctx, s.admin, AuditFilter{Action: "workstation.auto_stop"})
	if len(evs) != 2 || evs[0].Details["reason"] != "nightly shutdown 22:00 Europe/London" {
		t.Fatalf("audit %+v", evs)
	}
}

func TestServiceIdleStopFollowsDesktops(t *testing.T) {
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	s := newScheduleEnv(t, start)
	ctx := context.Background()
	s.set(t, model.Schedule{IdleStopAfter: time.Hour})
	s.clock.now = start.Add(30 * time.Minute)
	g, err := s.svc.OpenDesktop(ctx, s.bob, s.w.ID, "203.0.113.7")
	if err != nil || g.SessionID == "" {
		t.Fatalf("OpenDesktop = %+v, %v", g, err)
	}
	w, _ := s.svc.GetWorkstation(ctx, s.bob, s.w.ID)
	if len(w.Desktops) != 1 || w.Desktops[0].ID != g.SessionID || w.Desktops[0].UserID != s.bob.UserID {
		t.Fatalf("desktops %+v", w.Desktops)
	}
	// Open for hours: never idle.
	if got, n := s.enforceAt(t, start.Add(5*time.Hour)); len(got) != 0 || n != 0 {
		t.Fatalf("open desktop: stopped %v, proposed %d", got, n)
	}
	if err := s.svc.CloseDesktop(ctx, s.bob, g, 270*time.Minute, "closed tab"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.enforceAt(t, start.Add(5*time.Hour+59*time.Minute)); len(got) != 0 {
		t.Fatalf("59m after the close: stopped %v", got)
	}
	if got, _ := s.enforceAt(t, start.Add(6*time.Hour)); len(got) != 1 {
		t.Fatalf("1h after the close: stopped %v", got)
	}
	for _, a := range []string{"desktop.open", "desktop.close"} {
		evs, _ := s.svc.ListAudit(ctx, s.admin, AuditFilter{Action: a})
		if len(evs) != 1 || evs[0].Actor != s.bob || evs[0].Details["desktop_id"] != g.SessionID {
			t.Fatalf("%s audit %+v", a, evs)
		}
	}
	evs, _ := s.svc.ListAudit(ctx, s.admin, AuditFilter{Action: "workstation.auto_stop"})
	if len(evs) != 1 || evs[0].Details["reason"] != "idle for 1h" {
		t.Fatalf("audit %+v", evs)
	}
}

// A user disabled while their desktop is open: the close is recorded by
// the node, so the lost session does not keep the workstation awake.
func TestServiceCloseDesktopOfDisabledUser(t *testing.T) {
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	s := newScheduleEnv(t, start)
	ctx := context.Background()
	g, err := s.svc.OpenDesktop(ctx, s.bob, s.w.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.svc.SetUserDisabled(ctx, s.admin, s.bob.UserID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.CloseDesktop(ctx, s.bob, g, time.Minute, "disabled"); err != nil {
		t.Fatal(err)
	}
	w, _ := s.st.Workstation(s.w.ID)
	if len(w.Desktops) != 0 {
		t.Fatalf("session still recorded: %+v", w.Desktops)
	}
	evs, _ := s.svc.ListAudit(ctx, s.admin, AuditFilter{Action: "desktop.close"})
	if len(evs) != 1 || evs[0].Actor.NodeID == "" || evs[0].Details["user_id"] != s.bob.UserID {
		t.Fatalf("close audit %+v", evs)
	}
}

// TestScheduleOnRealCluster runs the schedule through real raft nodes: set
// and enforced through a follower, every replica stops the same
// workstation with the same record and audit chain.
func TestScheduleOnRealCluster(t *testing.T) {
	nodes := threeNodes(t)
	ctx := ctxT(t, 60*time.Second)
	var follower *testNode
	for _, n := range nodes {
		if !n.IsLeader() {
			follower = n
			break
		}
	}
	clock := &fakeClock{now: time.Now().UTC()}
	svc := NewService(follower.Node, follower.store, ServiceConfig{NodeID: follower.ID(), Clock: clock.Now, Argon2: testArgon,
		Flavours: map[string]Flavour{"small": {VCPU: 1, MemoryMiB: 1024, DiskGiB: 10}}})
	ann, err := svc.CreateUser(ctx, adminActor, model.CreateUser{Username: "ann", DisplayName: "Ann"}, "ann password 123")
	if err != nil {
		t.Fatal(err)
	}
	owner := model.Actor{UserID: ann.ID}
	now := clock.Now()
	p, err := svc.CreateProject(ctx, adminActor, model.CreateProject{Name: "Study", Slug: "study", ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour), Tier: 1, Quota: model.Quota{VCPU: 2, MemoryMiB: 4096, DiskGiB: 50, Workstations: 2}, Owners: []string{ann.ID}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := svc.RegisterImage(ctx, adminActor, model.Image{Name: "debian", Format: model.FormatQCOW2, SHA256: strings.Repeat("d", 64), Size: 1, Path: "/var/lib/sded/images/d.qcow2"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"ann-1", "ann-2"} {
		w, err := svc.CreateWorkstation(ctx, owner, model.CreateWorkstation{ProjectID: p.ID, Name: name, ImageID: img.ID, Flavour: "small"})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.ReportWorkstation(ctx, w.ID, model.ObservedRunning, ""); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.ID)
	}
	if _, err := svc.SetProjectSchedule(ctx, owner, p.ID, model.Schedule{IdleStopAfter: model.MinIdleStop}); err != nil {
		t.Fatal(err)
	}
	g, err := svc.OpenDesktop(ctx, owner, ids[0], "127.0.0.1") // keeps ann-1 awake
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(model.MinIdleStop + time.Minute)
	got, err := svc.EnforceSchedules(ctx)
	if err != nil || !cmp.Equal(got, ids[1:]) {
		t.Fatalf("EnforceSchedules = %v, %v; want %v", got, err, ids[1:])
	}
	if err := svc.CloseDesktop(ctx, owner, g, time.Minute, "done"); err != nil {
		t.Fatal(err)
	}
	var first []model.Workstation
	for i, n := range nodes {
		if err := n.Barrier(ctx); err != nil {
			t.Fatal(err)
		}
		ws, err := n.store.Workstations(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = ws
		} else if d := cmp.Diff(first, ws); d != "" {
			t.Errorf("%s's workstations differ (-%s +%s):\n%s", n.ID(), nodes[0].ID(), n.ID(), d)
		}
		if _, err := n.store.VerifyAudit(ctx); err != nil {
			t.Errorf("%s: VerifyAudit: %v", n.ID(), err)
		}
	}
	for _, w := range first {
		want := model.DesiredRunning
		if w.ID == ids[1] {
			want = model.DesiredStopped
		}
		if w.Desired != want || len(w.Desktops) != 0 {
			t.Errorf("%s: desired %s, desktops %+v", w.Name, w.Desired, w.Desktops)
		}
	}
}

// A node killed with desktops open: on restart it closes the sessions it
// served (not other nodes'), and the idle clock runs again.
func TestServiceForgetDesktops(t *testing.T) {
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	s := newScheduleEnv(t, start)
	ctx := context.Background()
	s.set(t, model.Schedule{IdleStopAfter: time.Hour})
	if _, err := s.svc.OpenDesktop(ctx, s.bob, s.w.ID, ""); err != nil {
		t.Fatal(err)
	}
	other := model.DesktopActivity{WorkstationID: s.w.ID, SessionID: "elsewhere", Open: true, Node: "node2"}
	if err := s.svc.propose(ctx, model.CmdDesktopActivity, s.bob, other, nil); err != nil {
		t.Fatal(err)
	}
	s.clock.now = start.Add(3 * time.Hour)
	if n, err := s.svc.ForgetDesktops(ctx); err != nil || n != 1 {
		t.Fatalf("ForgetDesktops = %d, %v", n, err)
	}
	w, _ := s.st.Workstation(s.w.ID)
	if len(w.Desktops) != 1 || w.Desktops[0].ID != "elsewhere" {
		t.Fatalf("desktops %+v", w.Desktops)
	}
	if n, err := s.svc.ForgetDesktops(ctx); err != nil || n != 0 {
		t.Fatalf("second ForgetDesktops = %d, %v", n, err)
	}
	// node2's session still keeps it awake; once node2 forgets it too, the
	// idle clock counts from then.
	if got, _ := s.enforceAt(t, start.Add(5*time.Hour)); len(got) != 0 {
		t.Fatalf("stopped %v with node2's desktop open", got)
	}
	svc2 := NewService(s.svcEnv.p, s.st, ServiceConfig{NodeID: "node2", Clock: s.clock.Now, Argon2: testArgon})
	if n, err := svc2.ForgetDesktops(ctx); err != nil || n != 1 {
		t.Fatalf("node2 ForgetDesktops = %d, %v", n, err)
	}
	if got, _ := s.enforceAt(t, start.Add(5*time.Hour+59*time.Minute)); len(got) != 0 {
		t.Fatalf("stopped %v 59m after the last close", got)
	}
	if got, _ := s.enforceAt(t, start.Add(6*time.Hour)); len(got) != 1 {
		t.Fatalf("not stopped an hour after the last close: %v", got)
	}
	evs, _ := s.svc.ListAudit(ctx, s.admin, AuditFilter{Action: "desktop.close"})
	if len(evs) != 2 || evs[0].Details["reason"] != "node restarted" || evs[0].Actor.NodeID != "node2" || evs[0].Details["user_id"] != s.bob.UserID {
		t.Fatalf("close audit %+v", evs)
	}
}
