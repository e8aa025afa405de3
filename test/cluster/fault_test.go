package clustertest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// registerInput is one operation on the register (setting "reg").
type registerInput struct {
	put   bool
	value string
}

// registerModel is a single register that starts empty.
var registerModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(registerInput)
		if in.put {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		if in.put {
			return fmt.Sprintf("put(%q)", in.value)
		}
		return fmt.Sprintf("get() -> %q", output)
	},
}

// history records porcupine operations from concurrent clients.
type history struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func (h *history) add(client int, in registerInput, out string, call, ret time.Time, unknown bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := ret.Sub(h.start).Nanoseconds()
	if unknown {
		r = math.MaxInt64 / 2 // may have taken effect at any time after the call
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call.Sub(h.start).Nanoseconds(), Return: r})
}

// putRetrying proposes key=value with one request ID, retrying on any node
// until it is acknowledged or the deadline passes. The FSM deduplicates the
// request ID, so a retry after an unknown outcome cannot apply twice.
func putRetrying(c *testCluster, key, value, rid string, deadline time.Time) error {
	var err error
	for time.Now().Before(deadline) {
		nodes := c.running()
		if len(nodes) == 0 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		p := nodes[rand.IntN(len(nodes))]
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = p.put(ctx, key, value, rid)
		cancel()
		if err == nil || !isUnavailable(err) {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
	return fmt.Errorf("not acknowledged before the deadline: %w", err)
}

// TestKillLeader kills the leader with SIGKILL repeatedly during a stream of
// writes and linearizable reads, then kills and restarts all nodes:
//   - every acknowledged write is present afterwards on every node,
//   - porcupine finds the register history linearizable,
//   - a restart of the whole cluster keeps the state.
func TestKillLeader(t *testing.T) {
	c := newLoopbackCluster(t, 3)
	h := &history{start: time.Now()}
	var (
		ackMu  sync.Mutex
		acked  []string // durability keys acknowledged
		nOps   atomic.Int64
		failed atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for client := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				call := time.Now()
				switch rand.IntN(3) {
				case 0: // register write
					v := fmt.Sprintf("c%d-%d", client, seq)
					err := putRetrying(c, "reg", v, fmt.Sprintf("reg-%d-%d", client, seq), call.Add(8*time.Second))
					if err != nil && !isUnavailable(err) {
						t.Errorf("put reg: %v", err)
					}
					h.add(client, registerInput{put: true, value: v}, "", call, time.Now(), err != nil)
				case 1: // linearizable read from any node
					nodes := c.running()
					if len(nodes) == 0 {
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					v, _, err := nodes[rand.IntN(len(nodes))].get(ctx, "reg", true)
					cancel()
					if err == nil {
						h.add(client, registerInput{}, v, call, time.Now(), false)
					} else {
						failed.Add(1)
					}
				case 2: // durability write
					k := fmt.Sprintf("d-%d-%d", client, seq)
					if err := putRetrying(c, k, "x", "dur-"+k, call.Add(8*time.Second)); err == nil {
						ackMu.Lock()
						acked = append(acked, k)
						ackMu.Unlock()
					}
				}
				nOps.Add(1)
			}
		}()
	}

	// Kill the leader four times, restarting it after a second.
	for kill := range 4 {
		time.Sleep(1500 * time.Millisecond)
		l := c.waitLeader(10 * time.Second)
		t.Logf("kill %d: SIGKILL leader %s", kill+1, l.id)
		l.kill()
		time.Sleep(time.Second)
		l.start()
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d operations, %d register ops, %d acknowledged durability writes, %d failed reads", nOps.Load(), len(h.ops), len(acked), failed.Load())

	res, info := porcupine.CheckOperationsVerbose(registerModel, h.ops, 60*time.Second)
	if res != porcupine.Ok {
		t.Errorf("porcupine: history is not linearizable (result %v)", res)
		_ = info
	}

	// (c) kill every node at once and restart them all: state intact.
	for _, p := range c.nodes {
		p.kill()
	}
	for _, p := range c.nodes {
		p.start()
	}
	c.waitLeader(30 * time.Second)
	for _, p := range c.nodes {
		p.waitReady(t, 30*time.Second)
	}
	for _, p := range c.nodes {
		missing := 0
		for i, k := range acked {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, found, err := p.get(ctx, k, i == 0) // the first read is linearizable: it waits for catch-up
			cancel()
			if err != nil {
				t.Fatalf("reading %s on %s: %v", k, p.id, err)
			}
			if !found {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of %d acknowledged writes missing after restart", p.id, missing, len(acked))
		}
	}
	// The register reads the same on every node.
	var vals []string
	for _, p := range c.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, _, err := p.get(ctx, "reg", true)
		cancel()
		if err != nil {
			t.Fatalf("reading reg on %s: %v", p.id, err)
		}
		vals = append(vals, v)
	}
	for _, v := range vals[1:] {
		if v != vals[0] {
			t.Errorf("register differs between nodes after restart: %q", vals)
		}
	}
}
