package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// randomLog builds a log of n random commands (many of them refused) over
// the world() fixture, as encoded entries.
func randomLog(seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	people := []string{"root", "ann", "bob", "cat", "olly", "otto", "dan", "eve", "ghost"}
	wss := []string{"w1", "w2", "w3", "w4"}
	now := t0.Add(time.Hour)
	var out [][]byte
	for i := 0; i < n; i++ {
		now = now.Add(time.Duration(rng.IntN(600)) * time.Second)
		var t model.CommandType
		var p any
		op := rng.IntN(10)
		// Mostly someone entitled to the command, sometimes anyone.
		right := [][]string{{"bob", "cat", "ann", "eve"}, {"bob", "cat", "ann"}, {"bob", "cat", "ann"}, {""}, {""}, {"root"}, {"ann", "root"}, {""}, {""}, {"root"}}[op]
		a := user(right[rng.IntN(len(right))])
		if right[0] == "" {
			a = sys
		}
		if rng.IntN(4) == 0 {
			a = user(people[rng.IntN(len(people))])
		}
		switch op {
		case 0:
			t, p = model.CmdCreateWorkstation, ws(wss[rng.IntN(len(wss))], []string{"p1", "p2"}[rng.IntN(2)], fmt.Sprintf("n%d", rng.IntN(5)))
		case 1:
			t, p = model.CmdSetWorkstationRun, model.SetWorkstationRun{ID: wss[rng.IntN(len(wss))], Desired: []model.DesiredState{model.DesiredRunning, model.DesiredStopped}[rng.IntN(2)]}
		case 2:
			t, p = model.CmdDeleteWorkstation, model.DeleteWorkstation{ID: wss[rng.IntN(len(wss))]}
		case 3:
			t, p = model.CmdReportWorkstation, model.ReportWorkstation{ID: wss[rng.IntN(len(wss))], State: []model.ObservedState{model.ObservedRunning, model.ObservedGone, model.ObservedFailed}[rng.IntN(3)]}
		case 4:
			t, p = model.CmdLoginFailed, model.LoginFailed{UserID: people[rng.IntN(8)], Reason: "bad password"}
		case 5:
			t, p = model.CmdPutSetting, model.PutSetting{Key: "k", Value: fmt.Sprint(i)}
		case 6:
			t, p = model.CmdAddMember, model.AddMember{ProjectID: "p1", UserID: people[rng.IntN(8)], Role: model.MemberRoles[rng.IntN(4)]}
		case 7:
			t, p = model.CmdCreateSession, model.CreateSession{Session: model.Session{Hash: sha(fmt.Sprint(rng.IntN(20))), UserID: people[rng.IntN(8)], IdleTimeout: time.Hour, ExpiresAt: now.Add(2 * time.Hour)}}
		case 8:
			t, p = model.CmdExpireSessions, model.ExpireSessions{}
		case 9:
			t, p = []model.CommandType{model.CmdSuspendProject, model.CmdResumeProject}[rng.IntN(2)], model.ProjectStateChange{ID: "p1"}
		}
		c, _ := model.NewCommand(t, fmt.Sprintf("r%d", rng.IntN(n)), a, now, p)
		b, _ := Encode(c)
		out = append(out, b)
	}
	return out
}

func feed(h *harness, log [][]byte, from int) {
	for i := from; i < len(log); i++ {
		h.fsm.Apply(&raft.Log{Index: h.index + uint64(i-from) + 1, Type: raft.LogCommand, Data: log[i]})
	}
	h.index += uint64(len(log) - from)
}

// TestReplicasConverge: replicas fed the same random log, one of them
// restored from another's snapshot half-way, end with the same contents.
func TestReplicasConverge(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		log := randomLog(seed, 150)
		a, b, c := newHarness(t), newHarness(t), newHarness(t)
		for _, h := range []*harness{a, b, c} {
			h.world()
		}
		feed(a, log, 0)
		feed(b, log[:75], 0)
		snap := snapshotBytes(t, b)
		if err := c.fsm.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
			t.Fatal(err)
		}
		c.index = b.index
		feed(b, log, 75)
		feed(c, log, 75)
		da := dump(t, snapshotBytes(t, a))
		if d := cmp.Diff(da, dump(t, snapshotBytes(t, b))); d != "" {
			t.Fatalf("seed %d: replicas differ:\n%s", seed, d)
		}
		if d := cmp.Diff(da, dump(t, snapshotBytes(t, c))); d != "" {
			t.Fatalf("seed %d: restored replica differs:\n%s", seed, d)
		}
	}
}

// TestReplayAfterRestart: after a restart raft replays entries the state
// already holds; they are skipped and nothing changes.
func TestReplayAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, fsm: New(st, nil, nil), now: t0}
	h.world()
	log := randomLog(9, 100)
	feed(h, log, 0)
	before := dump(t, snapshotBytes(t, h))
	st.Close()

	st, err = state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h2 := &harness{t: t, st: st, fsm: New(st, nil, nil), now: t0}
	h2.index = h.index - uint64(len(log))
	feed(h2, log, 0)
	if d := cmp.Diff(before, dump(t, snapshotBytes(t, h2))); d != "" {
		t.Fatalf("replaying applied entries changed the state:\n%s", d)
	}
}
