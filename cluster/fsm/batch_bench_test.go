package fsm

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/model"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkBatchCPU measures the CPU cost per entry of Batching.ApplyBatch
// applying setting writes in batches of 25 (about what raft hands the FSM
// with 64 concurrent writers), beside raw bbolt putting the same bytes, one
// unsynced transaction per batch, like the state file's commits.
func BenchmarkBatchCPU(b *testing.B) {
	const n, batch = 4000, 25
	h := newHarness(&testing.T{})
	defer h.st.Close()
	h.ok(model.CmdCreateUser, sys, model.CreateUser{ID: "root", Username: "root", DisplayName: "Root", Admin: true})
	logs := make([]*raft.Log, n)
	for i := range logs {
		c, _ := model.NewCommand(model.CmdPutSetting, fmt.Sprintf("r%d", i), user("root"), t0.Add(time.Duration(i)*time.Second), model.PutSetting{Key: fmt.Sprintf("k%d", i%50), Value: fmt.Sprint(i)})
		data, _ := Encode(c)
		logs[i] = &raft.Log{Index: h.index + uint64(i) + 1, Term: 1, Type: raft.LogCommand, Data: data}
	}
	bf := NewBatching(h.fsm)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i += batch {
		for _, r := range bf.ApplyBatch(logs[i : i+batch]) {
			if r.(Result).Err != nil {
				b.Fatal(r.(Result).Err)
			}
		}
	}
	sded := time.Since(start) / n
	b.StopTimer()

	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start = time.Now()
	for i := 0; i < n; i += batch {
		if err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("settings"))
			if err != nil {
				return err
			}
			for _, l := range logs[i : i+batch] {
				if err := bk.Put(fmt.Appendf(nil, "k%d", l.Index%50), l.Data); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	raw := time.Since(start) / n
	b.ReportMetric(float64(sded.Microseconds()), "sded-µs/entry")
	b.ReportMetric(float64(raw.Microseconds()), "raw-µs/entry")
	b.ReportMetric(float64(sded)/float64(raw), "sded/raw")
	fmt.Printf("Batching.ApplyBatch (batches of %d) %v per entry vs raw bbolt unsynced put in one tx per batch %v: ratio %.1fx\n",
		batch, sded, raw, float64(sded)/float64(raw))
}
