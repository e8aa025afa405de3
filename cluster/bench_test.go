package cluster

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/sded/sded/cluster/fsm"
)

// nopFSM isolates raft, the transport and forwarding from the state machine.
type nopFSM struct{}

func (nopFSM) Apply(l *raft.Log) any               { return fsm.Result{Index: l.Index} }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (nopFSM) Restore(io.ReadCloser) error         { return nil }

// BenchmarkRaftLayer measures this package alone: three in-process nodes on
// loopback with a no-op FSM, writes proposed on a follower (so every write is
// forwarded), beside raw bbolt Update+fsync on the same disk. The difference
// to test/cluster's BenchmarkWrite is the cost of the real FSM.
func BenchmarkRaftLayer(b *testing.B) {
	var nodes []*testNode
	for _, id := range []string{"a", "b", "c"} {
		tn := newConfig(b, id)
		tn.cfg.FSM, tn.cfg.Store = nopFSM{}, nil
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
	}
	follower := nodes[1]
	for _, clients := range []int{1, 64} {
		total := 500
		if clients > 1 {
			total = 10000
		}
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var got, raw benchStats
			for range b.N {
				got = benchDrive(b, clients, total, func(int) error {
					_, err := follower.Propose(ctxT(b, 10*time.Second), putSetting("k", "v", adminActor))
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
			b.ReportMetric(got.tput/raw.tput, "tput-x-raw")
			fmt.Printf("raft layer, 3 nodes, no-op FSM, via follower, %2d clients: p50 %.2fms p99 %.2fms %6.0f w/s | raw bbolt Update+fsync p50 %.2fms p99 %.2fms %6.0f w/s | ratio p50 %.1fx throughput %.2fx\n",
				clients, got.p50ms, got.p99ms, got.tput, raw.p50ms, raw.p99ms, raw.tput, got.p50ms/raw.p50ms, got.tput/raw.tput)
		})
	}
}

type benchStats struct{ p50ms, p99ms, tput float64 }

func benchDrive(b *testing.B, clients, total int, op func(i int) error) benchStats {
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
	)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := c; i < total; i += clients {
				t0 := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	slices.Sort(lat)
	if len(lat) == 0 {
		return benchStats{}
	}
	ms := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	return benchStats{p50ms: ms(0.5), p99ms: ms(0.99), tput: float64(len(lat)) / wall.Seconds()}
}
