package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// harness feeds an FSM raft log entries directly, nomad/consul style.
type harness struct {
	t       *testing.T
	st      *state.Store
	fsm     *FSM
	index   uint64
	now     time.Time
	applied []uint64
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, st: st, now: t0}
	h.fsm = New(st, nil, func(i uint64) { h.applied = append(h.applied, i) })
	return h
}

var (
	sys = model.Actor{NodeID: "node1"}
)

func user(id string) model.Actor { return model.Actor{UserID: id} }

// raw applies raw bytes as the next log entry.
func (h *harness) raw(data []byte) Result {
	h.index++
	h.now = h.now.Add(time.Second)
	return h.fsm.Apply(&raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: data}).(Result)
}

// cmd applies a command with a request ID derived from the index.
func (h *harness) cmdReq(reqID string, t model.CommandType, a model.Actor, payload any) Result {
	h.t.Helper()
	c, err := model.NewCommand(t, reqID, a, h.now.Add(time.Second), payload)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := Encode(c)
	if err != nil {
		h.t.Fatalf("encoding %s: %v", t, err)
	}
	return h.raw(b)
}

func (h *harness) cmd(t model.CommandType, a model.Actor, payload any) Result {
	h.t.Helper()
	return h.cmdReq("", t, a, payload)
}

// ok applies a command that must succeed and decodes its value into out.
func (h *harness) ok(t model.CommandType, a model.Actor, payload any, out ...any) {
	h.t.Helper()
	r := h.cmd(t, a, payload)
	if r.Err != nil {
		h.t.Fatalf("%s by %s: %v", t, a, r.Err)
	}
	if len(out) > 0 {
		if err := json.Unmarshal(r.Value, out[0]); err != nil {
			h.t.Fatalf("decoding %s result: %v", t, err)
		}
	}
}

// fail applies a command that must be refused with code.
func (h *harness) fail(code model.ErrorCode, t model.CommandType, a model.Actor, payload any) *model.Error {
	h.t.Helper()
	r := h.cmd(t, a, payload)
	if r.Err == nil || r.Err.Code != code {
		h.t.Fatalf("%s by %s = %v, want %s", t, a, r.Err, code)
	}
	return r.Err
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

const argon = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

// world sets up: admin "root", users ann (owner), bob and cat (researchers),
// olly and otto (output checkers), dan (data manager), eve (no project);
// project p1 with an image; project p2 owned by eve.
func (h *harness) world() {
	h.t.Helper()
	h.ok(model.CmdCreateUser, sys, model.CreateUser{ID: "root", Username: "root", DisplayName: "Root", Admin: true, PasswordHash: argon})
	admin := user("root")
	for _, u := range []string{"ann", "bob", "cat", "olly", "otto", "dan", "eve"} {
		h.ok(model.CmdCreateUser, admin, model.CreateUser{ID: u, Username: u, DisplayName: u, PasswordHash: argon})
	}
	h.ok(model.CmdRegisterImage, admin, model.RegisterImage{Image: model.Image{ID: "img1", Name: "debian", Format: model.FormatQCOW2, SHA256: sha("img"), Size: 1 << 30, Path: "/var/lib/sded/images/debian.qcow2"}})
	h.ok(model.CmdCreateProject, admin, project("p1", "study-one", "ann"))
	h.ok(model.CmdCreateProject, admin, project("p2", "study-two", "eve"))
	for _, m := range []struct {
		u string
		r model.MemberRole
	}{{"bob", model.RoleResearcher}, {"cat", model.RoleResearcher}, {"olly", model.RoleOutputChecker}, {"otto", model.RoleOutputChecker}, {"dan", model.RoleDataManager}} {
		h.ok(model.CmdAddMember, user("ann"), model.AddMember{ProjectID: "p1", UserID: m.u, Role: m.r})
	}
}

func project(id, slug, owner string) model.CreateProject {
	return model.CreateProject{ID: id, Name: "Study " + id, Slug: slug, ApprovalRef: "DAC-" + id, DSARef: "DSA-" + id,
		StartsAt: t0.Add(-24 * time.Hour), ExpiresAt: t0.Add(365 * 24 * time.Hour), Tier: 2,
		Quota: model.Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 200, Workstations: 3}, Owners: []string{owner}}
}

func ws(id, project, name string) model.CreateWorkstation {
	return model.CreateWorkstation{ID: id, ProjectID: project, Name: name, ImageID: "img1", Flavour: "small", VCPU: 2, MemoryMiB: 4096, DiskGiB: 40}
}

// lastAudit returns the newest audit event.
func (h *harness) lastAudit() model.AuditEvent {
	h.t.Helper()
	var e model.AuditEvent
	err := h.st.View(func(tx *state.Tx) error {
		var err error
		e, _, err = tx.LastAudit()
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

func (h *harness) auditCount() int {
	evs, err := h.st.AuditEvents(0, 1<<30)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(evs)
}
