package cluster

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sded/sded/cluster/fsm"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkStateWrites measures writes through the whole state layer on
// three real nodes (mTLS raft, bbolt log store, the real FSM with its audit
// chain and request-ID table), proposed through a follower, with the FSM
// applying entry by entry and with the opt-in Batching FSM; and the
// Service path (Barrier for the policy check, propose, read-your-write).
// Beside each: a raw bbolt Update+fsync on the same disk, as ratios.
func BenchmarkStateWrites(b *testing.B) {
	for _, batching := range []bool{false, true} {
		nodes := benchCluster(b, batching)
		follower := nodes[1]
		svc := NewService(follower.Node, follower.store, ServiceConfig{NodeID: follower.ID()})
		for _, clients := range []int{1, 64} {
			total := 200
			if clients > 1 {
				total = 2000
			}
			name := fmt.Sprintf("batching=%v/clients=%d", batching, clients)
			b.Run(name, func(b *testing.B) {
				var got, viaSvc, raw benchStats
				for range b.N {
					got = benchDrive(b, clients, total, func(int) error {
						res, err := follower.Propose(ctxT(b, 20*time.Second), putSetting("k", "v", adminActor))
						if err == nil && res.Err != nil {
							err = res.Err
						}
						return err
					})
					viaSvc = benchDrive(b, clients, total/2, func(i int) error {
						_, err := svc.PutSetting(ctxT(b, 20*time.Second), adminActor, "s", fmt.Sprint(i))
						return err
					})
				}
				db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
				if err != nil {
					b.Fatal(err)
				}
				raw = benchDrive(b, clients, total, func(i int) error {
					return db.Update(func(tx *bolt.Tx) error {
						bk, err := tx.CreateBucketIfNotExists([]byte("b"))
						if err != nil {
							return err
						}
						return bk.Put(fmt.Appendf(nil, "%08d", i), []byte("v"))
					})
				})
				db.Close()
				b.ReportMetric(got.p50ms, "p50-ms")
				b.ReportMetric(got.p99ms, "p99-ms")
				b.ReportMetric(got.tput, "writes/s")
				b.ReportMetric(viaSvc.tput, "service-writes/s")
				b.ReportMetric(got.tput/raw.tput, "tput-x-raw")
				fmt.Printf("state writes, 3 nodes, real FSM (batching=%v), via follower, %2d clients: propose p50 %.2fms p99 %.2fms %6.0f w/s | Service.PutSetting p50 %.2fms p99 %.2fms %6.0f w/s | raw bbolt Update+fsync p50 %.2fms %6.0f w/s | propose/raw: p50 %.1fx throughput %.2fx\n",
					batching, clients, got.p50ms, got.p99ms, got.tput, viaSvc.p50ms, viaSvc.p99ms, viaSvc.tput, raw.p50ms, raw.tput, got.p50ms/raw.p50ms, got.tput/raw.tput)
			})
		}
		for _, n := range nodes {
			n.close()
		}
	}
}

func benchCluster(b *testing.B, batching bool) []*testNode {
	b.Helper()
	var nodes []*testNode
	for _, id := range []string{"a", "b", "c"} {
		tn := newConfig(b, id)
		if batching {
			tn.cfg.FSM = fsm.NewBatching(fsm.New(tn.store, tn.cfg.Logger, nil))
		}
		var (
			n   *Node
			err error
		)
		if id == "a" {
			n, err = Open(ctxT(b, 20*time.Second), tn.cfg)
		} else {
			tok, terr := nodes[0].CreateJoinToken(ctxT(b, time.Second), time.Minute)
			if terr != nil {
				b.Fatal(terr)
			}
			n, err = Join(ctxT(b, 20*time.Second), nodes[0].Addr(), tok, tn.cfg)
		}
		if err != nil {
			b.Fatal(err)
		}
		tn.Node = n
		b.Cleanup(tn.close)
		nodes = append(nodes, tn)
		if id == "a" {
			ensureAdmin(b, n)
		}
	}
	// Wait until the followers have the admin.
	for _, tn := range nodes {
		if err := tn.Barrier(ctxT(b, 10*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	return nodes
}
