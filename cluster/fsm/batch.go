package fsm

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/state"
)

// Batching is the FSM applying each batch raft hands it in as few bbolt
// transactions (and fsyncs) as possible, for throughput. It is opt-in:
// wrap an *FSM with NewBatching and give that to raft.
//
// Every entry still has exactly the outcome, audit events and request-ID
// result it would have under FSM.Apply, and the applied index moves in the
// same transaction as the entries' effects, so a crash mid-batch replays
// cleanly. What changes is only where transactions end: a run of entries
// that apply shares one transaction. When an entry is refused, that shared
// transaction is rolled back (a handler may have written before refusing),
// the entries before it are applied again in one transaction (they succeed
// as before: same state, same entries), and the refusal is recorded in a
// transaction of its own, as Apply does. The result is the same state,
// byte for byte in content, as applying entry by entry (tested).
type Batching struct{ *FSM }

var _ raft.BatchingFSM = Batching{}

// NewBatching wraps f.
func NewBatching(f *FSM) Batching { return Batching{FSM: f} }

// errRefused ends a shared transaction at a refused entry.
var errRefused = errors.New("entry refused")

// ApplyBatch applies a batch of committed entries (commands and, ignored,
// configuration changes) and returns one response per entry.
func (b Batching) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	var entries []entry
	var pos []int
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		entries = append(entries, decodeEntry(l.Index, l.Data))
		pos = append(pos, i)
	}
	for i := 0; i < len(entries); {
		stop, ref := -1, (*refusal)(nil)
		results := make([]Result, 0, len(entries)-i)
		err := b.st.Update(func(tx *state.Tx) error {
			results = results[:0]
			for j := i; j < len(entries); j++ {
				res, err := b.step(tx, entries[j])
				if errors.As(err, &ref) {
					stop = j
					return errRefused
				}
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRefused) {
			panic(fmt.Sprintf("fsm: cannot apply log batch from index %d: %v", entries[i].index, err))
		}
		if err == nil {
			for k, res := range results {
				out[pos[i+k]] = res
			}
			break
		}
		if stop > i {
			results = results[:0]
			if err := b.st.Update(func(tx *state.Tx) error {
				results = results[:0]
				for j := i; j < stop; j++ {
					res, err := b.step(tx, entries[j])
					if err != nil {
						return err
					}
					results = append(results, res)
				}
				return nil
			}); err != nil {
				panic(fmt.Sprintf("fsm: entries %d-%d applied once but not again: %v", entries[i].index, entries[stop-1].index, err))
			}
			for k, res := range results {
				out[pos[i+k]] = res
			}
		}
		e := entries[stop]
		out[pos[stop]] = b.refuse(e.index, e.cmd, ref.target, ref.err)
		i = stop + 1
	}
	if n := len(logs); n > 0 {
		b.onApply(logs[n-1].Index)
	}
	return out
}
