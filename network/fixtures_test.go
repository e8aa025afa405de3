package network

import (
	"log/slog"
	"net"
	"net/netip"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// sample configs used by unit and namespace tests.
var (
	netAlpha = Network{
		ID: "alpha", Subnet: netip.MustParsePrefix("10.77.1.0/24"),
		GatewayTCPPorts: []uint16{9443, 3128},
		Hosts: []Host{
			{MAC: mac("52:54:00:00:01:0a"), IP: netip.MustParseAddr("10.77.1.10")},
			{MAC: mac("52:54:00:00:01:0b"), IP: netip.MustParseAddr("10.77.1.11")},
		},
	}
	netBeta = Network{
		ID: "beta", Subnet: netip.MustParsePrefix("10.77.2.0/24"), IsolateWorkstations: true,
		GatewayTCPPorts: []uint16{9443},
		Allow:           []Allow{{CIDR: netip.MustParsePrefix("192.0.2.0/28"), Proto: "tcp", Port: 443}},
		Hosts: []Host{
			{MAC: mac("52:54:00:00:02:0a"), IP: netip.MustParseAddr("10.77.2.10")},
		},
	}
	netGamma = Network{
		ID: "gamma", Subnet: netip.MustParsePrefix("10.77.3.0/24"),
		Allow: []Allow{{CIDR: netip.MustParsePrefix("192.0.2.53/32"), Proto: "udp", Port: 53}},
	}
)

var discard = slog.New(slog.DiscardHandler)
