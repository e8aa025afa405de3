package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sded/sded/cluster/model"
)

// A fresh data directory bootstraps a usable one-node cluster with its own
// CA; reopening it resumes with the state intact and does not bootstrap again.
func TestSingleNodeBootstrapAndRestart(t *testing.T) {
	tn := openNode(t, "solo")
	if !tn.IsLeader() {
		t.Fatal("a fresh single node should lead as soon as Open returns")
	}
	for _, f := range []string{"tls/ca.crt", "tls/ca.key", "tls/node.crt", "tls/node.key", "raft/raft.db", "node-id"} {
		fi, err := os.Stat(filepath.Join(tn.dir, f))
		if err != nil && f != "node-id" {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err == nil && fi.Mode().Perm()&0o077 != 0 && !fi.IsDir() {
			t.Errorf("%s has mode %v, want no group/other access", f, fi.Mode().Perm())
		}
	}
	mustPut(t, tn.Node, "banner", "hello")
	if err := tn.Barrier(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, tn.store, "banner"); got != "hello" {
		t.Fatalf("banner = %q, want hello", got)
	}

	tn.close()
	tn.openStore(t)
	n, err := Open(ctxT(t, 20*time.Second), tn.cfg)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	tn.Node = n
	if err := n.WaitLeader(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, n, "banner", "again")
	if err := n.Barrier(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, tn.store, "banner"); got != "again" {
		t.Fatalf("after restart banner = %q, want again", got)
	}
}

// Writes on followers are forwarded to the leader; linearizable reads on any
// node see them; FSM errors keep their code across the hop; a node restarted
// with its data catches up; a removed node leaves the configuration.
func TestThreeNodes(t *testing.T) {
	nodes := threeNodes(t)
	a, b, c := nodes[0], nodes[1], nodes[2]

	res := mustPut(t, b.Node, "motd", "from-b")
	if res.Index == 0 {
		t.Error("forwarded result has no index")
	}
	for _, n := range nodes {
		if err := n.Barrier(ctxT(t, 5*time.Second)); err != nil {
			t.Fatalf("barrier on %s: %v", n.ID(), err)
		}
		if got := setting(t, n.store, "motd"); got != "from-b" {
			t.Errorf("%s: motd = %q after barrier, want from-b", n.ID(), got)
		}
	}

	// The same request ID applied twice (a retry after an unknown outcome)
	// returns the first result.
	cmd := putSetting("dedup", "1", adminActor)
	r1, err := c.Propose(ctxT(t, 5*time.Second), cmd)
	if err != nil || r1.Err != nil {
		t.Fatalf("first propose: %v %v", err, r1.Err)
	}
	r2, err := b.Propose(ctxT(t, 5*time.Second), cmd)
	if err != nil || r2.Err != nil {
		t.Fatalf("retried propose: %v %v", err, r2.Err)
	}
	if r1.Index != r2.Index {
		t.Errorf("retry applied again: first index %d, retry index %d", r1.Index, r2.Index)
	}

	// FSM errors arrive intact from a follower.
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, setup := range tc.setup {
				if res, err := a.Propose(ctxT(t, 5*time.Second), setup); err != nil || res.Err != nil {
					t.Fatalf("setup: %v %v", err, res.Err)
				}
			}
			for _, n := range []*testNode{a, b} {
				res, err := n.Propose(ctxT(t, 5*time.Second), tc.cmd())
				if err != nil {
					t.Fatalf("on %s: transport error %v", n.ID(), err)
				}
				if res.Err == nil || res.Err.Code != tc.code {
					t.Errorf("on %s (leader=%v): got %v, want code %s", n.ID(), n.IsLeader(), res.Err, tc.code)
				}
			}
		})
	}

	// c restarts with its data, on a new address, and catches up with a write
	// made meanwhile.
	c.close()
	mustPut(t, a.Node, "while-down", "yes")
	c.openStore(t)
	c.cfg.BindAddr, c.cfg.AdvertiseAddr = freeAddr(t), ""
	n, err := Open(ctxT(t, 20*time.Second), c.cfg)
	if err != nil {
		t.Fatalf("restarting c: %v", err)
	}
	c.Node = n
	if err := n.Barrier(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, c.store, "while-down"); got != "yes" {
		t.Errorf("restarted c: while-down = %q", got)
	}
	cf := a.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	for _, s := range cf.Configuration().Servers {
		if s.ID == "c" && string(s.Address) != c.cfg.BindAddr {
			t.Errorf("c's address in the configuration: %s, want %s", s.Address, c.cfg.BindAddr)
		}
	}

	// The leader records the members in the state.
	waitNodes(t, b, "a", "b", "c")

	// Status lists all three, reachable.
	st, err := b.Status(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Peers) != 3 || st.LeaderID != "a" {
		t.Errorf("status: %+v", st)
	}
	for _, p := range st.Peers {
		if !p.Reachable {
			t.Errorf("peer %s unreachable: %s", p.ID, p.Err)
		}
	}

	// Removing c (asked on follower b) shrinks the configuration.
	if err := b.RemoveNode(ctxT(t, 10*time.Second), "c"); err != nil {
		t.Fatal(err)
	}
	cf = a.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	if got := len(cf.Configuration().Servers); got != 2 {
		t.Errorf("after removal %d servers, want 2", got)
	}
	if err := b.RemoveNode(ctxT(t, 10*time.Second), "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("removing an unknown node: %v, want not_found", err)
	}
	mustPut(t, b.Node, "after-removal", "ok")
	waitNodes(t, b, "a", "b")

	// The removed c still holds a valid certificate; once its join window has
	// passed it cannot add itself back.
	selfAddWindow = time.Nanosecond
	err = c.rpc.call(ctxT(t, 5*time.Second), b.Addr(), "addvoter", addVoterRequest{ID: "c", Addr: c.Addr()}, nil)
	selfAddWindow = time.Hour
	if !errors.Is(err, model.ErrForbidden) {
		t.Errorf("removed node re-adding itself: %v, want forbidden", err)
	}

	// c, wiped, joins again under the same ID with a new token.
	c.close()
	os.RemoveAll(c.dir)
	c2 := joinNode(t, a, "c")
	if err := c2.Barrier(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, c2.store, "after-removal"); got != "ok" {
		t.Errorf("rejoined c: after-removal = %q", got)
	}
}

// A killed leader is replaced and proposals retried through the new one.
func TestLeaderFailover(t *testing.T) {
	nodes := threeNodes(t)
	a, b := nodes[0], nodes[1]
	mustPut(t, b.Node, "k", "1")
	a.close()
	start := time.Now()
	mustPut(t, b.Node, "k", "2") // retries until b or c leads
	t.Logf("write after leader stop took %s", time.Since(start))
	if err := b.Barrier(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, b.store, "k"); got != "2" {
		t.Errorf("k = %q", got)
	}
}

// A node whose raft log is corrupt refuses to start and says why.
func TestCorruptRaftLogRefusesToStart(t *testing.T) {
	tn := openNode(t, "corrupt")
	for i := range 50 {
		mustPut(t, tn.Node, "k", strings.Repeat("x", i))
	}
	tn.close()
	path := filepath.Join(tn.dir, "raft", "raft.db")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	// Overwrite every page after the two meta pages with garbage.
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
	for off := int64(8192); off < fi.Size(); off += int64(len(garbage)) {
		f.WriteAt(garbage, off)
	}
	f.Close()
	tn.openStore(t)
	_, err = Open(ctxT(t, 10*time.Second), tn.cfg)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("opening a corrupt log: %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "raft.db") {
		t.Errorf("error does not name the file: %v", err)
	}
}

// A node whose newest snapshot is damaged refuses to start.
func TestCorruptSnapshotRefusesToStart(t *testing.T) {
	tn := openNode(t, "snap")
	mustPut(t, tn.Node, "k", "v")
	if err := tn.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	tn.close()
	snaps, _ := filepath.Glob(filepath.Join(tn.dir, "raft", "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot written")
	}
	b, _ := os.ReadFile(snaps[0])
	b[len(b)/2] ^= 0xff
	os.WriteFile(snaps[0], b, 0o600)
	tn.openStore(t)
	_, err := Open(ctxT(t, 10*time.Second), tn.cfg)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("opening with a corrupt snapshot: %v, want ErrCorrupt", err)
	}
}

// The tracked FSM is what raft sees; compile-time check of the wrappers.
var _ raft.FSM = (*trackedFSM)(nil)

// Init creates the CA once; a node that joined but lost its raft state
// refuses to found a cluster of its own.
func TestInitAndLostJoinState(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, BindAddr: "127.0.0.1:1", Logger: testLogger(t)}
	id, err := Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "node-id")); strings.TrimSpace(string(b)) != id {
		t.Errorf("node-id file %q, Init said %q", b, id)
	}
	if _, err := Init(cfg); err == nil {
		t.Error("second Init succeeded")
	}

	a := openNode(t, "a")
	b := joinNode(t, a, "b")
	b.close()
	os.RemoveAll(filepath.Join(b.dir, "raft"))
	b.openStore(t)
	_, err = Open(ctxT(t, 5*time.Second), b.cfg)
	if err == nil || !strings.Contains(err.Error(), "join again") {
		t.Errorf("open of a joined node without raft state: %v", err)
	}
}

// waitNodes waits until n's replica records exactly the given members.
func waitNodes(t *testing.T, n *testNode, want ...string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		nodes, err := n.store.Nodes()
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, m := range nodes {
			got = append(got, m.ID)
		}
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
	}
	t.Errorf("recorded nodes %q, want %q", got, want)
}

// The state file is derived data: a node whose state.db was removed rebuilds
// it from the newest snapshot and the raft log on start.
func TestLostStateFileRebuilt(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(map[bool]string{false: "log only", true: "snapshot and log"}[snapshot], func(t *testing.T) {
			tn := openNode(t, "s")
			mustPut(t, tn.Node, "before", "1")
			if snapshot {
				if err := tn.raft.Snapshot().Error(); err != nil {
					t.Fatal(err)
				}
			}
			mustPut(t, tn.Node, "after", "2")
			tn.close()
			if err := os.Remove(filepath.Join(tn.dir, "state.db")); err != nil {
				t.Fatal(err)
			}
			tn.openStore(t)
			n, err := Open(ctxT(t, 20*time.Second), tn.cfg)
			if err != nil {
				t.Fatal(err)
			}
			tn.Node = n
			if err := n.Barrier(ctxT(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"before": "1", "after": "2"} {
				if got := setting(t, tn.store, k); got != want {
					t.Errorf("%s = %q after rebuild, want %q", k, got, want)
				}
			}
		})
	}
}

// Small refusals on a single node: removing the last voter, proposing with a
// context that has ended, an unknown member, a bad join token lifetime.
func TestSingleNodeRefusals(t *testing.T) {
	tn := openNode(t, "one")
	if err := tn.RemoveNode(ctxT(t, 5*time.Second), "one"); !errors.Is(err, model.ErrConflict) {
		t.Errorf("removing the last voter: %v, want conflict", err)
	}
	if err := tn.RemoveNode(ctxT(t, 5*time.Second), "ghost"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("removing an unknown node: %v, want not_found", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tn.Propose(ctx, putSetting("k", "v", adminActor)); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("propose with an ended context: %v, want unavailable", err)
	}
	if err := tn.Barrier(ctx); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("barrier with an ended context: %v, want unavailable", err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		if _, err := tn.CreateJoinToken(ctxT(t, time.Second), ttl); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("token lifetime %s: %v, want invalid", ttl, err)
		}
	}
	// A command without a request ID still gets one, so retries stay safe.
	cmd := putSetting("norid", "1", adminActor)
	cmd.RequestID = ""
	if res, err := tn.Propose(ctxT(t, 5*time.Second), cmd); err != nil || res.Err != nil {
		t.Errorf("propose without a request ID: %v %v", err, res.Err)
	}
}
