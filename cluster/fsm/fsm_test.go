package fsm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
	bolt "go.etcd.io/bbolt"
)

func TestEveryCommandHasAHandler(t *testing.T) {
	for _, c := range model.CommandTypes() {
		if handlers[c] == nil {
			t.Errorf("command %s has no handler", c)
		}
	}
	if len(handlers) != len(model.CommandTypes()) {
		t.Errorf("%d handlers for %d commands", len(handlers), len(model.CommandTypes()))
	}
}

func TestCodecRoundTrip(t *testing.T) {
	c, _ := model.NewCommand(model.CmdPutSetting, "req-1", user("u1"), t0, model.PutSetting{Key: "login.banner", Value: "hi"})
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != byte(model.CmdPutSetting) {
		t.Errorf("type byte %d", b[0])
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}

// TestDecodeBadInput: every kind of malformed entry is refused with a
// *model.Error (too_large for oversize, invalid otherwise).
func TestDecodeBadInput(t *testing.T) {
	good, _ := Encode(model.Command{Type: model.CmdPutSetting, Actor: user("u1"), Time: t0, Payload: json.RawMessage(`{}`)})
	tests := []struct {
		name string
		b    []byte
		code model.ErrorCode
	}{
		{"empty", nil, model.CodeInvalid},
		{"type only", []byte{byte(model.CmdPutSetting)}, model.CodeInvalid},
		{"unknown type", append([]byte{0}, good[1:]...), model.CodeInvalid},
		{"type 255", append([]byte{255}, good[1:]...), model.CodeInvalid},
		{"not json", append([]byte{1}, "hello"...), model.CodeInvalid},
		{"truncated json", good[:len(good)/2], model.CodeInvalid},
		{"unknown field", append([]byte{1}, `{"actor":{"user_id":"u1"},"time":"2026-11-22T09:00:00Z","admin":true}`...), model.CodeInvalid},
		{"trailing data", append(bytes.TrimSpace(good), `{}`...), model.CodeInvalid},
		{"no actor", append([]byte{1}, `{"time":"2026-11-22T09:00:00Z"}`...), model.CodeUnauthenticated},
		{"bad time", append([]byte{1}, `{"actor":{"user_id":"u1"},"time":"yesterday"}`...), model.CodeInvalid},
		{"no time", append([]byte{1}, `{"actor":{"user_id":"u1"}}`...), model.CodeInvalid},
		{"oversize", append([]byte{1}, bytes.Repeat([]byte(" "), MaxCommandSize)...), model.CodeTooLarge},
		{"long request id", append([]byte{1}, `{"request_id":"`+strings.Repeat("r", 65)+`","actor":{"user_id":"u1"},"time":"2026-11-22T09:00:00Z"}`...), model.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.b)
			if model.CodeOf(err) != tt.code {
				t.Errorf("Decode = %v, want code %s", err, tt.code)
			}
		})
	}
	// Encode refuses what Decode would.
	if _, err := Encode(model.Command{Type: model.CmdPutSetting, Actor: user("u1"), Time: t0, Payload: bytes.Repeat([]byte("1"), MaxCommandSize+1)}); model.CodeOf(err) != model.CodeTooLarge {
		t.Errorf("Encode oversize = %v", err)
	}
	if _, err := Encode(model.Command{Type: 0, Actor: user("u1"), Time: t0}); model.CodeOf(err) != model.CodeInvalid {
		t.Errorf("Encode unknown type = %v", err)
	}
	if _, err := Encode(model.Command{Type: 1, Actor: user("u1"), Time: t0, Payload: json.RawMessage("{")}); model.CodeOf(err) != model.CodeInvalid {
		t.Errorf("Encode bad payload = %v", err)
	}
}

// TestMalformedEntriesConsumeIndexAndAreAudited: a malformed entry changes
// nothing but the applied index and one failure audit event.
func TestMalformedEntriesConsumeIndexAndAreAudited(t *testing.T) {
	h := newHarness(t)
	for i, data := range [][]byte{nil, []byte{0}, []byte("\x01{"), bytes.Repeat([]byte("x"), MaxCommandSize+10)} {
		r := h.raw(data)
		if r.Err == nil || r.Index != h.index {
			t.Fatalf("entry %d: %+v", i, r)
		}
		if got := h.st.AppliedIndex(); got != h.index {
			t.Errorf("applied index %d, want %d", got, h.index)
		}
		e := h.lastAudit()
		if e.Outcome != model.OutcomeFailure || e.Action != "command.malformed" || e.Index != h.index {
			t.Errorf("audit for malformed entry: %+v", e)
		}
	}
	if n, err := h.st.VerifyAudit(context.Background()); err != nil || n != 4 {
		t.Errorf("VerifyAudit = %d, %v", n, err)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, h.applied); diff != "" {
		t.Errorf("onApply calls (-want +got):\n%s", diff)
	}
}

func TestAppliedIndexSkipped(t *testing.T) {
	h := newHarness(t)
	h.world()
	before := h.auditCount()
	c, _ := model.NewCommand(model.CmdPutSetting, "", user("root"), t0, model.PutSetting{Key: "a", Value: "b"})
	b, _ := Encode(c)
	r := h.fsm.Apply(&raft.Log{Index: 3, Data: b}).(Result)
	if r.Err != nil || r.Value != nil {
		t.Errorf("old index: %+v", r)
	}
	if _, err := h.st.GetSetting("a"); model.CodeOf(err) != model.CodeNotFound {
		t.Error("an already-applied index was applied again")
	}
	if h.auditCount() != before {
		t.Error("skipped entry was audited")
	}
}

func TestIdempotentRequestID(t *testing.T) {
	h := newHarness(t)
	h.world()
	admin := user("root")
	p := model.CreateUser{ID: "zed", Username: "zed", DisplayName: "Zed"}
	r1 := h.cmdReq("req-42", model.CmdCreateUser, admin, p)
	n := h.auditCount()
	r2 := h.cmdReq("req-42", model.CmdCreateUser, admin, p)
	if r1.Err != nil || r2.Err != nil {
		t.Fatalf("results %v %v", r1.Err, r2.Err)
	}
	if d := cmp.Diff(r1, r2); d != "" {
		t.Errorf("same request ID, different result (-first +second):\n%s", d)
	}
	if h.auditCount() != n {
		t.Error("a repeated request was audited (applied) again")
	}
	if h.st.AppliedIndex() != h.index {
		t.Error("a repeated request did not consume its index")
	}
	// Errors are remembered too.
	e1 := h.cmdReq("req-43", model.CmdCreateUser, user("bob"), p)
	e2 := h.cmdReq("req-43", model.CmdCreateUser, user("bob"), p)
	if e1.Err == nil || cmp.Diff(e1, e2) != "" {
		t.Errorf("error results differ: %+v %+v", e1, e2)
	}
	// Another actor's request ID is a different request.
	r3 := h.cmdReq("req-42", model.CmdCreateUser, user("bob"), model.CreateUser{ID: "zoe", Username: "zoe", DisplayName: "Zoe"})
	if r3.Err == nil || r3.Err.Code != model.CodeForbidden {
		t.Errorf("another actor reusing a request ID got %+v", r3)
	}
}

// TestRefusalsAreAuditedAndChangeNothing walks one refusal of each kind.
func TestRefusalsAreAuditedAndChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.world()
	tests := []struct {
		name    string
		t       model.CommandType
		a       model.Actor
		p       any
		code    model.ErrorCode
		outcome model.Outcome
	}{
		{"researcher creates user", model.CmdCreateUser, user("bob"), model.CreateUser{ID: "x", Username: "xx", DisplayName: "X"}, model.CodeForbidden, model.OutcomeDenied},
		{"unknown actor", model.CmdPutSetting, user("ghost"), model.PutSetting{Key: "a", Value: "b"}, model.CodeUnauthenticated, model.OutcomeDenied},
		{"bad payload", model.CmdCreateUser, user("root"), model.CreateUser{ID: "x", Username: "X Y", DisplayName: "X"}, model.CodeInvalid, model.OutcomeFailure},
		{"payload of another type", model.CmdCreateUser, user("root"), map[string]any{"key": "x"}, model.CodeInvalid, model.OutcomeFailure},
		{"duplicate username", model.CmdCreateUser, user("root"), model.CreateUser{ID: "ann2", Username: "ann", DisplayName: "X"}, model.CodeAlreadyExists, model.OutcomeFailure},
		{"duplicate slug", model.CmdCreateProject, user("root"), project("p9", "study-one", "ann"), model.CodeAlreadyExists, model.OutcomeFailure},
		{"missing project", model.CmdAddMember, user("root"), model.AddMember{ProjectID: "nope", UserID: "bob", Role: model.RoleResearcher}, model.CodeNotFound, model.OutcomeFailure},
		{"owner of other project adds member", model.CmdAddMember, user("eve"), model.AddMember{ProjectID: "p1", UserID: "eve", Role: model.RoleOwner}, model.CodeForbidden, model.OutcomeDenied},
		{"user forges system action", model.CmdReportWorkstation, user("root"), model.ReportWorkstation{ID: "w1", State: model.ObservedRunning}, model.CodeNotFound, model.OutcomeFailure},
		{"system creates admin while one exists", model.CmdCreateUser, sys, model.CreateUser{ID: "x", Username: "xx", DisplayName: "X", Admin: true}, model.CodeForbidden, model.OutcomeDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sn := snapshotBytes(t, h)
			auditBefore := h.auditCount()
			r := h.cmd(tt.t, tt.a, tt.p)
			if r.Err == nil || r.Err.Code != tt.code {
				t.Fatalf("got %v, want %s", r.Err, tt.code)
			}
			e := h.lastAudit()
			if h.auditCount() != auditBefore+1 || e.Outcome != tt.outcome || e.Action != tt.t.String() || e.Details["error_code"] != string(tt.code) {
				t.Errorf("audit: %d new events, last %+v", h.auditCount()-auditBefore, e)
			}
			if h.st.AppliedIndex() != h.index {
				t.Error("refusal did not consume the index")
			}
			_ = sn
		})
	}
	if _, err := h.st.VerifyAudit(context.Background()); err != nil {
		t.Error(err)
	}
}

func snapshotBytes(t *testing.T, h *harness) []byte {
	t.Helper()
	sn, err := h.st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHandlerPanicIsARefusal(t *testing.T) {
	h := newHarness(t)
	h.world()
	orig := handlers[model.CmdPutSetting]
	handlers[model.CmdPutSetting] = func(c *applyCtx) (any, error) {
		c.tx.PutSetting(model.Setting{Key: "half", Value: "done"})
		panic("bug")
	}
	defer func() { handlers[model.CmdPutSetting] = orig }()
	r := h.cmd(model.CmdPutSetting, user("root"), model.PutSetting{Key: "a", Value: "b"})
	if r.Err == nil || r.Err.Code != model.CodeInternal {
		t.Fatalf("panicking handler: %+v", r)
	}
	if _, err := h.st.GetSetting("half"); model.CodeOf(err) != model.CodeNotFound {
		t.Error("a panicking handler's partial write survived")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"))
	store := raft.NewInmemSnapshotStore()
	snap, err := h.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := store.Create(raft.SnapshotVersionMax, h.index, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Writes go on while the snapshot is persisted (as raft does it).
	done := make(chan error, 1)
	go func() { done <- snap.Persist(sink) }()
	h.ok(model.CmdPutSetting, user("root"), model.PutSetting{Key: "after", Value: "snapshot"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snap.Release()
	metas, _ := store.List()
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t)
	if err := h2.fsm.Restore(rc); err != nil {
		t.Fatal(err)
	}
	if got := h2.st.AppliedIndex(); got != h.index-1 {
		t.Errorf("restored applied index %d, want %d", got, h.index-1)
	}
	if _, err := h2.st.GetSetting("after"); model.CodeOf(err) != model.CodeNotFound {
		t.Error("snapshot holds a write made after it was taken")
	}
	w, err := h2.st.Workstation("w1")
	if err != nil || w.IP != "10.64.1.10" {
		t.Errorf("restored workstation %+v %v", w, err)
	}
	if n, err := h2.st.VerifyAudit(context.Background()); err != nil || n == 0 {
		t.Errorf("restored audit %d %v", n, err)
	}
	if len(h2.applied) != 1 {
		t.Error("restore did not call onApply")
	}
	// A corrupt snapshot is refused and the state kept.
	if err := h2.fsm.Restore(nopCloser{strings.NewReader("garbage")}); err == nil {
		t.Error("garbage snapshot restored")
	}
	if _, err := h2.st.Workstation("w1"); err != nil {
		t.Errorf("state lost after refused restore: %v", err)
	}
}

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// TestDeterminism: two FSMs fed the same log end with identical contents:
// every bucket, key and value byte for byte. (The files themselves differ in
// the unused tails of pages, which bbolt fills from recycled buffers.)
func TestDeterminism(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	for _, x := range []*harness{a, b} {
		x.world()
		script(x)
	}
	da, db := dump(t, snapshotBytes(t, a)), dump(t, snapshotBytes(t, b))
	if len(da) < 50 {
		t.Fatalf("dump too small: %d entries", len(da))
	}
	if d := cmp.Diff(da, db); d != "" {
		t.Fatalf("two replicas fed the same log differ (-a +b):\n%s", d)
	}
	evA, _ := a.st.AuditEvents(0, 1<<20)
	evB, _ := b.st.AuditEvents(0, 1<<20)
	if d := cmp.Diff(evA, evB); d != "" {
		t.Errorf("audit logs differ:\n%s", d)
	}
}

// script is a mixed workload, including refusals.
func script(h *harness) {
	h.cmd(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"))
	h.cmd(model.CmdCreateWorkstation, user("cat"), ws("w2", "p1", "cat-1"))
	h.cmd(model.CmdSetWorkstationRun, user("cat"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredStopped})
	h.cmd(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w1", State: model.ObservedRunning})
	h.cmd(model.CmdLoginFailed, sys, model.LoginFailed{UserID: "bob", Reason: "bad password"})
	h.cmd(model.CmdCreateAirlock, user("bob"), model.CreateAirlock{ID: "a1", ProjectID: "p1", Direction: model.AirlockExport, Title: "t", RequiredApprovals: 2})
	h.cmd(model.CmdSuspendProject, user("root"), model.ProjectStateChange{ID: "p1", Reason: "audit"})
	h.cmd(model.CmdArchiveProject, user("root"), model.ProjectStateChange{ID: "p2"})
}

func TestOnApplyAndTime(t *testing.T) {
	h := newHarness(t)
	h.world()
	var s model.Setting
	h.ok(model.CmdPutSetting, user("root"), model.PutSetting{Key: "login.banner", Value: "Authorised use only"}, &s)
	// The FSM takes time from the command, never the clock.
	if !s.UpdatedAt.Equal(h.now) || s.UpdatedBy != "root" {
		t.Errorf("setting %+v", s)
	}
	got, err := h.st.GetSetting("login.banner")
	if err != nil || got.Value != "Authorised use only" {
		t.Errorf("GetSetting = %+v %v", got, err)
	}
	if h.applied[len(h.applied)-1] != h.index {
		t.Error("onApply not called with the index")
	}
}

var _ = state.GenesisHash

// dump lists every bucket/key=value of a bbolt file image.
func dump(t *testing.T, image []byte) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dump.db")
	if err := os.WriteFile(p, image, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				out = append(out, fmt.Sprintf("%s/%q=%s", name, k, v))
				return nil
			})
		})
	})
	return out
}

func TestRefusalNamesTheObject(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"))
	h.fail(model.CodeForbidden, model.CmdSetWorkstationRun, user("cat"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredStopped})
	e := h.lastAudit()
	if e.Object != "workstation/w1" || e.ProjectID != "p1" || e.Outcome != model.OutcomeDenied || e.Actor.UserID != "cat" {
		t.Errorf("denied event %+v", e)
	}
}
