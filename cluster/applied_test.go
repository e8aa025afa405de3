package cluster

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sded/sded/cluster/fsm"
)

// batchFSM is a fake raft.BatchingFSM that counts what it applied.
type batchFSM struct {
	nopFSM
	batches, entries atomic.Int64
}

func (f *batchFSM) ApplyBatch(logs []*raft.Log) []any {
	f.batches.Add(1)
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			f.entries.Add(1)
		}
		out[i] = fsm.Result{Index: l.Index}
	}
	return out
}

// A BatchingFSM is wrapped as one (raft hands it whole batches), results
// come back per entry, and Barrier sees the applied index.
func TestBatchingFSMWrapped(t *testing.T) {
	f := &batchFSM{}
	if _, ok := wrapFSM(f, newApplied(0), nil).(raft.BatchingFSM); !ok {
		t.Fatal("wrapper hides ApplyBatch")
	}
	tn := newConfig(t, "batch")
	tn.cfg.FSM, tn.cfg.Store = f, nil
	n, err := Open(ctxT(t, 20*time.Second), tn.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	t.Cleanup(tn.close)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := n.Propose(ctxT(t, 10*time.Second), putSetting("k", "v", adminActor))
			if err != nil || res.Index == 0 {
				t.Errorf("propose: %+v %v", res, err)
			}
		}()
	}
	wg.Wait()
	if err := n.Barrier(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.applied.get(); got < n.raft.CommitIndex()-1 {
		t.Errorf("applied index %d behind commit index %d", got, n.raft.CommitIndex())
	}
	if f.entries.Load() != 32 {
		t.Errorf("%d entries applied, want 32", f.entries.Load())
	}
	t.Logf("32 concurrent proposals arrived in %d batches", f.batches.Load())
}
