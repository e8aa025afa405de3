package e2e

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/sded/sded/network/netnstest"
)

// The simulated internet: a namespace the test creates, linked to sded's
// host by a veth pair and routed both ways (the host forwards), so that only
// sded's firewall stands between a workstation and it.
const (
	inetHostSide = "10.250.0.1"
	inetAddr     = "10.250.0.2"
	inetPort     = 80
)

// projectPool holds every project subnet (model.ProjectSubnetBase, /10).
var projectPool = netip.MustParsePrefix("10.64.0.0/10")

// internet listens on TCP 80, UDP 53 and ICMP and records every packet that
// arrives from a project address.
type internet struct {
	ns   *netnstest.NS
	mu   sync.Mutex
	hits []string
}

func newInternet(t testing.TB, h *host) *internet {
	t.Helper()
	in := &internet{ns: netnstest.New(t, "e2ei")}
	a, b := "e2eh"+randHex(3), "e2ei"+randHex(3)
	run(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
	run(t, "ip", "link", "set", a, "netns", h.ns.Name)
	run(t, "ip", "link", "set", b, "netns", in.ns.Name)
	h.ns.MustRun(t, "ip", "addr", "add", inetHostSide+"/24", "dev", a)
	h.ns.MustRun(t, "ip", "link", "set", a, "up")
	in.ns.MustRun(t, "ip", "addr", "add", inetAddr+"/24", "dev", b)
	in.ns.MustRun(t, "ip", "link", "set", b, "up")
	in.ns.MustRun(t, "ip", "route", "add", projectPool.String(), "via", inetHostSide)

	var tl net.Listener
	var ul, il net.PacketConn
	err := in.ns.Do(func() (err error) {
		if tl, err = net.Listen("tcp", net.JoinHostPort(inetAddr, "80")); err != nil {
			return err
		}
		if ul, err = net.ListenPacket("udp", net.JoinHostPort(inetAddr, "53")); err != nil {
			return err
		}
		il, err = net.ListenPacket("ip4:icmp", inetAddr)
		return err
	})
	if err != nil {
		t.Fatalf("internet listeners: %v", err)
	}
	t.Cleanup(func() { tl.Close(); ul.Close(); il.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			in.record("tcp", c.RemoteAddr())
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			in.record("udp", from)
			if n >= 12 {
				buf[2] |= 0x80 // a DNS response to a query
			}
			ul.WriteTo(buf[:n], from)
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := il.ReadFrom(buf)
			if err != nil {
				return
			}
			if n > 0 && buf[0] == 8 { // echo request
				in.record("icmp", from)
			}
		}
	}()
	return in
}

func (in *internet) record(proto string, from net.Addr) {
	var ip netip.Addr
	switch a := from.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.IPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	if !projectPool.Contains(ip.Unmap()) {
		return // the test's own control probes from the host
	}
	in.mu.Lock()
	in.hits = append(in.hits, proto+" from "+ip.String())
	in.mu.Unlock()
}

// Hits lists the packets that arrived from project addresses.
func (in *internet) Hits() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.hits...)
}

// hostListener accepts TCP connections on the test host (standing in for a
// host service such as sshd) and records their sources.
type hostListener struct {
	mu   sync.Mutex
	hits []string
}

func listenOnHost(t testing.TB, h *host, port string) *hostListener {
	t.Helper()
	hl := &hostListener{}
	var ln net.Listener
	if err := h.ns.Do(func() (err error) { ln, err = net.Listen("tcp", ":"+port); return err }); err != nil {
		t.Fatalf("listening on the test host's port %s: %v", port, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hl.mu.Lock()
			hl.hits = append(hl.hits, c.RemoteAddr().String())
			hl.mu.Unlock()
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	return hl
}

// Hits lists the sources of accepted connections.
func (hl *hostListener) Hits() []string {
	hl.mu.Lock()
	defer hl.mu.Unlock()
	return append([]string(nil), hl.hits...)
}
