package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestErrorIsByCode(t *testing.T) {
	err := fmt.Errorf("creating user: %w", FieldError("username", "taken"))
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrForbidden) {
		t.Fatalf("errors.Is by code broken for %v", err)
	}
	if got := AsError(err); got.Field != "username" || got.Code != CodeInvalid {
		t.Errorf("AsError = %+v", got)
	}
	if got := AsError(errors.New("boom")); got.Code != CodeInternal || got.Message != "boom" {
		t.Errorf("AsError(plain) = %+v", got)
	}
	if AsError(nil) != nil || CodeOf(nil) != "" {
		t.Error("nil error must map to nil")
	}
	if got := FieldError("f", "bad").Error(); got != "f: bad" {
		t.Errorf("Error() = %q", got)
	}
	// The JSON form survives a hop between nodes.
	b, _ := json.Marshal(Errorf(CodeConflict, "in use"))
	var back Error
	if err := json.Unmarshal(b, &back); err != nil || !errors.Is(&back, ErrConflict) {
		t.Errorf("round trip: %s %v", b, err)
	}
}

func TestCommandTypesNamedAndStable(t *testing.T) {
	// The numbers are in the raft log: a renumbering breaks replay.
	fixed := map[CommandType]uint8{CmdPutSetting: 1, CmdCreateUser: 10, CmdCreateSession: 21, CmdCreateProject: 30,
		CmdRegisterImage: 40, CmdCreateWorkstation: 50, CmdPutNode: 60, CmdRecordAudit: 70, CmdTransitionAirlock: 85}
	for c, n := range fixed {
		if uint8(c) != n {
			t.Errorf("%s = %d, want %d", c, c, n)
		}
	}
	seen := map[string]bool{}
	for _, c := range CommandTypes() {
		if seen[c.String()] || strings.HasPrefix(c.String(), "command(") {
			t.Errorf("command %d has a bad or duplicate name %q", c, c)
		}
		seen[c.String()] = true
	}
	if CommandType(0).Known() || CommandType(255).Known() {
		t.Error("0 and 255 must be unknown")
	}
}

func TestCommandValidate(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ok := Command{Type: CmdPutSetting, RequestID: "r1", Actor: Actor{UserID: "u1"}, Time: now}
	tests := []struct {
		name string
		mod  func(*Command)
		code ErrorCode
	}{
		{"valid", func(*Command) {}, ""},
		{"unknown type", func(c *Command) { c.Type = 0 }, CodeInvalid},
		{"no actor", func(c *Command) { c.Actor = Actor{} }, CodeUnauthenticated},
		{"bad actor id", func(c *Command) { c.Actor.UserID = "../etc" }, CodeInvalid},
		{"token without user", func(c *Command) { c.Actor = Actor{TokenID: "t", NodeID: "n"} }, CodeInvalid},
		{"long request id", func(c *Command) { c.RequestID = strings.Repeat("x", 65) }, CodeInvalid},
		{"control char in request id", func(c *Command) { c.RequestID = "a\x00b" }, CodeInvalid},
		{"no time", func(c *Command) { c.Time = time.Time{} }, CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			if got := CodeOf(c.Validate()); got != tt.code {
				t.Errorf("Validate() code = %q, want %q (%v)", got, tt.code, c.Validate())
			}
		})
	}
}

func validProject() CreateProject {
	return CreateProject{ID: "p1", Name: "Study", Slug: "study", ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		Tier: 2, Quota: Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 200, Workstations: 4}}
}

func TestPayloadValidate(t *testing.T) {
	sha := strings.Repeat("a", 64)
	long := strings.Repeat("x", MaxNameLen+1)
	tests := []struct {
		name  string
		v     Validator
		field string // "" = valid
	}{
		{"setting ok", PutSetting{Key: "login.banner", Value: "Welcome\nauthorised use only"}, ""},
		{"setting bad key", PutSetting{Key: "Login Banner", Value: "x"}, "key"},
		{"setting huge", PutSetting{Key: "k", Value: strings.Repeat("x", MaxSettingValue+1)}, "value"},
		{"user ok", CreateUser{ID: "u1", Username: "ann", DisplayName: "Ann", Email: "ann@example.org"}, ""},
		{"user bad name", CreateUser{ID: "u1", Username: "Ann Smith", DisplayName: "Ann"}, "username"},
		{"user bidi", CreateUser{ID: "u1", Username: "ann", DisplayName: "Ann\u202etxt.exe"}, "display_name"},
		{"user bad email", CreateUser{ID: "u1", Username: "ann", DisplayName: "Ann", Email: "nope"}, "email"},
		{"user plain password", CreateUser{ID: "u1", Username: "ann", DisplayName: "Ann", PasswordHash: "hunter2"}, "password_hash"},
		{"user long name", CreateUser{ID: "u1", Username: "ann", DisplayName: long}, "display_name"},
		{"totp bad secret", EnrolTOTP{ID: "u1", Secret: "not base32!"}, "secret"},
		{"totp ok", EnrolTOTP{ID: "u1", Secret: "JBSWY3DPEHPK3PXPJBSWY3DP"}, ""},
		{"recovery dup", ConfirmTOTP{ID: "u1", Step: 1, RecoveryCodeHashes: []string{sha, sha}}, "recovery_code_hashes"},
		{"session bad hash", CreateSession{Session: Session{Hash: "x", UserID: "u1", ExpiresAt: time.Now()}}, "hash"},
		{"project ok", validProject(), ""},
		{"project tier", func() CreateProject { p := validProject(); p.Tier = 5; return p }(), "tier"},
		{"project dates", func() CreateProject { p := validProject(); p.ExpiresAt = p.StartsAt; return p }(), "expires_at"},
		{"project quota", func() CreateProject { p := validProject(); p.Quota.VCPU = 0; return p }(), "quota.vcpu"},
		{"project slug", func() CreateProject { p := validProject(); p.Slug = "-x"; return p }(), "slug"},
		{"project egress", func() CreateProject {
			p := validProject()
			p.Network.Egress = []EgressRule{{CIDR: "10.0.0.0/33", Proto: "tcp"}}
			return p
		}(), "egress.cidr"},
		{"member role", AddMember{ProjectID: "p1", UserID: "u1", Role: "god"}, "role"},
		{"image relative path", RegisterImage{Image{ID: "i1", Name: "deb", Format: FormatQCOW2, SHA256: sha, Size: 1, Path: "x.qcow2"}}, "path"},
		{"image dotdot path", RegisterImage{Image{ID: "i1", Name: "deb", Format: FormatQCOW2, SHA256: sha, Size: 1, Path: "/a/../b"}}, "path"},
		{"image format", RegisterImage{Image{ID: "i1", Name: "deb", Format: "vmdk", SHA256: sha, Size: 1, Path: "/a"}}, "format"},
		{"workstation ok", CreateWorkstation{ID: "w1", ProjectID: "p1", Name: "ws", ImageID: "i1", Flavour: "small", VCPU: 2, MemoryMiB: 2048, DiskGiB: 20}, ""},
		{"workstation deleted", CreateWorkstation{ID: "w1", ProjectID: "p1", Name: "ws", ImageID: "i1", Flavour: "small", VCPU: 2, MemoryMiB: 2048, DiskGiB: 20, Desired: DesiredDeleted}, "desired"},
		{"workstation size", CreateWorkstation{ID: "w1", ProjectID: "p1", Name: "ws", ImageID: "i1", Flavour: "small", VCPU: 0, MemoryMiB: 2048, DiskGiB: 20}, "size"},
		{"report state", ReportWorkstation{ID: "w1", State: "exploded"}, "state"},
		{"audit not audit-only", RecordAudit{Action: "project.create", Outcome: OutcomeSuccess}, "action"},
		{"audit ok", RecordAudit{Action: "desktop.open", Outcome: OutcomeSuccess, Details: map[string]string{"workstation_id": "w1"}}, ""},
		{"airlock traversal", AddAirlockFile{RequestID: "a1", Name: "../../etc/passwd", SHA256: sha}, "name"},
		{"airlock hidden", AddAirlockFile{RequestID: "a1", Name: ".bashrc", SHA256: sha}, "name"},
		{"airlock zero width", AddAirlockFile{RequestID: "a1", Name: "out\u200b.csv", SHA256: sha}, "name"},
		{"airlock rtl override", AddAirlockFile{RequestID: "a1", Name: "evil\u202ecsv.exe", SHA256: sha}, "name"},
		{"airlock ok", AddAirlockFile{RequestID: "a1", Name: "table 1 (résumé).csv", Size: 10, SHA256: sha}, ""},
		{"airlock approvals", CreateAirlock{ID: "a1", ProjectID: "p1", Direction: AirlockExport, Title: "t", RequiredApprovals: 0}, "required_approvals"},
		{"airlock record not json", SubmitAirlock{RequestID: "a1", Record: json.RawMessage("{")}, "record"},
		{"airlock vote", VoteAirlock{RequestID: "a1", File: "a.csv", Decision: "maybe"}, "decision"},
		{"airlock transition", TransitionAirlock{RequestID: "a1", To: "limbo"}, "to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Field != tt.field {
				t.Fatalf("Validate() = %#v, want error on field %q", err, tt.field)
			}
		})
	}
}

func TestLockoutBackoff(t *testing.T) {
	got := []time.Duration{}
	for f := 3; f <= 14; f++ {
		got = append(got, LockoutFor(f))
	}
	want := []time.Duration{0, 0, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("LockoutFor (-want +got):\n%s", d)
	}
}

func TestAirlockTransitionTable(t *testing.T) {
	for _, from := range AirlockStates {
		for _, to := range AirlockStates {
			if from == to && CanTransition(from, to) {
				t.Errorf("self transition %s allowed", from)
			}
		}
	}
	terminal := []AirlockState{AirlockRejected, AirlockCancelled, AirlockBlocked, AirlockFailed, AirlockRevoked, AirlockWithdrawn}
	for _, s := range terminal {
		if !s.Terminal() {
			t.Errorf("%s should be terminal", s)
		}
	}
	if CanTransition(AirlockDraft, AirlockApproved) || CanTransition(AirlockReleased, AirlockDraft) || !CanTransition(AirlockReturned, AirlockSubmitted) {
		t.Error("transition table is wrong")
	}
	// Every non-terminal state can reach a terminal one.
	for _, s := range AirlockStates {
		if !s.Terminal() && !reaches(s, map[AirlockState]bool{}) {
			t.Errorf("%s cannot reach a terminal state", s)
		}
	}
}

func reaches(s AirlockState, seen map[AirlockState]bool) bool {
	if s.Terminal() {
		return true
	}
	seen[s] = true
	for _, n := range airlockTransitions[s] {
		if !seen[n] && reaches(n, seen) {
			return true
		}
	}
	return false
}

func TestAuditHashChain(t *testing.T) {
	e := AuditEvent{Seq: 1, Time: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), Actor: Actor{UserID: "u"}, Action: "x", Outcome: OutcomeSuccess,
		Details: map[string]string{"b": "2", "a": "1"}}
	h1 := e.ComputeHash()
	e2 := e
	e2.Details = map[string]string{"a": "1", "b": "2"}
	if e2.ComputeHash() != h1 {
		t.Error("hash depends on map order")
	}
	e2.Time = e.Time.In(time.FixedZone("X", 3600))
	if e2.ComputeHash() != h1 {
		t.Error("hash depends on time zone")
	}
	e2.Details["a"] = "3"
	if e2.ComputeHash() == h1 {
		t.Error("hash ignores details")
	}
	e3 := e
	e3.PrevHash = "00"
	if e3.ComputeHash() == h1 {
		t.Error("hash ignores prev hash")
	}
	if err := (AuditEvent{Action: "x", Details: map[string]string{"password": "x"}}).Validate(); err == nil {
		t.Error("secret-looking detail accepted")
	}
}

func TestSubnetAndMAC(t *testing.T) {
	p, err := SubnetFor(1)
	if err != nil || p.String() != "10.64.1.0/24" {
		t.Errorf("SubnetFor(1) = %v %v", p, err)
	}
	p, _ = SubnetFor(300)
	if p.String() != "10.65.44.0/24" {
		t.Errorf("SubnetFor(300) = %v", p)
	}
	if _, err := SubnetFor(MaxProjects() + 1); err == nil {
		t.Error("pool overflow accepted")
	}
	if ip, _ := HostIP("10.64.1.0/24", 10); ip != "10.64.1.10" {
		t.Errorf("HostIP = %s", ip)
	}
	if m := MACFor(0x010203); m != "52:54:00:01:02:03" {
		t.Errorf("MACFor = %s", m)
	}
}

func TestSessionExpiry(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	s := Session{CreatedAt: t0, LastSeenAt: t0, IdleTimeout: 30 * time.Minute, ExpiresAt: t0.Add(8 * time.Hour)}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{t0.Add(29 * time.Minute), false}, {t0.Add(30 * time.Minute), true}, {t0.Add(9 * time.Hour), true}} {
		if got := s.Expired(c.at); got != c.want {
			t.Errorf("Expired(%v) = %v", c.at, got)
		}
	}
	s.LastSeenAt = t0.Add(7*time.Hour + 50*time.Minute)
	if !s.Expired(t0.Add(8 * time.Hour)) {
		t.Error("absolute timeout ignored")
	}
}

func TestRedacted(t *testing.T) {
	u := User{PasswordHash: "$argon2id$x", TOTPSecret: "ABC", RecoveryCodeHashes: []string{"x"}}.Redacted()
	if u.PasswordHash != "" || u.TOTPSecret != "" || u.RecoveryCodeHashes != nil {
		t.Errorf("Redacted left secrets: %+v", u)
	}
}

func TestSubnetPool(t *testing.T) {
	defer SetSubnetPool(netip.MustParsePrefix("10.64.0.0/10"))
	if err := SetSubnetPool(netip.MustParsePrefix("10.200.0.0/16")); err != nil {
		t.Fatal(err)
	}
	if got, _ := SubnetFor(1); got.String() != "10.200.1.0/24" {
		t.Errorf("SubnetFor(1) = %s", got)
	}
	if got, _ := SubnetFor(255); got.String() != "10.200.255.0/24" {
		t.Errorf("SubnetFor(255) = %s", got)
	}
	if _, err := SubnetFor(256); err == nil {
		t.Error("SubnetFor(256) in a /16 pool succeeded")
	}
	for _, bad := range []string{"fd00::/8", "10.0.0.0/24", "10.0.0.0/7"} {
		if err := SetSubnetPool(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("SetSubnetPool(%s) accepted", bad)
		}
	}
}

func TestSubnetIn(t *testing.T) {
	for _, c := range []struct {
		pool string
		n    uint32
		want string
	}{{"10.64.0.0/10", 1, "10.64.1.0/24"}, {"10.64.0.0/10", 300, "10.65.44.0/24"}, {"192.168.0.0/16", 7, "192.168.7.0/24"}, {"172.16.4.0/22", 3, "172.16.7.0/24"}} {
		got, err := SubnetIn(netip.MustParsePrefix(c.pool), c.n)
		if err != nil || got.String() != c.want {
			t.Errorf("SubnetIn(%s, %d) = %s, %v; want %s", c.pool, c.n, got, err, c.want)
		}
	}
	if _, err := SubnetIn(netip.MustParsePrefix("172.16.4.0/22"), 4); err == nil {
		t.Error("overflow of a /22 pool accepted")
	}
	p := validProject()
	p.Pool = "10.64.0.0/33"
	if err := p.Validate(); err == nil {
		t.Error("bad pool accepted")
	}
	p.Pool = "10.64.1.0/10"
	if err := p.Validate(); err == nil {
		t.Error("unmasked pool accepted")
	}
}
