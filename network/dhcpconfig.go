package network

import (
	"github.com/sded/sded/network/dhcp"
)

// DHCPConfigs returns the DHCP server configuration of every network in cfg
// (one server per bridge, answering only that network's leases), for
// dhcp.Pool.Set. Call it with a config Set accepted.
func DHCPConfigs(cfg Config) []dhcp.Config {
	var out []dhcp.Config
	for _, n := range cfg.normalized().Networks {
		c := dhcp.Config{Interface: n.Bridge, ServerIP: n.Gateway, Subnet: n.Subnet}
		for _, h := range n.Hosts {
			c.Leases = append(c.Leases, dhcp.Lease{MAC: h.MAC, IP: h.IP, Hostname: h.Hostname})
		}
		out = append(out, c)
	}
	return out
}
