package network

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/network"
	"github.com/sded/sded/network/dhcp"
	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/testenv"
)

// Addresses of the simulated world. The "internet" host is 203.0.113.2
// (and 2001:db8:ff::2), reached from the host namespace over a veth; the
// host forwards IPv4 and IPv6 and even masquerades, so without sded's rules
// every outside probe below would succeed.
const (
	inetV4 = "203.0.113.2"
	inetV6 = "2001:db8:ff::2"
	hostV4 = "203.0.113.1"
)

type ws struct {
	name string
	ns   *netnstest.NS
	mac  net.HardwareAddr
	ip   string
	ip6  string
}

func hw(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

// TestProjectIsolation is the end-to-end isolation test (see package doc).
func TestProjectIsolation(t *testing.T) {
	testenv.RequireRoot(t)
	for _, c := range []string{"ip", "iptables", "ip6tables", "iptables-restore", "ebtables-restore", "busybox"} {
		testenv.RequireCommand(t, c)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()

	host := netnstest.New(t, "host")
	inet := netnstest.New(t, "inet")
	for _, c := range [][]string{
		{"ip", "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", inet.Name},
		{"ip", "addr", "add", hostV4 + "/24", "dev", "uplink"},
		{"ip", "-6", "addr", "add", "2001:db8:ff::1/64", "dev", "uplink", "nodad"},
		{"ip", "link", "set", "uplink", "up"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
		{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "uplink", "-j", "MASQUERADE"},
	} {
		host.MustRun(t, c...)
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", inetV4 + "/24", "dev", "eth0"},
		{"ip", "-6", "addr", "add", inetV6 + "/64", "dev", "eth0", "nodad"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "route", "add", "default", "via", hostV4},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8:ff::1"},
	} {
		inet.MustRun(t, c...)
	}

	a1 := &ws{name: "A1", mac: hw("52:54:00:0a:00:10"), ip: "10.80.1.10", ip6: "fd00:a::10"}
	a2 := &ws{name: "A2", mac: hw("52:54:00:0a:00:11"), ip: "10.80.1.11", ip6: "fd00:a::11"}
	b1 := &ws{name: "B1", mac: hw("52:54:00:0b:00:10"), ip: "10.80.2.10", ip6: "fd00:b::10"}
	c1 := &ws{name: "C1", mac: hw("52:54:00:0c:00:10"), ip: "10.80.3.10", ip6: "fd00:c::10"}
	c2 := &ws{name: "C2", mac: hw("52:54:00:0c:00:11"), ip: "10.80.3.11", ip6: "fd00:c::11"}
	lease := func(ws ...*ws) []network.Host {
		var hs []network.Host
		for _, w := range ws {
			hs = append(hs, network.Host{MAC: w.mac, IP: netip.MustParseAddr(w.ip)})
		}
		return hs
	}
	cfg := network.Config{Networks: []network.Network{
		{ID: "proj-a", Subnet: netip.MustParsePrefix("10.80.1.0/24"), GatewayTCPPorts: []uint16{9443}, Hosts: lease(a1, a2)},
		{ID: "proj-b", Subnet: netip.MustParsePrefix("10.80.2.0/24"), GatewayTCPPorts: []uint16{9443}, Hosts: lease(b1),
			Allow: []network.Allow{{CIDR: netip.MustParsePrefix(inetV4 + "/32"), Proto: "tcp", Port: 8443}}},
		{ID: "proj-c", Subnet: netip.MustParsePrefix("10.80.3.0/24"), GatewayTCPPorts: []uint16{9443}, Hosts: lease(c1, c2),
			IsolateWorkstations: true},
	}}
	gwA, gwB, gwC := "10.80.1.1", "10.80.2.1", "10.80.3.1"

	var m *network.Manager
	if err := host.Do(func() (err error) { m, err = network.New(ctx, log, network.Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	set := func() {
		t.Helper()
		if err := host.Do(func() error { return m.Set(ctx, cfg) }); err != nil {
			t.Fatal(err)
		}
	}
	set()
	pool := dhcp.NewPool(log)
	t.Cleanup(pool.Close)
	if err := host.Do(func() error { return pool.Set(ctx, network.DHCPConfigs(cfg)) }); err != nil {
		t.Fatal(err)
	}

	// The host's services: the gateway service (airlock) on 9443 and
	// services that must stay unreachable from projects.
	for _, port := range []string{"9443", "8443", "22", "7000"} {
		serveTCP(t, host, ":"+port)
	}
	serveUDP(t, host, ":53")
	// The internet: web, DNS, and an approved internal service on 8443.
	for _, port := range []string{"80", "443", "8443"} {
		serveTCP(t, inet, ":"+port)
	}
	serveUDP(t, inet, ":53")

	script := t.TempDir() + "/udhcpc.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && ip addr add $ip/$mask dev $interface && echo \"BOUND $ip\"\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	bridgeOf := map[*ws]string{a1: network.BridgeName("proj-a"), a2: network.BridgeName("proj-a"),
		b1: network.BridgeName("proj-b"), c1: network.BridgeName("proj-c"), c2: network.BridgeName("proj-c")}
	gwOf := map[*ws]string{a1: gwA, a2: gwA, b1: gwB, c1: gwC, c2: gwC}
	for _, w := range []*ws{a1, a2, b1, c1, c2} {
		w.ns = netnstest.New(t, "ws"+strings.ToLower(w.name))
		port := network.PortName(w.mac)
		host.MustRun(t, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", w.ns.Name)
		host.MustRun(t, "ip", "link", "set", port, "master", bridgeOf[w], "up")
		w.ns.MustRun(t, "ip", "link", "set", "eth0", "address", w.mac.String(), "up")
		// The address comes from sded's DHCP server, through the firewall.
		out, err := w.ns.Run("busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "4", "-T", "1", "-s", script)
		if err != nil || !strings.Contains(out, "BOUND "+w.ip) {
			t.Fatalf("%s: no DHCP lease for %s: %v\n%s", w.name, w.ip, err, out)
		}
		t.Logf("%s got %s by DHCP from sded", w.name, w.ip)
		// A hostile workstation would route everything to the gateway, and
		// talk IPv6 on the segment.
		w.ns.MustRun(t, "ip", "route", "add", "default", "via", gwOf[w])
		w.ns.MustRun(t, "ip", "-6", "addr", "add", w.ip6+"/64", "dev", "eth0", "nodad")
		w.ns.MustRun(t, "ip", "-6", "route", "add", "default", "via", w.ip6[:strings.LastIndex(w.ip6, ":")]+":1")
		serveTCP(t, w.ns, ":7777")
		serveUDP(t, w.ns, ":7778")
		serveUDP(t, w.ns, ":53") // a workstation running a DNS server
	}
	// Let neighbour discovery settle the first time.
	time.Sleep(200 * time.Millisecond)

	hp := func(h, p string) string { return net.JoinHostPort(h, p) }
	tcp := func(group string, from *ws, to, what string, want bool) *probe {
		return &probe{group: group, from: from.name, what: "tcp " + what, to: to, want: want, run: func() error { return probeTCP(from.ns, to, "") }}
	}
	udp := func(group string, from *ws, to, what string, want bool) *probe {
		return &probe{group: group, from: from.name, what: "udp " + what, to: to, want: want, run: func() error { return probeUDP(from.ns, to) }}
	}
	dns := func(group string, from *ws, to string, want bool) *probe {
		return &probe{group: group, from: from.name, what: "dns query", to: to, want: want, run: func() error { return probeDNS(from.ns, to) }}
	}
	ping := func(group string, from *ws, to string, want bool) *probe {
		return &probe{group: group, from: from.name, what: "icmp echo", to: to, want: want, run: func() error { return probePing(from.ns, to) }}
	}
	arp := func(group string, from *ws, to string, want bool) *probe {
		return &probe{group: group, from: from.name, what: "arp who-has", to: to, want: want, run: func() error {
			_, err := from.ns.Run("busybox", "arping", "-f", "-c", "2", "-w", "2", "-I", "eth0", to)
			return err
		}}
	}
	probes := []*probe{
		arp("gateway svc", a1, gwA, true),
		arp("host ports", a1, gwB, false),
		arp("host ports", a1, hostV4, false),
		tcp("same project", a1, hp(a2.ip, "7777"), "peer", true),
		udp("same project", a1, hp(a2.ip, "7778"), "peer", true),
		ping("same project", a1, a2.ip, true),
		tcp("same project", a2, hp(a1.ip, "7777"), "peer", true),
		tcp("gateway svc", a1, hp(gwA, "9443"), "airlock", true),
		tcp("gateway svc", b1, hp(gwB, "9443"), "airlock", true),
		tcp("gateway svc", c1, hp(gwC, "9443"), "airlock", true),
		tcp("allowlist", b1, hp(inetV4, "8443"), "approved service", true),

		tcp("isolated", c1, hp(c2.ip, "7777"), "peer", false),
		udp("isolated", c1, hp(c2.ip, "7778"), "peer", false),
		ping("isolated", c2, c1.ip, false),

		tcp("internet", a1, hp(inetV4, "80"), "http", false),
		tcp("internet", a1, hp(inetV4, "443"), "https", false),
		tcp("internet", a1, hp(inetV4, "8443"), "not allowlisted for A", false),
		dns("internet", a1, hp(inetV4, "53"), false),
		udp("internet", a1, hp(inetV4, "53"), "raw", false),
		ping("internet", a1, inetV4, false),
		tcp("internet", b1, hp(inetV4, "80"), "http (B has allowlist)", false),
		dns("internet", b1, hp(inetV4, "53"), false),
		ping("internet", c1, inetV4, false),
		tcp("internet v6", a1, hp(inetV6, "80"), "http", false),
		ping("internet v6", a1, inetV6, false),

		tcp("other project", a1, hp(b1.ip, "7777"), "workstation", false),
		udp("other project", a1, hp(b1.ip, "7778"), "workstation", false),
		ping("other project", a1, b1.ip, false),
		dns("other project", a1, hp(b1.ip, "53"), false),
		tcp("other project v6", a1, hp(b1.ip6, "7777"), "workstation over IPv6", false),
		dns("same project", a1, hp(a2.ip, "53"), true),
		tcp("other project", b1, hp(a1.ip, "7777"), "workstation", false),
		tcp("other project", c1, hp(a2.ip, "7777"), "workstation", false),
		tcp("other project", a1, hp(gwB, "9443"), "B's gateway service", false),
		tcp("other project", b1, hp(gwA, "9443"), "A's gateway service", false),

		tcp("host ports", a1, hp(gwA, "8443"), "management UI", false),
		tcp("host ports", a1, hp(gwA, "22"), "ssh", false),
		tcp("host ports", a1, hp(gwA, "7000"), "raft", false),
		dns("host ports", a1, hp(gwA, "53"), false),
		ping("host ports", a1, gwA, false),
		tcp("host ports", a1, hp(hostV4, "8443"), "UI on uplink address", false),
		tcp("host ports", b1, hp(hostV4, "22"), "ssh on uplink address", false),
		tcp("host ports", c1, hp(gwC, "8443"), "management UI", false),
		tcp("host ports v6", a1, hp("2001:db8:ff::1", "8443"), "UI on uplink IPv6", false),

		tcp("ipv6 on bridge", a1, hp(a2.ip6, "7777"), "peer over IPv6", false),
		ping("ipv6 on bridge", a1, a2.ip6, false),
	}
	runProbes(t, "PROBE MATRIX (sded rules applied)", probes)

	t.Run("spoofing", func(t *testing.T) { spoofing(t, host, m, cfg, a1, a2, gwA, bridgeOf[a1]) })
	t.Run("rogue port", func(t *testing.T) { roguePort(t, ctx, host, m, cfg, a2, gwA, bridgeOf[a1], script) })
	t.Run("hook removed and repaired", func(t *testing.T) {
		// Without sded's jump in FORWARD, the host (which forwards and NATs)
		// would route the project to the internet: the probes are real.
		host.MustRun(t, "iptables", "-D", "FORWARD", "-j", "SDED-FORWARD")
		runProbes(t, "HOOK REMOVED BY HAND (control)", []*probe{tcp("internet", a1, hp(inetV4, "80"), "http", true)})
		var drift []network.Drift
		if err := host.Do(func() (err error) { drift, err = m.Check(ctx, cfg); return err }); err != nil {
			t.Fatal(err)
		}
		t.Logf("Check reported: %v", drift)
		if len(drift) != 1 || drift[0].Kind != network.DriftHook {
			t.Fatalf("drift = %v, want one hook drift", drift)
		}
		set()
		runProbes(t, "AFTER REPAIR", []*probe{tcp("internet", a1, hp(inetV4, "80"), "http", false)})
	})
	t.Run("host FORWARD policy DROP with br_netfilter", func(t *testing.T) {
		// A Docker-like host: bridged IPv4 goes through iptables FORWARD
		// (bridge-nf-call-iptables=1) and FORWARD drops by default. sded's
		// chains still let same-project workstations talk (and only them).
		if out, _ := host.Run("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"); strings.TrimSpace(out) != "1" {
			t.Skip("br_netfilter is not active in this kernel")
		}
		host.MustRun(t, "iptables", "-P", "FORWARD", "DROP")
		t.Cleanup(func() { host.Run("iptables", "-P", "FORWARD", "ACCEPT") })
		runProbes(t, "HOST FORWARD POLICY DROP", []*probe{
			tcp("same project", a1, hp(a2.ip, "7777"), "peer", true),
			ping("same project", a2, a1.ip, true),
			tcp("isolated", c1, hp(c2.ip, "7777"), "peer", false),
			tcp("other project", a1, hp(b1.ip, "7777"), "workstation", false),
			tcp("gateway svc", a1, hp(gwA, "9443"), "airlock", true),
		})
		if out := host.MustRun(t, "iptables-save", "-t", "filter"); !strings.Contains(out, ":FORWARD DROP") {
			t.Errorf("the host's FORWARD policy changed:\n%s", out)
		}
	})
	t.Run("real VM on project A", func(t *testing.T) { vmWorkstation(t, host, m, pool, cfg, inetV4) })
	t.Run("bridges have no IPv6 address", func(t *testing.T) {
		for _, id := range []string{"proj-a", "proj-b", "proj-c"} {
			if out := host.MustRun(t, "ip", "-6", "addr", "show", "dev", network.BridgeName(id)); strings.TrimSpace(out) != "" {
				t.Errorf("bridge of %s has IPv6 addresses:\n%s", id, out)
			}
		}
	})
	t.Run("host chains keep their policy", func(t *testing.T) {
		out := host.MustRun(t, "iptables-save", "-t", "filter")
		for _, want := range []string{":INPUT ACCEPT", ":FORWARD ACCEPT", ":OUTPUT ACCEPT", "-A INPUT -j SDED-INPUT", "-A FORWARD -j SDED-FORWARD"} {
			if !strings.Contains(out, want) {
				t.Errorf("host iptables lacks %q:\n%s", want, out)
			}
		}
	})
}

// spoofing: A2 tries to use addresses and a MAC that are not its own, and
// to claim A1's IP in ARP.
func spoofing(t *testing.T, host *netnstest.NS, m *network.Manager, cfg network.Config, a1, a2 *ws, gwA, bridge string) {
	hp := net.JoinHostPort
	a2.ns.MustRun(t, "ip", "addr", "add", "10.80.1.50/32", "dev", "eth0")
	a2.ns.MustRun(t, "ip", "addr", "add", a1.ip+"/32", "dev", "eth0")
	// The control runs first, so A2 has resolved the gateway (ARP requests
	// carrying a spoofed sender address would themselves be dropped).
	runProbes(t, "IP SPOOFING: control", []*probe{
		{group: "spoof", from: "A2", what: "tcp from own IP (control)", to: hp(gwA, "9443"), want: true,
			run: func() error { return probeTCP(a2.ns, hp(gwA, "9443"), a2.ip) }},
	})
	runProbes(t, "IP SPOOFING (A2 sends from other source addresses)", []*probe{
		{group: "spoof", from: "A2", what: "tcp from unleased 10.80.1.50", to: hp(gwA, "9443"), want: false,
			run: func() error { return probeTCP(a2.ns, hp(gwA, "9443"), "10.80.1.50") }},
		{group: "spoof", from: "A2", what: "tcp from A1's IP", to: hp(gwA, "9443"), want: false,
			run: func() error { return probeTCP(a2.ns, hp(gwA, "9443"), a1.ip) }},
	})
	a2.ns.MustRun(t, "ip", "addr", "del", "10.80.1.50/32", "dev", "eth0")
	a2.ns.MustRun(t, "ip", "addr", "del", a1.ip+"/32", "dev", "eth0")

	// ARP: the host knows A1's MAC (A1 talked to the gateway); A2 then
	// announces A1's IP with its own MAC. The host's entry must not move,
	// and the frames must have been dropped by sded's bridge rules.
	if err := probeTCP(a1.ns, hp(gwA, "9443"), ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the neighbour locktime
	chain := "SDED-INPUT"
	before := dropCount(t, host, chain)
	a2.ns.MustRun(t, "ip", "addr", "add", a1.ip+"/32", "dev", "eth0") // arping binds to the source address
	out, _ := a2.ns.Run("busybox", "arping", "-U", "-c", "2", "-w", "2", "-I", "eth0", "-s", a1.ip, a1.ip)
	t.Logf("arping -U -s %s from A2:\n%s", a1.ip, out)
	out2, _ := a2.ns.Run("busybox", "arping", "-A", "-c", "2", "-w", "2", "-I", "eth0", "-s", a1.ip, gwA)
	t.Logf("arping -A (unsolicited reply) -s %s from A2:\n%s", a1.ip, out2)
	a2.ns.MustRun(t, "ip", "addr", "del", a1.ip+"/32", "dev", "eth0")
	neigh := host.MustRun(t, "ip", "neigh", "show", a1.ip, "dev", bridge)
	dropped := dropCount(t, host, chain) - before
	t.Logf("host neighbour entry for %s: %s; frames dropped by %s meanwhile: %d", a1.ip, strings.TrimSpace(neigh), chain, dropped)
	if !strings.Contains(neigh, a1.mac.String()) || strings.Contains(neigh, a2.mac.String()) {
		t.Errorf("ARP spoof succeeded: host maps %s to %q, want %s", a1.ip, neigh, a1.mac)
	}
	if dropped < 4 {
		t.Errorf("expected the 4 spoofed ARP frames to be dropped, counter grew by %d", dropped)
	}

	// Control: with sded's layer-2 hook removed by hand, the same spoof
	// does poison the host's entry, so the check above is meaningful.
	host.MustRun(t, "ebtables", "-D", "INPUT", "-j", "SDED-INPUT")
	time.Sleep(1100 * time.Millisecond)
	a2.ns.MustRun(t, "ip", "addr", "add", a1.ip+"/32", "dev", "eth0")
	a2.ns.Run("busybox", "arping", "-U", "-c", "2", "-w", "2", "-I", "eth0", "-s", a1.ip, a1.ip)
	a2.ns.MustRun(t, "ip", "addr", "del", a1.ip+"/32", "dev", "eth0")
	neigh = host.MustRun(t, "ip", "neigh", "show", a1.ip, "dev", bridge)
	t.Logf("control without sded's ebtables hook: host neighbour entry for %s: %s", a1.ip, strings.TrimSpace(neigh))
	if !strings.Contains(neigh, a2.mac.String()) {
		t.Errorf("control: spoof without sded's rules did not change the entry (%q): the ARP probe proves nothing", neigh)
	}
	var drift []network.Drift
	if err := host.Do(func() (err error) { drift, err = m.Check(context.Background(), cfg); return err }); err != nil {
		t.Fatal(err)
	}
	if err := host.Do(func() error { return m.Set(context.Background(), cfg) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("repaired drift: %v", drift)
	host.MustRun(t, "ip", "neigh", "replace", a1.ip, "lladdr", a1.mac.String(), "dev", bridge)

	// MAC spoofing: A2 takes A1's MAC and IP (full impersonation): its port
	// is bound to its own MAC, so it gets nowhere.
	a2.ns.MustRun(t, "ip", "link", "set", "eth0", "address", a1.mac.String())
	a2.ns.MustRun(t, "ip", "addr", "add", a1.ip+"/32", "dev", "eth0")
	a2.ns.MustRun(t, "ip", "neigh", "flush", "dev", "eth0")
	runProbes(t, "MAC SPOOFING (A2 uses A1's MAC and IP)", []*probe{
		{group: "spoof", from: "A2", what: "tcp as A1 (mac+ip)", to: hp(gwA, "9443"), want: false,
			run: func() error { return probeTCP(a2.ns, hp(gwA, "9443"), a1.ip) }},
	})
	a2.ns.MustRun(t, "ip", "addr", "del", a1.ip+"/32", "dev", "eth0")
	a2.ns.MustRun(t, "ip", "link", "set", "eth0", "address", a2.mac.String())
}

var pcntRE = regexp.MustCompile(`-j DROP\s*,\s*pcnt = (\d+)`)

// dropCount reads the packet counter of the final DROP of an ebtables chain.
func dropCount(t *testing.T, host *netnstest.NS, chain string) int {
	out := host.MustRun(t, "ebtables", "-L", chain, "--Lc")
	m := pcntRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no DROP counter in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// roguePort: a workstation attached to project A's bridge without a lease
// (a port sded did not configure) gets no address and reaches nothing; Check
// reports the port and Set detaches it.
func roguePort(t *testing.T, ctx context.Context, host *netnstest.NS, m *network.Manager, cfg network.Config, a2 *ws, gwA, bridge, script string) {
	rogue := netnstest.New(t, "rogue")
	host.MustRun(t, "ip", "link", "add", "sdvrogue", "type", "veth", "peer", "name", "eth0", "netns", rogue.Name)
	host.MustRun(t, "ip", "link", "set", "sdvrogue", "master", bridge, "up")
	rogue.MustRun(t, "ip", "link", "set", "eth0", "address", "52:54:00:0e:0e:0e", "up")
	out, err := rogue.Run("busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "2", "-T", "1", "-s", script)
	if err == nil || strings.Contains(out, "BOUND") {
		t.Errorf("rogue port got a DHCP lease:\n%s", out)
	}
	rogue.MustRun(t, "ip", "addr", "add", "10.80.1.66/24", "dev", "eth0")
	runProbes(t, "ROGUE PORT ON PROJECT A's BRIDGE", []*probe{
		{group: "rogue", from: "rogue", what: "tcp airlock", to: gwA + ":9443", want: false,
			run: func() error { return probeTCP(rogue, gwA+":9443", "") }},
		{group: "rogue", from: "rogue", what: "tcp A2", to: a2.ip + ":7777", want: false,
			run: func() error { return probeTCP(rogue, a2.ip+":7777", "") }},
	})
	var drift []network.Drift
	if err := host.Do(func() (err error) { drift, err = m.Check(ctx, cfg); return err }); err != nil {
		t.Fatal(err)
	}
	t.Logf("Check reported: %v", drift)
	if len(drift) != 1 || drift[0].Kind != network.DriftPort || drift[0].Object != "sdvrogue" {
		t.Fatalf("drift = %v, want the rogue port", drift)
	}
	if err := host.Do(func() error { return m.Set(ctx, cfg) }); err != nil {
		t.Fatal(err)
	}
	if out := host.MustRun(t, "ip", "-o", "link", "show", "sdvrogue"); strings.Contains(out, "master") {
		t.Errorf("rogue port still attached: %s", out)
	}
}
