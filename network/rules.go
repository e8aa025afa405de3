package network

import "fmt"

// family is one rule table sded programs: the IPv4 and IPv6 filter tables
// (iptables, ip6tables) and the bridge filter table (ebtables).
type family string

const (
	famEB family = "eb"
	famV6 family = "ipv6"
	famV4 family = "ipv4"
)

// families is the order Set applies them in: layer 2 first, so a port's
// anti-spoofing is in place before the IP rules that trust its addresses.
var families = []family{famEB, famV6, famV4}

// ruleset is the desired content of sded's chains in one family's filter
// table: owned chains with their rules (as iptables-save prints them, without
// "-A CHAIN"), and for each built-in chain the jump that must be its first rule.
type ruleset struct {
	chains map[string][]string
	hooks  map[string]string
}

func newRuleset() ruleset {
	return ruleset{chains: map[string][]string{}, hooks: map[string]string{}}
}

type chainNames struct{ input, forward string }

func names(prefix string) chainNames {
	return chainNames{input: prefix + "-INPUT", forward: prefix + "-FORWARD"}
}

// desired computes the rulesets of a normalized, valid config. An empty
// config has no chains and no hooks, so Set removes everything.
func desired(c Config) map[family]ruleset {
	out := map[family]ruleset{famEB: newRuleset(), famV6: newRuleset(), famV4: newRuleset()}
	if len(c.Networks) == 0 {
		return out
	}
	p := c.prefix()
	cn := names(p)
	for _, f := range families {
		rs := out[f]
		rs.hooks["INPUT"] = "-j " + cn.input
		rs.hooks["FORWARD"] = "-j " + cn.forward
		rs.chains[cn.input] = []string{}
		rs.chains[cn.forward] = []string{}
	}
	for _, n := range c.Networks {
		v4Rules(out[famV4], p, n)
		v6Rules(out[famV6], p, n)
		ebRules(out[famEB], p, n)
	}
	// Layer 2: frames from ports named like sded's (sdv...) are dispatched
	// by port to their project's chain, which accepts the leased (MAC, IP)
	// pairs; whatever comes back, or comes from a port without a lease, is
	// dropped.
	eb := out[famEB]
	for base, dispatch := range map[string]string{cn.input: p + "-PORTS-IN", cn.forward: p + "-PORTS-FWD"} {
		eb.chains[base] = []string{"-i " + portPrefix + "+ -j " + dispatch, "-i " + portPrefix + "+ -j DROP"}
		if _, ok := eb.chains[dispatch]; !ok {
			eb.chains[dispatch] = []string{}
		}
	}
	return out
}

// v4Rules: from the bridge to the host only DHCP and the gateway services;
// routed traffic only to allowlisted services (and their replies); bridged
// traffic (seen here when br_netfilter is active) only if not isolated.
func v4Rules(rs ruleset, p string, n Network) {
	cn := names(p)
	br := n.Bridge
	in := p + "-I-" + n.key()
	fwd := p + "-F-" + n.key()
	rs.chains[cn.input] = append(rs.chains[cn.input], "-i "+br+" -j "+in)
	rs.chains[cn.forward] = append(rs.chains[cn.forward], "-i "+br+" -j "+fwd, "-o "+br+" -j "+fwd)

	ir := []string{"-p udp -m udp --sport 68 --dport 67 -j ACCEPT"}
	gw := n.Gateway.String() + "/32"
	for _, port := range n.GatewayTCPPorts {
		ir = append(ir, fmt.Sprintf("-d %s -p tcp -m tcp --dport %d -j ACCEPT", gw, port))
	}
	rs.chains[in] = append(ir, "-j DROP")

	var fr []string
	if n.IsolateWorkstations {
		fr = append(fr, "-i "+br+" -o "+br+" -j DROP")
	} else {
		fr = append(fr, "-i "+br+" -o "+br+" -j ACCEPT")
	}
	for _, a := range n.Allow {
		fr = append(fr, fmt.Sprintf("-s %s -d %s -i %s -p %s -m %s --dport %d -j ACCEPT",
			n.Subnet, a.CIDR, br, a.Proto, a.Proto, a.Port))
	}
	if len(n.Allow) > 0 {
		fr = append(fr, fmt.Sprintf("-d %s -o %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", n.Subnet, br))
	}
	rs.chains[fwd] = append(fr, "-j DROP")
}

// v6Rules: no IPv6 at all into, out of or through a project bridge.
func v6Rules(rs ruleset, p string, n Network) {
	cn := names(p)
	rs.chains[cn.input] = append(rs.chains[cn.input], "-i "+n.Bridge+" -j DROP")
	rs.chains[cn.forward] = append(rs.chains[cn.forward], "-i "+n.Bridge+" -j DROP", "-o "+n.Bridge+" -j DROP")
}

// ebRules: a frame a workstation port sends (to the host or to another port)
// is dispatched by its port to the project's chain, which accepts it only
// from the port's leased MAC and, for IPv4, the leased IP as source (or
// 0.0.0.0 to 255.255.255.255 udp 68->67 for DHCP), for ARP, the leased MAC
// and IP as sender. Anything else returns and is dropped: other MACs and IPs,
// ARP for someone else's address, ARP probes, IPv6 and other ethertypes.
// With IsolateWorkstations, a port's frames are dropped in FORWARD (they
// still reach the host).
func ebRules(rs ruleset, p string, n Network) {
	if len(n.Hosts) == 0 {
		return
	}
	ch := p + "-B-" + n.key()
	var r []string
	for _, h := range n.Hosts {
		mac, ip := h.MAC.String(), h.IP.String()
		rs.chains[p+"-PORTS-IN"] = append(rs.chains[p+"-PORTS-IN"], "-i "+h.Port+" -j "+ch)
		fwd := ch
		if n.IsolateWorkstations {
			fwd = "DROP"
		}
		rs.chains[p+"-PORTS-FWD"] = append(rs.chains[p+"-PORTS-FWD"], "-i "+h.Port+" -j "+fwd)
		r = append(r,
			"-p IPv4 -s "+mac+" -i "+h.Port+" --ip-src "+ip+" -j ACCEPT",
			"-p IPv4 -s "+mac+" -i "+h.Port+" --ip-src 0.0.0.0 --ip-dst 255.255.255.255 --ip-proto udp --ip-sport 68 --ip-dport 67 -j ACCEPT",
			"-p ARP -s "+mac+" -i "+h.Port+" --arp-ip-src "+ip+" --arp-mac-src "+mac+" -j ACCEPT",
		)
	}
	rs.chains[ch] = r
}
