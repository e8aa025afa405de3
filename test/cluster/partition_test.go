package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/test/testenv"
)

// netLab is the network the partition test builds: a switch namespace holding
// a bridge, one namespace per node wired to it by a veth pair, and a veth from
// the host so the test can reach the nodes' control APIs. Keeping the bridge in
// its own namespace keeps it away from the host's bridge netfilter and chains.
// Every link and namespace name starts with "sd".
type netLab struct {
	t      *testing.T
	id     string
	subnet string // "10.251.N"
	swNS   string
	nodeNS []string
}

func run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNetLab(t *testing.T, nodes int) *netLab {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ip")
	testenv.RequireCommand(t, "iptables")
	var b [2]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	l := &netLab{t: t, id: id, subnet: fmt.Sprintf("10.251.%d", b[0]), swNS: "sdsw" + id}
	// The subnet must not be in use on the host.
	if out, _ := exec.Command("ip", "-4", "addr").Output(); strings.Contains(string(out), l.subnet+".") {
		t.Skipf("subnet %s.0/24 is in use on this host", l.subnet)
	}
	t.Cleanup(l.destroy)
	run(t, "ip", "netns", "add", l.swNS)
	br := "sdbr" + id
	run(t, "ip", "-n", l.swNS, "link", "add", br, "type", "bridge")
	run(t, "ip", "-n", l.swNS, "link", "set", br, "up")
	// Host side: sdh<id> in the host with .1, its peer on the bridge.
	host, hostPeer := "sdh"+id, "sdhp"+id
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", hostPeer, "netns", l.swNS)
	run(t, "ip", "addr", "add", l.subnet+".1/24", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "-n", l.swNS, "link", "set", hostPeer, "master", br, "up")
	for i := range nodes {
		ns := fmt.Sprintf("sdn%s%d", id, i+1)
		in, out := fmt.Sprintf("sde%s%d", id, i+1), fmt.Sprintf("sdv%s%d", id, i+1)
		run(t, "ip", "netns", "add", ns)
		l.nodeNS = append(l.nodeNS, ns)
		run(t, "ip", "-n", ns, "link", "add", in, "type", "veth", "peer", "name", out, "netns", l.swNS)
		run(t, "ip", "-n", ns, "addr", "add", l.ip(i)+"/24", "dev", in)
		run(t, "ip", "-n", ns, "link", "set", in, "up")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", l.swNS, "link", "set", out, "master", br, "up")
	}
	return l
}

func (l *netLab) ip(i int) string { return fmt.Sprintf("%s.%d", l.subnet, 10+i) }

func (l *netLab) destroy() {
	for _, ns := range l.nodeNS {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	exec.Command("ip", "link", "del", "sdh"+l.id).Run()
	exec.Command("ip", "netns", "del", l.swNS).Run()
}

// isolate drops all traffic between node i and the other nodes, inside node
// i's own namespace (chain SDED-PART); the test can still reach it.
func (l *netLab) isolate(i int) {
	ns := l.nodeNS[i]
	ipt := func(args ...string) {
		run(l.t, append([]string{"ip", "netns", "exec", ns, "iptables", "-w"}, args...)...)
	}
	ipt("-N", "SDED-PART")
	for j := range l.nodeNS {
		if j == i {
			continue
		}
		ipt("-A", "SDED-PART", "-s", l.ip(j), "-j", "DROP")
		ipt("-A", "SDED-PART", "-d", l.ip(j), "-j", "DROP")
	}
	ipt("-I", "INPUT", "-j", "SDED-PART")
	ipt("-I", "OUTPUT", "-j", "SDED-PART")
}

func (l *netLab) heal(i int) {
	ns := l.nodeNS[i]
	ipt := func(args ...string) {
		run(l.t, append([]string{"ip", "netns", "exec", ns, "iptables", "-w"}, args...)...)
	}
	ipt("-D", "INPUT", "-j", "SDED-PART")
	ipt("-D", "OUTPUT", "-j", "SDED-PART")
	ipt("-F", "SDED-PART")
	ipt("-X", "SDED-PART")
}

// TestPartition isolates the leader in its network namespace: it cannot
// commit, the majority elects a new leader and goes on, and after healing
// the old leader converges and its uncommitted write is gone.
func TestPartition(t *testing.T) {
	lab := newNetLab(t, 3)
	c := &testCluster{t: t}
	for i := range 3 {
		p := newProc(t, fmt.Sprintf("n%d", i+1), lab.ip(i), "7480", "7481")
		p.netns = lab.nodeNS[i]
		c.nodes = append(c.nodes, p)
	}
	c.form()
	ctx := context.Background()
	if err := putRetrying(c, "before", "1", "before-1", time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	old := c.waitLeader(10 * time.Second)
	oi := 0
	for i, p := range c.nodes {
		if p == old {
			oi = i
		}
	}
	var majority []*proc
	for _, p := range c.nodes {
		if p != old {
			majority = append(majority, p)
		}
	}
	t.Logf("isolating leader %s", old.id)
	lab.isolate(oi)

	// The minority cannot commit.
	mctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	_, err := old.put(mctx, "minority", "lost", "minority-1")
	cancel()
	if err == nil {
		t.Fatal("the isolated old leader committed a write")
	}
	t.Logf("isolated node refused the write: %v", err)

	// The majority elects a leader and goes on.
	start := time.Now()
	var written bool
	for time.Now().Before(start.Add(15 * time.Second)) {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = majority[0].put(wctx, "during", "2", "during-1")
		cancel()
		if err == nil {
			written = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !written {
		t.Fatalf("majority could not commit: %v", err)
	}
	t.Logf("majority committed %s after the partition", time.Since(start).Round(time.Millisecond))
	for _, p := range majority {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, _, err := p.get(rctx, "during", true)
		cancel()
		if err != nil || v != "2" {
			t.Errorf("%s: during = %q, %v", p.id, v, err)
		}
	}
	// A linearizable read on the isolated node cannot succeed.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, _, err := old.get(rctx, "during", true); err == nil {
		t.Error("isolated node served a linearizable read")
	}
	cancel()

	lab.heal(oi)
	deadline := time.Now().Add(20 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		v, _, err := old.get(rctx, "during", true)
		cancel()
		if err == nil && v == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healed node did not converge: %q %v", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.waitVoters(3, 20*time.Second)
	for _, p := range c.nodes {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, found, err := p.get(rctx, "minority", true)
		cancel()
		if err != nil || found {
			t.Errorf("%s: the minority's write is present=%v (%v); it was never committed", p.id, found, err)
		}
	}
}
