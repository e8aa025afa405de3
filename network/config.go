package network

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// DefaultChainPrefix prefixes every iptables/ebtables chain sded owns.
const DefaultChainPrefix = "SDED"

// Config is the whole desired network state of one host. The reconciler builds
// it from replicated state and hands it to Manager.Set; anything sded owns on
// the host that is not in Config is removed.
type Config struct {
	// ChainPrefix names sded's chains (PREFIX-INPUT, PREFIX-FORWARD, ...).
	// Empty means DefaultChainPrefix; it must start with "SDED".
	ChainPrefix string
	Networks    []Network
}

// Network is one project's isolated layer-2 segment.
type Network struct {
	// ID is the stable short id of the network (usually the project id):
	// 1-64 characters of [a-z0-9-]. It is recorded in the bridge's alias.
	ID string
	// Bridge is the Linux bridge name; empty means BridgeName(ID).
	Bridge string
	// Subnet is the network's IPv4 subnet (see AllocateSubnet).
	Subnet netip.Prefix
	// Gateway is the host's address on the bridge; zero means the first host
	// address of Subnet.
	Gateway netip.Addr
	// IsolateWorkstations drops traffic between workstations of the same
	// network (they can still reach the gateway services).
	IsolateWorkstations bool
	// GatewayTCPPorts are the TCP ports on Gateway the network may reach
	// (the airlock endpoint, a package mirror). DHCP (UDP 67) is always open.
	GatewayTCPPorts []uint16
	// Allow lists approved internal services outside the host that the
	// network may reach (routed, without NAT).
	Allow []Allow
	// Hosts are the workstations' fixed leases.
	Hosts []Host
}

// Allow is one allowlist entry: traffic from the network to CIDR on Proto/Port.
type Allow struct {
	CIDR  netip.Prefix
	Proto string // "tcp" or "udp"
	Port  uint16
}

// Host is a workstation's fixed lease and the bridge port it is attached by.
type Host struct {
	MAC net.HardwareAddr
	IP  netip.Addr
	// Hostname is optional; DHCP hands it to the workstation (option 12).
	// 1-63 characters of [a-z0-9-], not starting or ending with '-'.
	Hostname string
	// Port is the name of the workstation's bridge port (the VM's tap or the
	// host end of a veth); empty means PortName(MAC). Traffic entering the
	// bridge from this port must carry MAC and IP; ports attached to an sded
	// bridge that belong to no Host are detached by Set.
	Port string
}

var (
	// ErrInvalidConfig wraps every validation failure of a Config.
	ErrInvalidConfig = errors.New("invalid network config")
	// ErrNameCollision means a link sded wants to create already exists and
	// is not owned by sded.
	ErrNameCollision = errors.New("link name collision")
)

// portPrefix starts every workstation port name; ebtables drops frames
// from any port with this prefix that has no lease.
const portPrefix = "sdv"

var (
	portRE   = regexp.MustCompile(`^sdv[a-z0-9]{1,12}$`)
	hostRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	idRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	linkRE   = regexp.MustCompile(`^sd[a-z0-9]{1,13}$`)
	prefixRE = regexp.MustCompile(`^SDED[A-Z0-9]{0,4}$`)
)

// BridgeName derives the bridge name of network id: "sd" and 12 hex digits of
// SHA-256(id), 14 characters, deterministic. Validate rejects the (unlikely)
// collision of two ids.
func BridgeName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "sd" + hex.EncodeToString(sum[:6])
}

// PortName is the default bridge port name of a workstation NIC: "sdv" and
// the 12 hex digits of its MAC (15 characters). The hypervisor names the VM's
// tap with it (libvirt <target dev='...'/>).
func PortName(mac net.HardwareAddr) string {
	return portPrefix + hex.EncodeToString(mac) // mac.String() without the colons
}

func (c Config) prefix() string {
	if c.ChainPrefix == "" {
		return DefaultChainPrefix
	}
	return c.ChainPrefix
}

func (n Network) bridge() string {
	if n.Bridge == "" {
		return BridgeName(n.ID)
	}
	return n.Bridge
}

func (n Network) gateway() netip.Addr {
	if n.Gateway.IsValid() {
		return n.Gateway
	}
	return n.Subnet.Masked().Addr().Next()
}

// key is the suffix of the network's chain names.
func (n Network) key() string { return strings.TrimPrefix(n.bridge(), "sd") }

func (h Host) port() string {
	if h.Port == "" {
		return PortName(h.MAC)
	}
	return h.Port
}

// normalized returns c with defaults filled in and networks sorted by bridge.
// The result shares no memory with c (Manager keeps it to compare the next
// config with, so a caller changing its config in place cannot alter it).
func (c Config) normalized() Config {
	out := Config{ChainPrefix: c.prefix()}
	for _, n := range c.Networks {
		n.Bridge = n.bridge()
		n.Gateway = n.gateway()
		n.Allow = slices.Clone(n.Allow)
		hosts := make([]Host, len(n.Hosts))
		for i, h := range n.Hosts {
			h.Port = h.port()
			h.MAC = slices.Clone(h.MAC)
			hosts[i] = h
		}
		slices.SortFunc(hosts, func(a, b Host) int { return strings.Compare(a.Port, b.Port) })
		n.Hosts = hosts
		ports := slices.Clone(n.GatewayTCPPorts)
		slices.Sort(ports)
		n.GatewayTCPPorts = ports
		out.Networks = append(out.Networks, n)
	}
	slices.SortFunc(out.Networks, func(a, b Network) int { return strings.Compare(a.Bridge, b.Bridge) })
	return out
}

// Validate checks c and returns every problem found, each wrapping
// ErrInvalidConfig. It checks names, subnets (IPv4, no overlaps), gateway,
// ports, allowlist entries and leases (unique MACs, IPs and ports).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...)))
	}
	if !prefixRE.MatchString(c.prefix()) {
		bad("chain prefix %q must be SDED followed by up to 4 of [A-Z0-9]", c.ChainPrefix)
	}
	ids := map[string]bool{}
	bridges := map[string]string{}
	macs := map[string]string{}
	ports := map[string]string{}
	var subnets []Network
	for _, n := range c.Networks {
		where := netWhere(n.ID) // formatted only for an error
		if !idRE.MatchString(n.ID) {
			bad("%s: id must be 1-64 characters of [a-z0-9-] starting with a letter or digit", where)
		}
		if ids[n.ID] {
			bad("%s: duplicate id", where)
		}
		ids[n.ID] = true
		br := n.bridge()
		if n.Bridge != "" && !linkRE.MatchString(br) { // BridgeName always matches
			bad("%s: bridge name %q must be \"sd\" and 1-13 of [a-z0-9]", where, br)
		}
		if other, ok := bridges[br]; ok {
			bad("%s: bridge name %q collides with network %q", where, br, other)
		}
		bridges[br] = n.ID
		if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
			bad("%s: subnet %v must be an IPv4 prefix", where, n.Subnet)
			continue
		}
		if n.Subnet != n.Subnet.Masked() {
			bad("%s: subnet %v has host bits set (want %v)", where, n.Subnet, n.Subnet.Masked())
		}
		if n.Subnet.Bits() < 16 || n.Subnet.Bits() > 29 {
			bad("%s: subnet %v must be between /16 and /29", where, n.Subnet)
		}
		subnets = append(subnets, n)
		gw := n.gateway()
		if !hostAddr(n.Subnet, gw) {
			bad("%s: gateway %v is not a host address of %v", where, gw, n.Subnet)
		}
		seenPort := map[uint16]bool{}
		for _, p := range n.GatewayTCPPorts {
			if p == 0 || seenPort[p] {
				bad("%s: gateway TCP port %d is zero or repeated", where, p)
			}
			seenPort[p] = true
		}
		for _, a := range n.Allow {
			if err := a.validate(); err != nil {
				bad("%s: %v", where, err)
			}
		}
		ips := map[netip.Addr]bool{}
		for _, h := range n.Hosts {
			hw := hostWhere{n.ID, h.MAC}
			if len(h.MAC) != 6 || h.MAC[0]&1 == 1 || isZero(h.MAC) {
				bad("%s: MAC must be a 6-byte unicast address", hw)
			} else if other, ok := macs[string(h.MAC)]; ok {
				bad("%s: MAC already leased in network %q", hw, other)
			} else {
				macs[string(h.MAC)] = n.ID
			}
			if !hostAddr(n.Subnet, h.IP) || h.IP == gw {
				bad("%s: IP %v is not a free host address of %v (gateway %v)", hw, h.IP, n.Subnet, gw)
			}
			if h.Hostname != "" && !hostRE.MatchString(h.Hostname) {
				bad("%s: hostname %q must be 1-63 of [a-z0-9-], not starting or ending with '-'", hw, h.Hostname)
			}
			if ips[h.IP] {
				bad("%s: IP %v leased twice", hw, h.IP)
			}
			ips[h.IP] = true
			if len(h.MAC) == 6 {
				p := h.port()
				if h.Port != "" && !portRE.MatchString(p) { // PortName of 6 bytes always matches
					bad("%s: port name %q must be \"sdv\" and 1-12 of [a-z0-9]", hw, p)
				}
				if other, ok := ports[p]; ok {
					bad("%s: port name %q already used in network %q", hw, p, other)
				}
				ports[p] = n.ID
			}
		}
	}
	// Overlapping subnets: sorted by first address, if any two overlap then
	// (prefixes nest) some neighbours do, so checking neighbours suffices.
	sorted := slices.Clone(subnets)
	slices.SortFunc(sorted, func(a, b Network) int { return a.Subnet.Addr().Compare(b.Subnet.Addr()) })
	for i := 1; i < len(sorted); i++ {
		if a, b := sorted[i-1], sorted[i]; a.Subnet.Overlaps(b.Subnet) {
			bad("network %q: subnet %v overlaps network %q (%v)", b.ID, b.Subnet, a.ID, a.Subnet)
		}
	}
	for _, n := range c.Networks {
		for _, a := range n.Allow {
			for _, o := range subnets {
				if a.CIDR.IsValid() && a.CIDR.Overlaps(o.Subnet) {
					bad("network %q: allowlist %v overlaps project subnet %v of %q", n.ID, a.CIDR, o.Subnet, o.ID)
				}
			}
		}
	}
	for p := range ports {
		if _, ok := bridges[p]; ok {
			bad("port name %q is also a bridge name", p)
		}
	}
	return errors.Join(errs...)
}

// netWhere and hostWhere name what an error is about; they are formatted
// only when there is an error (Validate runs on every Set, with hundreds
// of networks).
type netWhere string

func (w netWhere) String() string { return fmt.Sprintf("network %q", string(w)) }

type hostWhere struct {
	id  string
	mac net.HardwareAddr
}

func (w hostWhere) String() string { return fmt.Sprintf("network %q: host %v", w.id, w.mac) }

func (a Allow) validate() error {
	switch {
	case !a.CIDR.IsValid() || !a.CIDR.Addr().Is4():
		return fmt.Errorf("allowlist CIDR %v must be an IPv4 prefix", a.CIDR)
	case a.CIDR != a.CIDR.Masked():
		return fmt.Errorf("allowlist CIDR %v has host bits set", a.CIDR)
	case a.CIDR.Bits() < 8:
		return fmt.Errorf("allowlist CIDR %v is wider than /8; list the internal service itself", a.CIDR)
	case a.Proto != "tcp" && a.Proto != "udp":
		return fmt.Errorf("allowlist %v: protocol %q must be tcp or udp", a.CIDR, a.Proto)
	case a.Port == 0:
		return fmt.Errorf("allowlist %v: port must be 1-65535", a.CIDR)
	}
	return nil
}

// hostAddr reports whether a is a usable host address of p (not the network
// or broadcast address).
func hostAddr(p netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() || !a.Is4() || !p.Contains(a) {
		return false
	}
	return a != p.Masked().Addr() && a != lastAddr(p)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << host) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
