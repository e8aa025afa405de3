package fsm

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// TestBatchingMatchesApply: the same random log (refusals included) fed
// entry by entry and in batches of various sizes ends in the same contents
// and the same per-entry results.
func TestBatchingMatchesApply(t *testing.T) {
	log := randomLog(5, 160)
	ref := newHarness(t)
	ref.world()
	base := ref.index
	var want []Result
	for i, b := range log {
		want = append(want, ref.fsm.Apply(&raft.Log{Index: base + uint64(i) + 1, Type: raft.LogCommand, Data: b}).(Result))
	}
	wantDump := dump(t, snapshotBytes(t, ref))
	for _, size := range []int{1, 3, 16, 64} {
		h := newHarness(t)
		h.world()
		bf := NewBatching(h.fsm)
		var got []Result
		for start := 0; start < len(log); start += size {
			var batch []*raft.Log
			for i := start; i < min(start+size, len(log)); i++ {
				batch = append(batch, &raft.Log{Index: base + uint64(i) + 1, Type: raft.LogCommand, Data: log[i]})
				if i%7 == 0 { // configuration entries are passed through and ignored
					batch = append(batch, &raft.Log{Index: 0, Type: raft.LogConfiguration})
				}
			}
			for _, r := range bf.ApplyBatch(batch) {
				if r != nil {
					got = append(got, r.(Result))
				}
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("batch size %d: results differ (-apply +batch):\n%s", size, d)
		}
		if d := cmp.Diff(wantDump, dump(t, snapshotBytes(t, h))); d != "" {
			t.Fatalf("batch size %d: contents differ:\n%s", size, d)
		}
		// Replayed after a restart, the batches change nothing.
		var batch []*raft.Log
		for i := range log {
			batch = append(batch, &raft.Log{Index: base + uint64(i) + 1, Type: raft.LogCommand, Data: log[i]})
		}
		for _, r := range bf.ApplyBatch(batch) {
			if res := r.(Result); res.Err != nil || res.Value != nil {
				t.Fatalf("replayed entry %d gave %+v", res.Index, res)
			}
		}
		if d := cmp.Diff(wantDump, dump(t, snapshotBytes(t, h))); d != "" {
			t.Fatalf("batch size %d: replay changed the contents:\n%s", size, d)
		}
	}
}

// BenchmarkApplyBatch compares entry-by-entry Apply with batches of 64 (what
// raft hands over under load) on the same disk, as a ratio: for writes that
// all succeed, and for the random log (about half refused, each refusal
// costing the batch a rollback and two more transactions).
func BenchmarkApplyBatch(b *testing.B) {
	var writes [][]byte
	for i := 0; i < 256; i++ {
		c, _ := model.NewCommand(model.CmdPutSetting, fmt.Sprintf("w%d", i), user("root"), t0.Add(time.Hour+time.Duration(i)*time.Second), model.PutSetting{Key: fmt.Sprintf("k%d", i%8), Value: "v"})
		e, _ := Encode(c)
		writes = append(writes, e)
	}
	for _, w := range []struct {
		name string
		log  [][]byte
	}{{"successful writes", writes}, {"random log", randomLog(11, 256)}} {
		one, many := applyRate(b, w.log, 1), applyRate(b, w.log, 64)
		b.ReportMetric(many/one, "batch/apply-"+strings.ReplaceAll(w.name, " ", "-"))
		b.Logf("%s: entry by entry %.0f/s, batches of 64 %.0f/s: %.1f×", w.name, one, many, many/one)
	}
}

func applyRate(b *testing.B, log [][]byte, batch int) float64 {
	st, err := state.Open(filepath.Join(b.TempDir(), "s.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := &harness{t: &testing.T{}, st: st, fsm: New(st, nil, nil), now: t0}
	h.world()
	base := h.index
	bf := NewBatching(h.fsm)
	start := nowFunc()
	for s := 0; s < len(log); s += batch {
		var ls []*raft.Log
		for i := s; i < min(s+batch, len(log)); i++ {
			ls = append(ls, &raft.Log{Index: base + uint64(i) + 1, Type: raft.LogCommand, Data: log[i]})
		}
		if batch == 1 {
			h.fsm.Apply(ls[0])
		} else {
			bf.ApplyBatch(ls)
		}
	}
	return float64(len(log)) / nowFunc().Sub(start).Seconds()
}
