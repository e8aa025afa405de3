package dhcp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	macA = net.HardwareAddr{0x52, 0x54, 0, 0, 1, 0x0a}
	macX = net.HardwareAddr{0x52, 0x54, 0, 0, 9, 0x99}
	cfg  = Config{
		Interface: "sdtest", ServerIP: netip.MustParseAddr("10.77.1.1"), Subnet: netip.MustParsePrefix("10.77.1.0/24"),
		Leases: []Lease{{MAC: macA, IP: netip.MustParseAddr("10.77.1.10"), Hostname: "ws-alpha"}}, LeaseTime: 10 * time.Minute,
	}
	zero = netip.IPv4Unspecified()
)

func req(t byte, mac net.HardwareAddr, opts map[byte][]byte) Packet {
	o := map[byte][]byte{optMessageType: {t}}
	for k, v := range opts {
		o[k] = v
	}
	return Packet{Op: bootRequest, XID: 0x1234, CIAddr: zero, YIAddr: zero, SIAddr: zero, GIAddr: zero, CHAddr: mac, Options: o}
}

func ip4(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }

// TestHandle: what the server answers to each request, and when it stays silent.
func TestHandle(t *testing.T) {
	tests := []struct {
		name   string
		req    Packet
		ok     bool
		typ    byte
		yiaddr string
	}{
		{"discover from a leased MAC gets its address", req(Discover, macA, nil), true, Offer, "10.77.1.10"},
		{"discover from an unknown MAC is ignored", req(Discover, macX, nil), false, 0, ""},
		{"request for the lease is acked", req(Request, macA, map[byte][]byte{optRequestedIP: ip4("10.77.1.10"), optServerID: ip4("10.77.1.1")}), true, Ack, "10.77.1.10"},
		{"request for another address is refused", req(Request, macA, map[byte][]byte{optRequestedIP: ip4("10.77.1.99")}), true, Nak, "0.0.0.0"},
		{"request to another server is ignored", req(Request, macA, map[byte][]byte{optRequestedIP: ip4("10.77.1.10"), optServerID: ip4("10.77.1.2")}), false, 0, ""},
		{"request from an unknown MAC is ignored", req(Request, macX, map[byte][]byte{optRequestedIP: ip4("10.77.1.10")}), false, 0, ""},
		{"release is silent", req(Release, macA, nil), false, 0, ""},
		{"inform is acked without an address", req(Inform, macA, nil), true, Ack, "0.0.0.0"},
		{"relayed request is ignored", func() Packet { p := req(Discover, macA, nil); p.GIAddr = netip.MustParseAddr("10.0.0.1"); return p }(), false, 0, ""},
		{"reply (op 2) is ignored", func() Packet { p := req(Discover, macA, nil); p.Op = bootReply; return p }(), false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Round-trip the request through the wire format first.
			p, err := Parse(tt.req.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			reply, ok := Handle(cfg, p)
			if ok != tt.ok {
				t.Fatalf("answered = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			got, err := Parse(reply.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if got.Type() != tt.typ || got.YIAddr.String() != tt.yiaddr || got.XID != 0x1234 {
				t.Fatalf("reply type %d yiaddr %v xid %x, want %d %s", got.Type(), got.YIAddr, got.XID, tt.typ, tt.yiaddr)
			}
			if _, hasRouter := got.Options[3]; hasRouter {
				t.Error("reply offers a router")
			}
			if _, hasDNS := got.Options[6]; hasDNS {
				t.Error("reply offers a DNS server")
			}
			if tt.typ == Offer {
				want := map[byte][]byte{optMessageType: {Offer}, optServerID: ip4("10.77.1.1"), optSubnetMask: {255, 255, 255, 0},
					optLeaseTime: {0, 0, 2, 0x58}, optRenewalTime: {0, 0, 1, 0x2c}, optRebindTime: {0, 0, 2, 0x0d},
					optHostname: []byte("ws-alpha")}
				if diff := cmp.Diff(want, got.Options); diff != "" {
					t.Errorf("offer options (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestParseBad: malformed packets are rejected, never half-read.
func TestParseBad(t *testing.T) {
	good := req(Discover, macA, nil).Marshal()
	trunc := append([]byte(nil), good[:headerLen+4]...)
	trunc = append(trunc, optMessageType, 5, 1)
	noCookie := append([]byte(nil), good...)
	noCookie[headerLen] = 0
	badHW := append([]byte(nil), good...)
	badHW[1] = 6
	for name, b := range map[string][]byte{"short": good[:100], "truncated option": trunc, "no cookie": noCookie, "not ethernet": badHW} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestConfigValidate: leases outside the subnet, on the server address or twice are refused.
func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{ServerIP: cfg.ServerIP, Subnet: cfg.Subnet},
		{Interface: "x", ServerIP: netip.MustParseAddr("10.9.9.9"), Subnet: cfg.Subnet},
		{Interface: "x", ServerIP: cfg.ServerIP, Subnet: cfg.Subnet, Leases: []Lease{{MAC: macA, IP: netip.MustParseAddr("10.77.2.10")}}},
		{Interface: "x", ServerIP: cfg.ServerIP, Subnet: cfg.Subnet, Leases: []Lease{{MAC: macA, IP: cfg.ServerIP}}},
		{Interface: "x", ServerIP: cfg.ServerIP, Subnet: cfg.Subnet, Leases: []Lease{cfg.Leases[0], cfg.Leases[0]}},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}
