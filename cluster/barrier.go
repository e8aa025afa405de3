package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// Barrier is the fence for a linearizable read: when it returns nil, the local
// replica (Store) reflects every write committed before Barrier was called.
//
// It implements raft's read-index protocol: the leader (asked over the cluster
// RPC when this node follows) confirms it still leads with a heartbeat round
// and answers its commit index; this node then waits until its own FSM has
// applied that index. A new leader first commits a barrier entry in its term,
// so its commit index covers everything earlier leaders committed.
func (n *Node) Barrier(ctx context.Context) error {
	var last error
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		idx, err := n.readIndex(ctx)
		if err == nil {
			return n.waitApplied(ctx, idx)
		}
		if !isRetryable(err) {
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return unavailable("linearizable read: %v (last error: %v)", ctx.Err(), last)
		case <-n.ctx.Done():
			return unavailable("linearizable read: node is shutting down")
		case <-time.After(wait):
		}
	}
}

type readIndexResponse struct {
	Index uint64 `json:"index"`
}

func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	addr, id := n.raft.LeaderWithID()
	switch {
	case addr == "":
		return 0, unavailable("no leader")
	case string(id) == n.id:
		return n.readIndexLocal(ctx)
	}
	var out readIndexResponse
	if err := n.rpc.call(ctx, string(addr), "readindex", struct{}{}, &out); err != nil {
		return 0, err
	}
	return out.Index, nil
}

// readIndexLocal runs on the leader.
func (n *Node) readIndexLocal(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, errNotLeader
	}
	if term := n.raft.CurrentTerm(); n.barrierTerm.Load() != term {
		if err := wait(ctx, n.raft.Barrier(applyTimeout)); err != nil {
			return 0, err
		}
		n.barrierTerm.Store(term)
	}
	idx := n.raft.CommitIndex()
	if err := wait(ctx, n.raft.VerifyLeader()); err != nil {
		return 0, err
	}
	return idx, nil
}

func (n *Node) handleReadIndex(ctx context.Context, _ string, _ json.RawMessage) (any, error) {
	idx, err := n.readIndexLocal(ctx)
	if err != nil {
		return nil, err
	}
	return readIndexResponse{Index: idx}, nil
}

// wait waits for a raft future or ctx, mapping failures to "unavailable".
func wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return unavailableFromRaft(err)
		}
		return nil
	case <-ctx.Done():
		return unavailable("waiting for raft: %v", ctx.Err())
	}
}

// waitApplied waits until the local FSM has applied every command up to idx.
// Entries that never reach the FSM (no-ops, barriers, configuration changes)
// are skipped by looking at the log itself.
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	target := uint64(0)
	for {
		got, changed := n.applied.get()
		if got >= idx {
			return nil
		}
		if target == 0 && n.raft.AppliedIndex() >= idx {
			target = n.lastCommandUpTo(idx, got)
		}
		if target != 0 && got >= target {
			return nil
		}
		if n.raft.AppliedIndex() >= idx && target == 0 {
			return nil // nothing between got and idx reaches the FSM
		}
		select {
		case <-ctx.Done():
			return unavailable("waiting for index %d to apply: %v", idx, ctx.Err())
		case <-n.ctx.Done():
			return unavailable("waiting for index %d to apply: node is shutting down", idx)
		case <-changed:
		case <-t.C:
		}
	}
}

// lastCommandUpTo returns the highest index in (after, idx] holding a command,
// or 0 if there is none. Compacted entries are covered by a snapshot the FSM
// has already restored.
func (n *Node) lastCommandUpTo(idx, after uint64) uint64 {
	for i := idx; i > after; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return 0
			}
			return i // unreadable: be conservative and wait for it
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}
