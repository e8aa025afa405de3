package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The state file is not fsynced per commit (cluster/state: unsynced.go);
// after the machine goes down it is rebuilt from the raft snapshot and log.
// Here every node is killed, each node's state file is marked as open in
// another boot (what a power loss leaves), one node's file is overwritten
// with garbage (pages lost), and the cluster is restarted: every node moves
// its file aside, rebuilds it from its own snapshot and log, and serves
// every acknowledged write, read linearizably from each node.
func TestPowerLossRebuildsState(t *testing.T) {
	c := newLoopbackCluster(t, 3, "-snapshot-threshold", "16")
	const keys = 60
	write := func(from, to int, round string) {
		t.Helper()
		for i := from; i < to; i++ {
			k := fmt.Sprintf("pl%d", i)
			if err := putRetrying(c, k, round+k, "pl-"+round+k, time.Now().Add(15*time.Second)); err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
		}
	}
	write(0, keys, "a-")
	time.Sleep(time.Second) // let each node take a snapshot (every 16 entries, checked every 200 ms)
	for _, p := range c.nodes {
		if snaps, _ := filepath.Glob(filepath.Join(p.dir, "raft", "snapshots", "*")); len(snaps) == 0 {
			t.Errorf("%s took no snapshot: the test would not cover restoring one", p.id)
		}
	}
	write(0, keys/2, "b-") // entries after the snapshot, replayed from the log

	for _, p := range c.nodes {
		p.kill()
		statePath := filepath.Join(p.dir, "state.db")
		if _, err := os.Stat(statePath + ".open"); err != nil {
			t.Fatalf("%s: a killed node left no open marker: %v", p.id, err)
		}
		if err := os.WriteFile(statePath+".open", []byte("00000000-0000-0000-0000-000000000000\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(c.nodes[0].dir, "state.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.nodes {
		p.start()
	}
	for _, p := range c.nodes {
		p.waitReady(t, 30*time.Second)
	}
	for _, p := range c.nodes {
		if _, err := os.Stat(filepath.Join(p.dir, "state.db.unclean")); err != nil {
			t.Errorf("%s did not move its state file aside: %v", p.id, err)
		}
		b, _ := os.ReadFile(p.logPath)
		for _, want := range []string{"rebuilding it from the raft snapshot and log", "state restored from snapshot"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s log does not say %q", p.id, want)
			}
		}
		for i := range keys {
			k := fmt.Sprintf("pl%d", i)
			want := "a-" + k
			if i < keys/2 {
				want = "b-" + k
			}
			var (
				got   string
				found bool
				err   error
			)
			for range 50 {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				got, found, err = p.get(ctx, k, true)
				cancel()
				if err == nil || !isUnavailable(err) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil || !found || got != want {
				t.Errorf("%s: %s = %q (found %v, err %v), want %q", p.id, k, got, found, err, want)
			}
		}
	}
}
