package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/testenv"
)

// These tests run Manager against the real kernel, iptables-nft, ip6tables
// and ebtables inside throwaway network namespaces.

func requireTools(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	for _, c := range []string{"iptables", "ip6tables", "iptables-save", "iptables-restore", "ip6tables-save",
		"ip6tables-restore", "ebtables-save", "ebtables-restore", "ip"} {
		testenv.RequireCommand(t, c)
	}
}

// inNS creates a throwaway namespace with a Manager created inside it. Call
// the Manager only through ns.Do.
func inNS(t testing.TB, opts Options) (*netnstest.NS, *Manager) {
	t.Helper()
	requireTools(t)
	ns := netnstest.New(t, "net")
	var m *Manager
	if err := ns.Do(func() (err error) {
		m, err = New(context.Background(), slog.New(slog.DiscardHandler), opts)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return ns, m
}

func nsSet(t testing.TB, ns *netnstest.NS, m *Manager, cfg Config) {
	t.Helper()
	if err := ns.Do(func() error { return m.Set(context.Background(), cfg) }); err != nil {
		t.Fatal(err)
	}
}

func nsCheck(t testing.TB, ns *netnstest.NS, m *Manager, cfg Config) []Drift {
	t.Helper()
	var d []Drift
	if err := ns.Do(func() (err error) { d, err = m.Check(context.Background(), cfg); return err }); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestNetnsTransitions: random transitions between configs on the real
// kernel; after each, Check (which compares iptables-save, ip6tables-save,
// ebtables-save and netlink with the desired state, rule text for rule text)
// finds nothing, and the bridges present are exactly the configured ones.
func TestNetnsTransitions(t *testing.T) {
	ns, m := inNS(t, Options{})
	all := states()
	keys := []string{"alpha", "alpha-beta", "beta-gamma", "all", "alpha2-beta2", "alpha2-gamma", "all-changed", "empty"}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 14 {
		k := keys[r.IntN(len(keys))]
		if i == 0 {
			k = "all"
		}
		cfg := all[k]
		nsSet(t, ns, m, cfg)
		if d := nsCheck(t, ns, m, cfg); len(d) > 0 {
			t.Fatalf("step %d (%s): drift right after Set: %v", i, k, d)
		}
		var want []string
		for _, n := range cfg.normalized().Networks {
			want = append(want, n.Bridge)
		}
		if got := bridges(t, ns); !slices.Equal(got, want) {
			t.Fatalf("step %d (%s): bridges %v, want %v", i, k, got, want)
		}
		if i == 0 {
			compareSaved(t, ns, filepath.Join("testdata", "netns-all.golden"))
		}
	}
}

func bridges(t *testing.T, ns *netnstest.NS) []string {
	out := ns.MustRun(t, "ip", "-o", "link", "show", "type", "bridge")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "sd") {
			names = append(names, strings.TrimSuffix(strings.Split(f[1], "@")[0], ":"))
		}
	}
	slices.Sort(names)
	return names
}

// TestNetnsDriftRepair tampers with the real kernel state by hand, as an
// administrator could; Check reports it and Set restores it.
func TestNetnsDriftRepair(t *testing.T) {
	cfg := states()["all"]
	alpha, beta := BridgeName("alpha"), BridgeName("beta")
	tests := []struct {
		name  string
		cmds  [][]string
		kinds []DriftKind
	}{
		{"bridge deleted", [][]string{{"ip", "link", "del", alpha}}, []DriftKind{DriftBridgeMissing}},
		{"bridge down", [][]string{{"ip", "link", "set", beta, "down"}}, []DriftKind{DriftBridgeDown}},
		{"address replaced", [][]string{{"ip", "addr", "flush", "dev", alpha}, {"ip", "addr", "add", "10.77.1.2/24", "dev", alpha}},
			[]DriftKind{DriftAddress, DriftAddress}},
		{"ipv6 re-enabled", [][]string{{"sysctl", "-qw", "net.ipv6.conf." + beta + ".disable_ipv6=0"}}, []DriftKind{DriftSysctl}},
		{"arp_ignore reset", [][]string{{"sysctl", "-qw", "net.ipv4.conf." + alpha + ".arp_ignore=0"}}, []DriftKind{DriftSysctl}},
		{"rule deleted", [][]string{{"iptables", "-D", "SDED-I-" + alpha[2:], "-j", "DROP"}}, []DriftKind{DriftChainChanged}},
		{"rule added", [][]string{{"iptables", "-I", "SDED-F-" + alpha[2:], "1", "-j", "ACCEPT"}}, []DriftKind{DriftChainChanged}},
		{"hook removed", [][]string{{"iptables", "-D", "FORWARD", "-j", "SDED-FORWARD"}}, []DriftKind{DriftHook}},
		{"hook pushed down", [][]string{{"ip6tables", "-I", "INPUT", "1", "-i", "lo", "-j", "ACCEPT"}}, []DriftKind{DriftHook}},
		{"ebtables chain flushed", [][]string{{"ebtables", "-F", "SDED-B-" + alpha[2:]}}, []DriftKind{DriftChainChanged}},
		{"foreign port attached", [][]string{{"ip", "link", "add", "sdvx1", "type", "veth", "peer", "name", "sdvx2"},
			{"ip", "link", "set", "sdvx1", "master", alpha}}, []DriftKind{DriftPort}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, m := inNS(t, Options{})
			nsSet(t, ns, m, cfg)
			for _, c := range tt.cmds {
				ns.MustRun(t, c...)
			}
			var kinds []DriftKind
			d := nsCheck(t, ns, m, cfg)
			for _, x := range d {
				kinds = append(kinds, x.Kind)
			}
			if diff := cmp.Diff(tt.kinds, kinds); diff != "" {
				t.Fatalf("drift kinds (-want +got):\n%s\n%v", diff, d)
			}
			t.Logf("reported: %v", d)
			nsSet(t, ns, m, cfg)
			if d := nsCheck(t, ns, m, cfg); len(d) > 0 {
				t.Fatalf("after repair: %v", d)
			}
		})
	}
}

// TestNetnsForeignUntouched: the host's policies, rules, chains and links
// (including one named like an sded bridge) survive Set and removal.
func TestNetnsForeignUntouched(t *testing.T) {
	ns, m := inNS(t, Options{})
	setup := [][]string{
		{"iptables", "-P", "INPUT", "DROP"}, {"iptables", "-P", "FORWARD", "DROP"},
		{"ip6tables", "-P", "FORWARD", "DROP"}, {"ebtables", "-P", "FORWARD", "DROP"},
		{"iptables", "-N", "HOST-CHAIN"}, {"iptables", "-A", "HOST-CHAIN", "-j", "RETURN"},
		{"iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"}, {"iptables", "-A", "FORWARD", "-j", "HOST-CHAIN"},
		{"ip", "link", "add", "sdlookalike", "type", "bridge"},
		{"ip", "link", "add", "docker0", "type", "bridge"},
	}
	for _, c := range setup {
		ns.MustRun(t, c...)
	}
	save := func() string {
		var b strings.Builder
		for _, c := range []string{"iptables-save", "ip6tables-save", "ebtables-save"} {
			for _, line := range strings.Split(ns.MustRun(t, c), "\n") {
				if !strings.HasPrefix(line, "#") {
					b.WriteString(line + "\n")
				}
			}
		}
		return b.String() + strings.Join(bridges(t, ns), " ")
	}
	before := save()
	nsSet(t, ns, m, states()["all"])
	mid := save()
	for _, want := range []string{":INPUT DROP", ":FORWARD DROP", "-A HOST-CHAIN -j RETURN", "-A INPUT -i lo -j ACCEPT", "sdlookalike"} {
		if !strings.Contains(mid, want) {
			t.Errorf("after Set, %q is gone", want)
		}
	}
	nsSet(t, ns, m, Config{})
	if diff := cmp.Diff(before, save()); diff != "" {
		t.Fatalf("Set(all) then Set(empty) did not restore the host exactly (-before +after):\n%s", diff)
	}
}

// TestNetnsCollision: a link sded does not own with a bridge's name stops
// Set before anything changes.
func TestNetnsCollision(t *testing.T) {
	ns, m := inNS(t, Options{})
	ns.MustRun(t, "ip", "link", "add", BridgeName("beta"), "type", "veth", "peer", "name", "sdcollide2")
	err := ns.Do(func() error { return m.Set(context.Background(), states()["all"]) })
	if !errors.Is(err, ErrNameCollision) {
		t.Fatalf("Set = %v, want ErrNameCollision", err)
	}
	t.Logf("error text: %v", err)
	if got := ns.MustRun(t, "iptables-save"); strings.Contains(got, "SDED") {
		t.Fatalf("rules applied despite the collision:\n%s", got)
	}
	if got := bridges(t, ns); len(got) != 0 {
		t.Fatalf("bridges created despite the collision: %v", got)
	}
}

// TestNetnsToolMissing: absent programs are a clear error at New.
func TestNetnsToolMissing(t *testing.T) {
	requireTools(t)
	for _, tools := range []ToolPaths{
		{IPTables: "/nonexistent/iptables"},
		{IP6TablesRestore: "/nonexistent/ip6tables-restore"},
		{EBTablesSave: "/nonexistent/ebtables-save"},
	} {
		_, err := New(context.Background(), slog.New(slog.DiscardHandler), Options{Tools: tools})
		if !errors.Is(err, ErrToolMissing) {
			t.Fatalf("New(%+v) = %v, want ErrToolMissing", tools, err)
		}
		t.Logf("error text: %v", err)
	}
}

// TestNetnsLocked: with the legacy backend and the xtables lock held by
// another program, Set fails with ErrLocked and leaves nothing applied.
func TestNetnsLocked(t *testing.T) {
	requireTools(t)
	testenv.RequireCommand(t, "iptables-legacy-restore")
	testenv.RequireCommand(t, "flock")
	lock := t.TempDir() + "/xtables.lock"
	t.Setenv("XTABLES_LOCKFILE", lock)
	ns, m := inNS(t, Options{Tools: ToolPaths{
		IPTables: "iptables-legacy", IPTablesSave: "iptables-legacy-save", IPTablesRestore: "iptables-legacy-restore",
		IP6Tables: "ip6tables-legacy", IP6TablesSave: "ip6tables-legacy-save", IP6TablesRestore: "ip6tables-legacy-restore",
		WaitSeconds: 1,
	}})
	f, err := os.Create(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := flock(f); err != nil {
		t.Fatal(err)
	}
	err = ns.Do(func() error { return m.Set(context.Background(), states()["alpha"]) })
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Set = %v, want ErrLocked", err)
	}
	t.Logf("error text: %v", err)
	for _, c := range []string{"iptables-legacy-save", "ip6tables-legacy-save", "ebtables-save"} {
		if got := ns.MustRun(t, c); strings.Contains(got, "SDED") {
			t.Fatalf("%s shows rules left behind:\n%s", c, got)
		}
	}
	if got := bridges(t, ns); len(got) != 0 {
		t.Fatalf("bridges left behind: %v", got)
	}
	unflock(f)
	nsSet(t, ns, m, states()["alpha"])
	if d := nsCheck(t, ns, m, states()["alpha"]); len(d) > 0 {
		t.Fatalf("after the lock is released: %v", d)
	}
}

var countersRE = regexp.MustCompile(` \[\d+:\d+\]$`)

// compareSaved compares what the real save programs print (comments and
// counters stripped) with a golden file (go test -update rewrites it).
func compareSaved(t *testing.T, ns *netnstest.NS, path string) {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{"iptables-save", "ip6tables-save", "ebtables-save"} {
		fmt.Fprintf(&b, "## %s\n", c)
		for _, line := range strings.Split(ns.MustRun(t, c, "-t", "filter"), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			b.WriteString(countersRE.ReplaceAllString(line, "") + "\n")
		}
	}
	got := b.String()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("real tables differ from %s (-want +got):\n%s", path, diff)
	}
}
