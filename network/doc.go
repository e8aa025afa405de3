// Package network applies a declarative network configuration to the host:
// sded-owned bridges, addresses and iptables/ip6tables/ebtables chains,
// diffing desired against applied state. It knows nothing of projects beyond
// the Config it is given.
//
// # Use
//
//	m, err := network.New(ctx, log, network.Options{})  // checks the tools exist
//	err = m.Set(ctx, cfg)          // make the host match cfg (idempotent)
//	drift, err := m.Check(ctx, cfg) // what differs; then Set repairs it
//	pool.Set(ctx, network.DHCPConfigs(cfg)) // dhcp.Pool: fixed leases per bridge
//
// Subnets come from AllocateSubnet (pure; the caller stores the result),
// bridge names from BridgeName(id) ("sd" + 12 hex digits of SHA-256(id)),
// workstation bridge ports from PortName(mac) ("sdv" + the MAC's 12 hex
// digits), which the hypervisor gives the VM's tap (<target dev='...'/>).
//
// Set remembers what it applied (rules and links) and on the next call writes
// only the difference, so adding one project touches only that project's
// chains and the dispatch rules. While it knows sded's rules are exactly
// those of the config it last applied (or last checked without rule drift),
// it does not even build the whole ruleset: it compares the networks with
// that config and computes the rules of the changed ones only, old and new
// (a cold start, a change of chain prefix, going to or from no networks, and
// any Set after a failure or after Check found rule drift take the full
// path, which diffs the whole desired ruleset against the remembered tables
// and so repairs drift). It does not re-read the host each time:
// Check does (iptables-save, ip6tables-save, ebtables-save, netlink), reports
// every difference as a Drift and refreshes that memory, so the next Set
// repairs all of it. A reconciler calls Check on a timer, records the drift
// (audit), and calls Set. When a Set fails because the host changed behind
// its memory (a chain it edits was deleted by hand), it undoes itself, reads
// the host afresh and tries once more. With every family on nf_tables,
// Check first reads the kernel's ruleset generation (bumped by every change
// to any nf_tables table): while it is where Manager last left it, the rules
// are exactly what Manager remembers and Check does not re-read them (it does
// at least once a minute anyway). Otherwise Check reads whole tables: about
// 60 ms with 200 projects and several hundred ms with 500 on a busy 2-core
// machine. Links are listed on every Check (one netlink dump for the links
// with the bridges' sysctls, one for their addresses: 10-15 ms with 500
// projects on a busy 2-core machine), so a reconciler should still Check on
// a timer rather than before every Set.
//
// # Ownership
//
// sded touches only: bridges named "sd..." whose alias is "sded:<network
// id>" (a link with a matching name but no such alias is a collision error,
// never changed); chains named "<prefix>-..." (prefix SDED by default) in the
// filter tables; and exactly one jump rule at position 1 of the built-in
// INPUT and FORWARD chains of each family. Host policies and all other chains
// and rules are never changed. Ports attached to an sded bridge that are no
// configured workstation are detached (not deleted).
//
// # Rules
//
// IPv4 (iptables, filter): SDED-INPUT sends traffic from each bridge to the
// project's SDED-I-<key>: DHCP (udp 68->67) and the gateway TCP ports on the
// gateway address are accepted, everything else dropped (management UI,
// raft, SSH, DNS, ICMP, other projects' gateway addresses, the host's other
// addresses). SDED-FORWARD sends traffic into and out of each bridge to
// SDED-F-<key>: routed traffic is dropped (no internet, no other project, no
// NAT can happen since nothing is forwarded) except allowlisted destinations
// (CIDR, tcp/udp, port; routed without NAT, the service needs a route back)
// and their replies (conntrack RELATED,ESTABLISHED). Bridged traffic between
// ports of one bridge, which the kernel passes through FORWARD when
// br_netfilter is active, is accepted, or dropped when IsolateWorkstations.
//
// IPv6 (ip6tables): the bridge has IPv6 disabled (disable_ipv6=1, so the host
// has no IPv6 address there) and every IPv6 packet from or to a bridge is
// dropped in INPUT and FORWARD. The bridge also answers ARP only for its own
// address (arp_ignore=1, arp_announce=2), so workstations cannot discover
// the host's other addresses.
//
// Layer 2 (ebtables, bridge filter): every frame entering from a port named
// "sdv*", whether to the host (INPUT) or to another port (FORWARD), is
// dispatched by port (SDED-PORTS-IN, SDED-PORTS-FWD) to its project's chain
// SDED-B-<key>, which accepts it only with the port's leased MAC as source
// and, for IPv4, the leased IP as source (or 0.0.0.0 to 255.255.255.255 udp
// 68->67 for DHCP) and, for ARP, the leased MAC and IP as sender. Everything
// else is dropped: other source IPs, other MACs, ARP answers for someone
// else's address, ARP probes, IPv6 and other ethertypes, and "sdv*" ports
// without a lease. Accepted frames end ebtables filtering (ACCEPT: the host's
// own ebtables filter rules, if any, do not see sded's ports); IP filtering
// then applies as above. With IsolateWorkstations, the FORWARD dispatch drops
// the port's frames instead (they still reach the host).
//
// The dispatch chains (and SDED-INPUT/SDED-FORWARD of iptables and
// ip6tables) are unordered: each rule matches its own interface. Set appends
// new rules there rather than inserting at a position, which the nf_tables
// tools do far faster on long chains.
//
// Why ebtables per port rather than libvirt's nwfilter clean-traffic: the
// same rules protect VMs (taps) and namespaces (veths) alike and are checked
// and repaired with everything else. The kernel this was developed on lacks
// the nft bridge meta match (ebtables --logical-in), so rules are keyed by
// port name, which is why ports need deterministic names (PortName). The
// hypervisor may still add nwfilter clean-traffic as a second layer. Ports
// not named "sdv*" attached to an sded bridge by someone else are not
// filtered at layer 2 until Check reports them and Set detaches them; the
// IPv4 rules still confine them to DHCP and the gateway services.
//
// # Atomicity and backends
//
// Each family is changed with one "*-restore --noflush" transaction (the
// three run concurrently); if one fails, the others are put back, and if
// creating links fails afterwards, the rules are put back and bridges created
// in that call deleted, so a failed Set leaves nothing of itself behind.
// Debian's default iptables is the nf_tables backend (iptables-nft), which
// needs no lock; with the legacy backend restore waits for the xtables lock
// (ToolPaths.WaitSeconds) and a lock held longer fails with ErrLocked. A
// missing program fails New with ErrToolMissing.
//
// # Network namespaces
//
// Manager acts on the network namespace it was created in. Netlink uses a
// handle bound to it; programs are started from threads moved into it; Set
// and Check refuse to run from a thread in another namespace (tests lock a
// thread into a throwaway namespace, see package netnstest).
package network
