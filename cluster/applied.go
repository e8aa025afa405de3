package cluster

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/sded/sded/cluster/fsm"
)

// applied tracks the highest log index the local FSM has finished applying, so
// reads can wait for it. raft's own AppliedIndex only says an entry was handed
// to the FSM goroutine, not that the FSM is done with it.
type applied struct {
	mu    sync.Mutex
	index uint64
	ch    chan struct{} // closed and replaced on every change
}

func newApplied(index uint64) *applied {
	return &applied{index: index, ch: make(chan struct{})}
}

func (a *applied) set(index uint64) {
	a.mu.Lock()
	if index > a.index {
		a.index = index
		close(a.ch)
		a.ch = make(chan struct{})
	}
	a.mu.Unlock()
}

// get returns the index and a channel closed at the next change.
func (a *applied) get() (uint64, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.index, a.ch
}

// trackedFSM wraps the state engineer's FSM and records applied indexes.
type trackedFSM struct {
	inner     raft.FSM
	applied   *applied
	afterLoad func() uint64 // the store's applied index after a snapshot restore
}

func (f *trackedFSM) Apply(l *raft.Log) any {
	r := f.inner.Apply(l)
	f.applied.set(l.Index)
	return r
}

func (f *trackedFSM) Snapshot() (raft.FSMSnapshot, error) { return f.inner.Snapshot() }

func (f *trackedFSM) Restore(rc io.ReadCloser) error {
	if err := f.inner.Restore(rc); err != nil {
		return err
	}
	if f.afterLoad != nil {
		f.applied.set(f.afterLoad())
	}
	return nil
}

// trackedBatchingFSM is trackedFSM for an FSM that applies batches.
type trackedBatchingFSM struct {
	trackedFSM
	batch raft.BatchingFSM
}

func (f *trackedBatchingFSM) ApplyBatch(logs []*raft.Log) []any {
	r := f.batch.ApplyBatch(logs)
	if len(logs) > 0 {
		f.applied.set(logs[len(logs)-1].Index)
	}
	return r
}

// wrapFSM tracks inner's applied index. A plain *fsm.FSM is given to raft
// as fsm.Batching, which applies each batch raft commits in one bbolt
// transaction with the same results entry by entry.
func wrapFSM(inner raft.FSM, a *applied, afterLoad func() uint64) raft.FSM {
	if f, ok := inner.(*fsm.FSM); ok {
		inner = fsm.NewBatching(f)
	}
	t := trackedFSM{inner: inner, applied: a, afterLoad: afterLoad}
	if b, ok := inner.(raft.BatchingFSM); ok {
		return &trackedBatchingFSM{trackedFSM: t, batch: b}
	}
	return &t
}
