package network

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/network/netnstest"
)

// mutate returns cfg after one random change: a network added, removed or
// changed (isolation toggled, a workstation added or removed, an allowlist
// entry or gateway port added). next numbers new networks.
func mutate(r *rand.Rand, cfg Config, next *int) (Config, string) {
	nets := slices.Clone(cfg.Networks)
	switch op := r.IntN(6); {
	case op == 0 || len(nets) < 2:
		nets = append(nets, benchNetwork(*next))
		*next++
		return Config{Networks: nets}, "add " + nets[len(nets)-1].ID
	case op == 1:
		i := r.IntN(len(nets))
		id := nets[i].ID
		return Config{Networks: slices.Delete(nets, i, i+1)}, "remove " + id
	default:
		i := r.IntN(len(nets))
		n := nets[i]
		n.Hosts = slices.Clone(n.Hosts)
		n.Allow = slices.Clone(n.Allow)
		n.GatewayTCPPorts = slices.Clone(n.GatewayTCPPorts)
		what := ""
		switch op {
		case 2:
			n.IsolateWorkstations = !n.IsolateWorkstations
			what = "isolation"
		case 3:
			if len(n.Hosts) > 0 {
				n.Hosts = n.Hosts[1:]
				what = "host removed"
				break
			}
			ip := n.Subnet.Addr().As4()
			ip[3] = 50
			n.Hosts = append(n.Hosts, Host{MAC: mac(fmt.Sprintf("52:54:02:%02x:%02x:32", ip[1], ip[2])), IP: netip.AddrFrom4(ip)})
			what = "host added"
		case 4:
			n.Allow = append(n.Allow, Allow{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 20, byte(len(n.Allow)), 0}), 24), Proto: "tcp", Port: 443})
			what = "allow added"
		case 5:
			n.GatewayTCPPorts = append(n.GatewayTCPPorts, uint16(10000+len(n.GatewayTCPPorts)))
			what = "port added"
		}
		nets[i] = n
		return Config{Networks: nets}, what + " " + n.ID
	}
}

// TestIncrementalEqualsFull: random single changes among many networks
// (fakes). After each, the tables equal those a fresh Manager builds from
// scratch, the scripts name no network but the changed one (the work is
// proportional to the change), and Check finds nothing.
func TestIncrementalEqualsFull(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 2))
		h := newFakeHost()
		var scripts []string
		var mu sync.Mutex // the families are restored concurrently
		for _, ft := range h.tables {
			ft.fail = func(s string) error { mu.Lock(); scripts = append(scripts, s); mu.Unlock(); return nil }
		}
		cfg := benchConfig(0, 30)
		next := 30
		if err := h.m.Set(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		var path []string
		for range 30 {
			prev := cfg
			var what string
			cfg, what = mutate(r, cfg, &next)
			path = append(path, what)
			scripts = nil
			if h.m.last == nil || !incremental(h.m.last, cfg.normalized()) {
				t.Fatalf("seed %d, %v: incremental path not taken", seed, path)
			}
			if err := h.m.Set(ctx, cfg); err != nil {
				t.Fatalf("seed %d, %v: %v", seed, path, err)
			}
			changed := map[string]bool{}
			old, cur := changedNetworks(prev.normalized(), cfg.normalized())
			for _, n := range append(old, cur...) {
				changed[n.Bridge] = true
			}
			for _, n := range cfg.normalized().Networks {
				for _, s := range scripts {
					if !changed[n.Bridge] && (strings.Contains(s, n.Bridge) || strings.Contains(s, n.key())) {
						t.Fatalf("seed %d, %v: script names unchanged network %s:\n%s", seed, path, n.ID, s)
					}
				}
			}
			cold := newFakeHost()
			if err := cold.m.Set(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(cold.dump(), h.dump()); diff != "" {
				t.Fatalf("seed %d, %v: incremental state differs from scratch (-scratch +got):\n%s", seed, path, diff)
			}
			if d, err := h.m.Check(ctx, cfg); err != nil || len(d) > 0 {
				t.Fatalf("seed %d, %v: Check: %v %v", seed, path, d, err)
			}
		}
	}
}

// TestIncrementalAfterDrift: a Check that finds rule drift makes the next
// Set take the full path, which repairs it, even for a change elsewhere.
func TestIncrementalAfterDrift(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost()
	cfg := benchConfig(0, 5)
	if err := h.m.Set(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	victim := cfg.normalized().Networks[2]
	delete(h.tables[famV4].t.chains, "SDED-I-"+victim.key()) // by hand, behind Manager's back
	h.tables[famV4].t.chains["SDED-INPUT"] = slices.DeleteFunc(slices.Clone(h.tables[famV4].t.chains["SDED-INPUT"]),
		func(r string) bool { return strings.Contains(r, victim.Bridge) })
	if d, err := h.m.Check(ctx, cfg); err != nil || len(d) == 0 {
		t.Fatalf("Check found no drift: %v %v", d, err)
	}
	cfg.Networks = append(cfg.Networks, benchNetwork(9))
	if err := h.m.Set(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if d, err := h.m.Check(ctx, cfg); err != nil || len(d) > 0 {
		t.Fatalf("after Set: %v %v", d, err)
	}
}

// TestNormalizedIsACopy: a caller changing its config in place after Set
// cannot make the next Set believe nothing changed.
func TestNormalizedIsACopy(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost()
	cfg := benchConfig(0, 3)
	cfg.Networks[1].Allow = []Allow{{CIDR: pfx("172.20.0.0/24"), Proto: "tcp", Port: 443}}
	if err := h.m.Set(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, change := range []func(){
		func() { cfg.Networks[1].Allow[0].Port = 8443 },
		func() { cfg.Networks[1].Hosts[0].MAC[5] = 0x77 },
	} {
		change()
		if err := h.m.Set(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		cold := newFakeHost()
		if err := cold.m.Set(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cold.dump(), h.dump()); diff != "" {
			t.Fatalf("in-place change not applied (-want +got):\n%s", diff)
		}
	}
}

// savedTables reads the three filter tables in ns and normalises them:
// counters and policies dropped, unordered dispatch chains sorted.
func savedTables(t *testing.T, ns *netnstest.NS) map[family]table {
	t.Helper()
	out := map[family]table{}
	for f, prog := range map[family]string{famV4: "iptables-save", famV6: "ip6tables-save", famEB: "ebtables-save"} {
		var b []byte
		if err := ns.Do(func() (err error) { b, err = exec.Command(prog, "-t", "filter").Output(); return err }); err != nil {
			t.Fatalf("%s: %v", prog, err)
		}
		tab, err := parseSave(string(b))
		if err != nil {
			t.Fatal(err)
		}
		for name, rules := range tab.chains {
			if unordered(f, DefaultChainPrefix, name) {
				tab.chains[name] = slices.Sorted(slices.Values(rules))
			}
		}
		out[f] = tab
	}
	return out
}

func diffTables(t *testing.T, want, got map[family]table) string {
	t.Helper()
	var b strings.Builder
	for _, f := range families {
		if d := cmp.Diff(want[f].chains, got[f].chains); d != "" {
			fmt.Fprintf(&b, "%s (-cold +incremental):\n%s", f, d)
		}
	}
	return b.String()
}

// TestNetnsIncrementalEqualsCold: on the real kernel, random single
// changes among many networks (each applied incrementally) leave
// iptables-save, ip6tables-save and ebtables-save output equal to a cold
// Set of the final config in a fresh namespace, and Check clean.
func TestNetnsIncrementalEqualsCold(t *testing.T) {
	ns, m := inNS(t, Options{})
	r := rand.New(rand.NewPCG(11, 11))
	cfg := benchConfig(0, 25)
	next := 25
	nsSet(t, ns, m, cfg)
	var path []string
	for range 12 {
		var what string
		cfg, what = mutate(r, cfg, &next)
		path = append(path, what)
		nsSet(t, ns, m, cfg)
		if d := nsCheck(t, ns, m, cfg); len(d) > 0 {
			t.Fatalf("%v: drift %v", path, d)
		}
	}
	cold, cm := inNS(t, Options{})
	nsSet(t, cold, cm, cfg)
	if d := diffTables(t, savedTables(t, cold), savedTables(t, ns)); d != "" {
		t.Fatalf("after %v:\n%s", path, d)
	}
	if got, want := bridges(t, ns), bridges(t, cold); !slices.Equal(got, want) {
		t.Fatalf("bridges: got %v, want %v", got, want)
	}
}

// TestNetnsCrashConverges: sded dies part way through adding a network
// (only some families' rules applied, or the bridge created but no rules)
// or removing one (rules gone, bridge left); a new Manager's Set, with no
// memory, converges on the same state as a cold Set.
func TestNetnsCrashConverges(t *testing.T) {
	base := benchConfig(0, 6)
	next := benchConfig(0, 7)
	prog := map[family][]string{famEB: {"ebtables-restore", "--noflush"}, famV6: {"ip6tables-restore", "--noflush"},
		famV4: {"iptables-restore", "--noflush"}}
	// partial applies the delta from a to b for some families only, as a
	// Set that died between its restores would have.
	partial := func(t *testing.T, ns *netnstest.NS, a, b Config, fams ...family) {
		old, cur := changedNetworks(a.normalized(), b.normalized())
		o, c := networkRules(DefaultChainPrefix, old), networkRules(DefaultChainPrefix, cur)
		for _, f := range fams {
			cmd := prog[f]
			if err := ns.Do(func() error {
				x := exec.Command(cmd[0], cmd[1:]...)
				x.Stdin = strings.NewReader(deltaPlan(f, DefaultChainPrefix, o[f], c[f]))
				if out, err := x.CombinedOutput(); err != nil {
					return fmt.Errorf("%w: %s", err, out)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	added := changedNetworksAdded(base, next)
	tests := []struct {
		name        string
		from, to    Config
		interrupted func(t *testing.T, ns *netnstest.NS)
	}{
		{"add: ebtables only", base, next, func(t *testing.T, ns *netnstest.NS) { partial(t, ns, base, next, famEB) }},
		{"add: ebtables and ip6tables", base, next, func(t *testing.T, ns *netnstest.NS) { partial(t, ns, base, next, famEB, famV6) }},
		{"add: rules, no bridge", base, next, func(t *testing.T, ns *netnstest.NS) { partial(t, ns, base, next, families...) }},
		{"add: bridge, no rules", base, next, func(t *testing.T, ns *netnstest.NS) {
			ns.MustRun(t, "ip", "link", "add", added.Bridge, "type", "bridge")
			ns.MustRun(t, "ip", "link", "set", added.Bridge, "alias", ownerAlias+added.ID)
		}},
		{"remove: rules gone, bridge left", next, base, func(t *testing.T, ns *netnstest.NS) { partial(t, ns, next, base, families...) }},
		{"remove: ipv4 only", next, base, func(t *testing.T, ns *netnstest.NS) { partial(t, ns, next, base, famV4) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, m := inNS(t, Options{})
			nsSet(t, ns, m, tt.from)
			tt.interrupted(t, ns)
			// The restarted daemon: a new Manager in the same namespace.
			var m2 *Manager
			if err := ns.Do(func() (err error) {
				m2, err = New(context.Background(), discard, Options{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m2.Close)
			nsSet(t, ns, m2, tt.to)
			if d := nsCheck(t, ns, m2, tt.to); len(d) > 0 {
				t.Fatalf("drift after Set: %v", d)
			}
			cold, cm := inNS(t, Options{})
			nsSet(t, cold, cm, tt.to)
			if d := diffTables(t, savedTables(t, cold), savedTables(t, ns)); d != "" {
				t.Fatal(d)
			}
			if got, want := bridges(t, ns), bridges(t, cold); !slices.Equal(got, want) {
				t.Fatalf("bridges: got %v, want %v", got, want)
			}
		})
	}
}

func changedNetworksAdded(a, b Config) Network {
	_, cur := changedNetworks(a.normalized(), b.normalized())
	return cur[0]
}

// TestSameNetworkFields: every field of Network and Host takes part in
// sameNetwork (a field it missed would make Set skip a changed network).
func TestSameNetworkFields(t *testing.T) {
	base := benchNetwork(1)
	base.Allow = []Allow{{CIDR: pfx("172.20.0.0/24"), Proto: "tcp", Port: 443}}
	base = Config{Networks: []Network{base}}.normalized().Networks[0]
	changes := map[string]func(n *Network){
		"ID":                  func(n *Network) { n.ID = "other" },
		"Bridge":              func(n *Network) { n.Bridge = "sdother" },
		"Subnet":              func(n *Network) { n.Subnet = pfx("10.1.0.0/24") },
		"Gateway":             func(n *Network) { n.Gateway = netip.MustParseAddr("10.100.1.2") },
		"IsolateWorkstations": func(n *Network) { n.IsolateWorkstations = true },
		"GatewayTCPPorts":     func(n *Network) { n.GatewayTCPPorts = []uint16{1} },
		"Allow":               func(n *Network) { n.Allow[0].Port = 444 },
		"Hosts":               func(n *Network) { n.Hosts = n.Hosts[1:] },
		"Host.MAC":            func(n *Network) { n.Hosts[0].MAC[5]++ },
		"Host.IP":             func(n *Network) { n.Hosts[0].IP = netip.MustParseAddr("10.100.1.99") },
		"Host.Hostname":       func(n *Network) { n.Hosts[0].Hostname = "ws" },
		"Host.Port":           func(n *Network) { n.Hosts[0].Port = "sdvother" },
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Network](), reflect.TypeFor[Host]()} {
		for i := range typ.NumField() {
			name := typ.Field(i).Name
			if typ == reflect.TypeFor[Host]() {
				name = "Host." + name
			}
			change, ok := changes[name]
			if !ok {
				t.Errorf("field %s not covered: compare it in sameNetwork and add it here", name)
				continue
			}
			n := Config{Networks: []Network{base}}.normalized().Networks[0] // a deep copy
			n.Bridge, n.Hosts[0].Port = base.Bridge, base.Hosts[0].Port
			if !sameNetwork(base, n) {
				t.Fatalf("copy differs")
			}
			change(&n)
			if sameNetwork(base, n) {
				t.Errorf("sameNetwork ignores a change of %s", name)
			}
		}
	}
}

// TestPortNameFormat: PortName is "sdv" and the MAC's hex digits, as
// mac.String() without colons.
func TestPortNameFormat(t *testing.T) {
	for _, s := range []string{"52:54:00:ab:cd:ef", "00:00:00:00:00:01", "ff:ff:ff:ff:ff:fe"} {
		m := mac(s)
		if got, want := PortName(m), "sdv"+strings.ReplaceAll(m.String(), ":", ""); got != want {
			t.Errorf("PortName(%s) = %q, want %q", s, got, want)
		}
	}
}

// TestBridgeRemovalFails: bridges are deleted while the rules change; when
// a deletion fails, the rules are put back (bridges already deleted stay
// deleted) and the next Set converges.
func TestBridgeRemovalFails(t *testing.T) {
	ctx := context.Background()
	start := Config{Networks: []Network{netAlpha}}
	next := Config{Networks: []Network{netAlpha, netBeta, netGamma}}
	h := newFakeHost()
	if err := h.m.Set(ctx, next); err != nil {
		t.Fatal(err)
	}
	rules := func() string {
		var b strings.Builder
		for _, f := range families {
			b.WriteString(h.tables[f].dump())
		}
		return b.String()
	}
	before := rules()
	errBoom := errors.New("boom")
	h.links.fail = func(op, name string) error {
		if op == "delete" {
			return errBoom
		}
		return nil
	}
	if err := h.m.Set(ctx, start); !errors.Is(err, errBoom) {
		t.Fatalf("Set() = %v, want %v", err, errBoom)
	}
	if diff := cmp.Diff(before, rules()); diff != "" {
		t.Fatalf("rules not put back (-before +after):\n%s", diff)
	}
	h.links.fail = nil
	if err := h.m.Set(ctx, start); err != nil {
		t.Fatal(err)
	}
	if d, err := h.m.Check(ctx, start); err != nil || len(d) > 0 {
		t.Fatalf("Check: %v %v", d, err)
	}
	cold := newFakeHost()
	if err := cold.m.Set(ctx, start); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cold.dump(), h.dump()); diff != "" {
		t.Fatalf("differs from scratch (-scratch +got):\n%s", diff)
	}
}
