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

// BenchmarkApply measures FSM.Apply of a setting write (decode, actor and
// policy check, mutation, hash-chained audit event, request-ID result,
// applied index: one bbolt transaction, not fsynced: see cluster/state)
// beside a raw bbolt Update+fsync putting the same value on the same disk,
// as a ratio.
func BenchmarkApply(b *testing.B) {
	const n = 300
	h := newHarness(&testing.T{})
	defer h.st.Close()
	h.ok(model.CmdCreateUser, sys, model.CreateUser{ID: "root", Username: "root", DisplayName: "Root", Admin: true})
	entries := make([][]byte, n)
	for i := range entries {
		c, _ := model.NewCommand(model.CmdPutSetting, fmt.Sprintf("r%d", i), user("root"), t0.Add(time.Duration(i)*time.Second), model.PutSetting{Key: "login.banner", Value: fmt.Sprintf("banner %d", i)})
		entries[i], _ = Encode(c)
	}
	start := time.Now()
	for i, data := range entries {
		if r := h.fsm.Apply(&raft.Log{Index: h.index + uint64(i) + 1, Type: raft.LogCommand, Data: data}).(Result); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	sded := time.Since(start) / n

	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start = time.Now()
	for i := 0; i < n; i++ {
		if err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("settings"))
			if err != nil {
				return err
			}
			return bk.Put([]byte("login.banner"), entries[i])
		}); err != nil {
			b.Fatal(err)
		}
	}
	raw := time.Since(start) / n
	b.ReportMetric(float64(sded.Microseconds()), "sded-µs/apply")
	b.ReportMetric(float64(raw.Microseconds()), "raw-µs/update")
	b.ReportMetric(float64(sded)/float64(raw), "sded/raw")
	b.Logf("FSM.Apply %v per entry (%.0f/s) vs raw bbolt Update+fsync %v (%.0f/s): ratio %.2f",
		sded, float64(time.Second)/float64(sded), raw, float64(time.Second)/float64(raw), float64(sded)/float64(raw))
}

var nowFunc = time.Now
