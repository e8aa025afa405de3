package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// TestAllocateSubnet: the lowest free subnet, or a clear error for an
// exhausted pool or inconsistent existing allocations.
func TestAllocateSubnet(t *testing.T) {
	tests := []struct {
		name     string
		pool     string
		bits     int
		existing []string
		want     string
		err      error
	}{
		{"first", "10.100.0.0/16", 24, nil, "10.100.0.0/24", nil},
		{"skips used", "10.100.0.0/16", 24, []string{"10.100.0.0/24", "10.100.1.0/24"}, "10.100.2.0/24", nil},
		{"fills hole", "10.100.0.0/16", 24, []string{"10.100.0.0/24", "10.100.2.0/24"}, "10.100.1.0/24", nil},
		{"ignores outside pool", "10.100.0.0/16", 24, []string{"192.168.0.0/24"}, "10.100.0.0/24", nil},
		{"smaller subnets", "10.100.0.0/24", 26, []string{"10.100.0.0/26"}, "10.100.0.64/26", nil},
		{"bigger existing blocks", "10.100.0.0/16", 24, []string{"10.100.0.0/23"}, "10.100.2.0/24", nil},
		{"exhausted", "10.100.0.0/23", 24, []string{"10.100.0.0/24", "10.100.1.0/24"}, "", ErrPoolExhausted},
		{"overlapping existing", "10.100.0.0/16", 24, []string{"10.100.0.0/24", "10.100.0.128/25"}, "", ErrPoolOverlap},
		{"existing contains pool", "10.100.0.0/16", 24, []string{"10.0.0.0/8"}, "", ErrPoolOverlap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ex []netip.Prefix
			for _, e := range tt.existing {
				ex = append(ex, pfx(e))
			}
			got, err := AllocateSubnet(pfx(tt.pool), tt.bits, ex)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == nil && got != pfx(tt.want) {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
			if err != nil {
				t.Logf("error text: %v", err)
			}
		})
	}
	for _, bad := range []struct {
		pool string
		bits int
	}{{"10.100.0.1/16", 24}, {"10.100.0.0/16", 8}, {"10.100.0.0/16", 30}, {"fd00::/64", 120}} {
		if _, err := AllocateSubnet(pfx(bad.pool), bad.bits, nil); err == nil {
			t.Errorf("AllocateSubnet(%s, %d) accepted", bad.pool, bad.bits)
		}
	}
}

// TestValidate: each kind of bad config is refused with a message naming
// the problem, before anything is touched.
func TestValidate(t *testing.T) {
	with := func(f func(n *Network)) Config {
		n := netAlpha
		n.Hosts = append([]Host(nil), netAlpha.Hosts...)
		f(&n)
		return Config{Networks: []Network{n}}
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad id", with(func(n *Network) { n.ID = "Alpha!" }), "id must be"},
		{"duplicate id", Config{Networks: []Network{netAlpha, netAlpha}}, "duplicate id"},
		{"bridge name too long", with(func(n *Network) { n.Bridge = "sd0123456789abcd" }), "bridge name"},
		{"bridge name without prefix", with(func(n *Network) { n.Bridge = "br0" }), "bridge name"},
		{"bridge name collision", Config{Networks: []Network{netAlpha, func() Network { b := netBeta; b.Bridge = BridgeName("alpha"); return b }()}}, "collides with network"},
		{"ipv6 subnet", with(func(n *Network) { n.Subnet = pfx("fd00::/64") }), "must be an IPv4 prefix"},
		{"host bits", with(func(n *Network) { n.Subnet = pfx("10.77.1.5/24") }), "host bits"},
		{"subnet too big", with(func(n *Network) { n.Subnet = pfx("10.0.0.0/8"); n.Hosts = nil }), "between /16 and /29"},
		{"overlapping subnets", Config{Networks: []Network{netAlpha, func() Network { b := netBeta; b.Subnet = pfx("10.77.1.0/25"); b.Hosts = nil; return b }()}}, "overlaps network"},
		{"gateway outside", with(func(n *Network) { n.Gateway = netip.MustParseAddr("10.1.1.1") }), "gateway"},
		{"gateway broadcast", with(func(n *Network) { n.Gateway = netip.MustParseAddr("10.77.1.255") }), "gateway"},
		{"port zero", with(func(n *Network) { n.GatewayTCPPorts = []uint16{0} }), "gateway TCP port 0"},
		{"allow ipv6", with(func(n *Network) { n.Allow = []Allow{{CIDR: pfx("fd00::/64"), Proto: "tcp", Port: 1}} }), "must be an IPv4 prefix"},
		{"allow internet", with(func(n *Network) { n.Allow = []Allow{{CIDR: pfx("0.0.0.0/0"), Proto: "tcp", Port: 443}} }), "wider than /8"},
		{"allow bad proto", with(func(n *Network) { n.Allow = []Allow{{CIDR: pfx("192.0.2.0/24"), Proto: "icmp", Port: 1}} }), "protocol"},
		{"allow no port", with(func(n *Network) { n.Allow = []Allow{{CIDR: pfx("192.0.2.0/24"), Proto: "udp"}} }), "port must be"},
		{"allow host bits", with(func(n *Network) { n.Allow = []Allow{{CIDR: pfx("192.0.2.1/24"), Proto: "udp", Port: 1}} }), "host bits"},
		{"allow other project", Config{Networks: []Network{netBeta, func() Network {
			a := netAlpha
			a.Allow = []Allow{{CIDR: pfx("10.77.2.0/24"), Proto: "tcp", Port: 22}}
			return a
		}()}}, "overlaps project subnet"},
		{"multicast mac", with(func(n *Network) { n.Hosts[0].MAC = mac("01:00:5e:00:00:01") }), "unicast"},
		{"short mac", with(func(n *Network) { n.Hosts[0].MAC = net.HardwareAddr{1, 2} }), "unicast"},
		{"duplicate mac", with(func(n *Network) { n.Hosts[1].MAC = n.Hosts[0].MAC }), "MAC already leased"},
		{"ip outside", with(func(n *Network) { n.Hosts[0].IP = netip.MustParseAddr("10.77.2.3") }), "not a free host address"},
		{"ip is gateway", with(func(n *Network) { n.Hosts[0].IP = netip.MustParseAddr("10.77.1.1") }), "not a free host address"},
		{"duplicate ip", with(func(n *Network) { n.Hosts[1].IP = n.Hosts[0].IP }), "leased twice"},
		{"bad port name", with(func(n *Network) { n.Hosts[0].Port = "vnet0" }), "port name"},
		{"port name without sdv", with(func(n *Network) { n.Hosts[0].Port = "sdx1" }), "port name"},
		{"bad hostname", with(func(n *Network) { n.Hosts[0].Hostname = "-ws" }), "hostname"},
		{"bad chain prefix", Config{ChainPrefix: "FOO", Networks: []Network{netAlpha}}, "chain prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
			h := newFakeHost()
			before := h.dump()
			if err := h.m.Set(context.Background(), tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Set() = %v", err)
			}
			if diff := cmp.Diff(before, h.dump()); diff != "" {
				t.Fatalf("Set with bad config changed the host:\n%s", diff)
			}
		})
	}
	if err := (Config{Networks: []Network{netAlpha, netBeta, netGamma}}).Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

// TestSetFailures: when applying fails midway, nothing of that Set remains:
// rule families already changed are put back and bridges created are deleted.
func TestSetFailures(t *testing.T) {
	ctx := context.Background()
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		prepare func(h *fakeHost)
		want    error
	}{
		{"ipv4 restore fails after eb and ipv6", func(h *fakeHost) {
			h.tables[famV4].fail = func(string) error { return fmt.Errorf("applying iptables rules: %w", ErrLocked) }
		}, ErrLocked},
		{"ebtables missing", func(h *fakeHost) {
			h.tables[famEB].fail = func(string) error { return ErrToolMissing }
		}, ErrToolMissing},
		{"bridge creation fails for the second network", func(h *fakeHost) {
			h.links.fail = func(op, name string) error {
				if op == "add" && name == BridgeName("beta") {
					return errBoom
				}
				return nil
			}
		}, errBoom},
		{"address fails", func(h *fakeHost) {
			h.links.fail = func(op, name string) error {
				if op == "addaddr" && name == BridgeName("gamma") {
					return errBoom
				}
				return nil
			}
		}, errBoom},
		{"name taken by a foreign link", func(h *fakeHost) {
			h.links.l[BridgeName("beta")] = &link{Name: BridgeName("beta"), Kind: "bridge", Alias: "someone else"}
		}, ErrNameCollision},
		{"name taken by a foreign veth", func(h *fakeHost) {
			h.links.l[BridgeName("gamma")] = &link{Name: BridgeName("gamma"), Kind: "veth"}
		}, ErrNameCollision},
		{"subnet used on the host", func(h *fakeHost) {
			h.links.l["eth1"] = &link{Name: "eth1", Kind: "device", Addrs: []netip.Prefix{pfx("10.77.2.200/16")}}
		}, ErrAddressConflict},
	}
	start := Config{Networks: []Network{netAlpha}}
	next := Config{Networks: []Network{netAlpha, netBeta, netGamma}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost()
			if err := h.m.Set(ctx, start); err != nil {
				t.Fatal(err)
			}
			tt.prepare(h)
			before := h.dump()
			err := h.m.Set(ctx, next)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Set() = %v, want %v", err, tt.want)
			}
			t.Logf("error text: %v", err)
			if diff := cmp.Diff(before, h.dump()); diff != "" {
				t.Fatalf("failed Set left changes (-before +after):\n%s", diff)
			}
			// Once the cause is gone, Set converges.
			for _, ft := range h.tables {
				ft.fail = nil
			}
			h.links.fail = nil
			for _, name := range []string{BridgeName("beta"), BridgeName("gamma"), "eth1"} {
				if l, ok := h.links.l[name]; ok && !l.owned() {
					delete(h.links.l, name)
				}
			}
			if err := h.m.Set(ctx, next); err != nil {
				t.Fatalf("Set after fixing: %v", err)
			}
			if d, err := h.m.Check(ctx, next); err != nil || len(d) > 0 {
				t.Fatalf("Check: %v %v", d, err)
			}
		})
	}
}
