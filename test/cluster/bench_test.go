package clustertest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// latencies summarises one run.
type latencies struct {
	p50, p99   time.Duration
	throughput float64 // operations per second
}

func summarise(d []time.Duration, wall time.Duration) latencies {
	slices.Sort(d)
	pct := func(p float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(float64(len(d))*p))]
	}
	return latencies{p50: pct(0.50), p99: pct(0.99), throughput: float64(len(d)) / wall.Seconds()}
}

// drive runs total operations from clients goroutines and measures each.
func drive(b *testing.B, clients, total int, op func(client, i int) error) latencies {
	b.Helper()
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := c; i < total; i += clients {
				t0 := time.Now()
				if err := op(c, i); err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if errs > 0 {
		b.Errorf("%d of %d operations failed", errs, total)
	}
	return summarise(all, time.Since(start))
}

// rawBolt measures bbolt Update (with its fsync) on the same disk as the
// nodes' data directories: the floor any durable write pays.
func rawBolt(b *testing.B, dir string, clients, total int) latencies {
	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 64)
	return drive(b, clients, total, func(c, i int) error {
		return db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put(fmt.Appendf(nil, "k%08d", i), val)
		})
	})
}

// BenchmarkWrite measures committed writes (CmdPutSetting through a node's
// control API: HTTP, raft, FSM bbolt transaction) for 1 and 3 nodes with 1
// and 64 clients writing to the leader, and with 64 clients writing to a
// follower (which forwards over the cluster RPC), beside raw bbolt
// Update+fsync on the same disk in the same run.
// Targets (3 nodes): p50 ≤ 5 ms, p99 ≤ 25 ms, ≥ 2,000 writes/s with 64 clients.
// SDED_BENCH_WRITES overrides the number of writes (300 for 1 client, else
// 4000); SDED_BENCH_PROFILE=DIR saves a CPU profile of the node written to.
func BenchmarkWrite(b *testing.B) {
	cases := []struct {
		nodes, clients int
		viaFollower    bool
	}{{1, 1, false}, {1, 64, false}, {3, 1, false}, {3, 64, false}, {3, 64, true}}
	for _, tc := range cases {
		name := fmt.Sprintf("nodes=%d/clients=%d", tc.nodes, tc.clients)
		if tc.viaFollower {
			name += "-via-follower"
		}
		b.Run(name, func(b *testing.B) {
			total := 300
			if tc.clients > 1 {
				total = 4000
			}
			if n, err := strconv.Atoi(os.Getenv("SDED_BENCH_WRITES")); err == nil && n > 0 {
				total = n
			}
			c := newLoopbackCluster(b, tc.nodes)
			target := c.waitLeader(10 * time.Second)
			if tc.viaFollower {
				for _, p := range c.nodes {
					if p != target {
						target = p
						break
					}
				}
			}
			// Warm up connections and the leader's first-term barrier.
			if err := putRetrying(c, "warm", "1", "warm", time.Now().Add(10*time.Second)); err != nil {
				b.Fatal(err)
			}
			stopProfile := profileNode(b, target, strings.NewReplacer("=", "", "/", "-").Replace(name))
			b.ResetTimer()
			var got latencies
			for range b.N {
				got = drive(b, tc.clients, total, func(cl, i int) error {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_, err := target.put(ctx, fmt.Sprintf("k%d", i%50), fmt.Sprint(i), fmt.Sprintf("b-%d-%d", cl, i))
					return err
				})
			}
			b.StopTimer()
			stopProfile()
			raw := rawBolt(b, b.TempDir(), tc.clients, total)
			b.ReportMetric(float64(got.p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(got.p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(got.throughput, "writes/s")
			b.ReportMetric(float64(got.p50)/float64(raw.p50), "p50-x-raw")
			b.ReportMetric(got.throughput/raw.throughput, "tput-x-raw")
			fmt.Printf("%-22s sded p50 %7.2fms p99 %7.2fms %8.0f w/s | raw bbolt Update+fsync p50 %6.2fms p99 %6.2fms %8.0f w/s | ratio p50 %.1fx, throughput %.2fx\n",
				b.Name(), ms(got.p50), ms(got.p99), got.throughput, ms(raw.p50), ms(raw.p99), raw.throughput,
				float64(got.p50)/float64(raw.p50), got.throughput/raw.throughput)
		})
	}
}

// profileNode, when SDED_BENCH_PROFILE names a directory, saves a CPU
// profile of node l (SDED_BENCH_PROFILE_SECONDS long, default 2)
// taken while the benchmark runs, as DIR/NAME.cpu.pprof. The returned
// function waits for it.
func profileNode(b *testing.B, l *proc, name string) func() {
	dir := os.Getenv("SDED_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	secs := os.Getenv("SDED_BENCH_PROFILE_SECONDS")
	if secs == "" {
		secs = "2"
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get("http://" + l.http + "/debug/pprof/profile?seconds=" + secs)
		if err != nil {
			b.Logf("profiling %s: %v", l.id, err)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+".cpu.pprof"), body, 0o600)
		}
		if err != nil {
			b.Logf("saving the profile of %s: %v", l.id, err)
		}
	}()
	return func() { <-done }
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkFailover kills the leader with SIGKILL 20 times and measures the
// time until the first write succeeds through a surviving node. Target: p99
// ≤ 3 s. The reference printed beside it is raft's heartbeat timeout (how long
// followers wait before they suspect the leader).
func BenchmarkFailover(b *testing.B) {
	c := newLoopbackCluster(b, 3)
	const kills = 20
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		for k := range kills {
			l := c.waitLeader(15 * time.Second)
			var other *proc
			for _, p := range c.nodes {
				if p != l {
					other = p
					break
				}
			}
			l.kill()
			t0 := time.Now()
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := other.put(ctx, "failover", fmt.Sprint(k), fmt.Sprintf("f-%d-%d", k, attempt))
				cancel()
				if err == nil {
					break
				}
				if time.Since(t0) > 30*time.Second {
					b.Fatalf("no write succeeded within 30 s of killing %s: %v", l.id, err)
				}
			}
			took = append(took, time.Since(t0))
			l.start()
			c.waitVoters(3, 30*time.Second)
		}
	}
	b.StopTimer()
	s := summarise(took, time.Second)
	const heartbeat = 400 * time.Millisecond // cluster.DefaultTiming.HeartbeatTimeout
	b.ReportMetric(ms(s.p50), "p50-ms")
	b.ReportMetric(ms(s.p99), "p99-ms")
	b.ReportMetric(float64(s.p99)/float64(heartbeat), "p99-x-heartbeat")
	fmt.Printf("failover (leader SIGKILL -> first write) over %d kills: p50 %.0fms p99 %.0fms | heartbeat timeout %s | ratio p99/heartbeat %.1fx\n",
		len(took), ms(s.p50), ms(s.p99), heartbeat, float64(s.p99)/float64(heartbeat))
}
