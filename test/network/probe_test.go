package network

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/network/netnstest"
)

const probeTimeout = 800 * time.Millisecond

// serveTCP listens on addr inside ns and greets every connection with "ok".
func serveTCP(t *testing.T, ns *netnstest.NS, addr string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
}

// serveUDP answers every datagram on addr inside ns: DNS queries get a
// response with the same ID (QR bit set), anything else is echoed.
func serveUDP(t *testing.T, ns *netnstest.NS, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := ns.Do(func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatalf("listening on udp %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			reply := append([]byte(nil), buf[:n]...)
			if n >= 12 {
				reply[2] |= 0x80 // QR: response
			}
			pc.WriteTo(reply, from)
		}
	}()
}

// probeTCP connects from ns (optionally from a given local address) and
// expects the "ok" greeting.
func probeTCP(ns *netnstest.NS, addr, local string) error {
	return ns.Do(func() error {
		d := net.Dialer{Timeout: probeTimeout}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(probeTimeout))
		b := make([]byte, 3)
		if _, err := c.Read(b); err != nil {
			return err
		}
		if string(b) != "ok\n" {
			return fmt.Errorf("unexpected greeting %q", b)
		}
		return nil
	})
}

// probeUDP sends a datagram from ns and waits for the echo.
func probeUDP(ns *netnstest.NS, addr string) error {
	return udpExchange(ns, addr, []byte("ping-sded"), func(b []byte) bool { return bytes.Equal(b, []byte("ping-sded")) })
}

// probeDNS sends a DNS query (A example.org) and waits for a response with its ID.
func probeDNS(ns *netnstest.NS, addr string) error {
	q := binary.BigEndian.AppendUint16(nil, 0x5d5d)
	q = append(q, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0)
	q = append(q, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1)
	return udpExchange(ns, addr, q, func(b []byte) bool {
		return len(b) >= 12 && binary.BigEndian.Uint16(b) == 0x5d5d && b[2]&0x80 != 0
	})
}

func udpExchange(ns *netnstest.NS, addr string, msg []byte, ok func([]byte) bool) error {
	return ns.Do(func() error {
		c, err := net.DialTimeout("udp", addr, probeTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(probeTimeout))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		b := make([]byte, 1500)
		n, err := c.Read(b)
		if err != nil {
			return err
		}
		if !ok(b[:n]) {
			return fmt.Errorf("unexpected reply %q", b[:n])
		}
		return nil
	})
}

// probePing sends one ICMP echo (busybox ping) from ns.
func probePing(ns *netnstest.NS, addr string) error {
	args := []string{"busybox", "ping", "-c", "1", "-W", "1", addr}
	if strings.Contains(addr, ":") {
		args[1] = "ping6"
	}
	_, err := ns.Run(args...)
	return err
}

// probe is one row of the matrix.
type probe struct {
	group, from, what, to string
	want                  bool // true: must succeed
	run                   func() error
	err                   error
}

// runProbes runs all probes concurrently (each on its own thread in its
// namespace) and prints the matrix; every mismatch fails the test.
func runProbes(t *testing.T, title string, ps []*probe) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{}, len(ps))
	for _, p := range ps {
		go func() { p.err = p.run(); done <- struct{}{} }()
	}
	for range ps {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("probes did not finish")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n%-16s %-6s %-30s %-26s %-8s %-8s %s\n", title, "GROUP", "FROM", "PROBE", "TO", "WANT", "GOT", "")
	bad := 0
	for _, p := range ps {
		got := "ok"
		if p.err != nil {
			got = "blocked"
		}
		want := "blocked"
		if p.want {
			want = "ok"
		}
		mark := ""
		if got != want {
			mark = "  <-- MISMATCH: " + fmt.Sprint(p.err)
			bad++
		}
		fmt.Fprintf(&b, "%-16s %-6s %-30s %-26s %-8s %-8s%s\n", p.group, p.from, p.what, p.to, want, got, mark)
	}
	t.Log(b.String())
	if bad > 0 {
		t.Errorf("%s: %d probes did not behave as required", title, bad)
	}
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
