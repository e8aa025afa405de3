package dhcp

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/testenv"
)

// TestNetnsUdhcpc runs the server on a bridge in a throwaway namespace and a
// real DHCP client (busybox udhcpc) in two "workstation" namespaces: the
// leased MAC gets its fixed address, an unknown MAC gets nothing.
func TestNetnsUdhcpc(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "busybox")
	host := netnstest.New(t, "dhcph")
	br := "sddhcptest"
	host.MustRun(t, "ip", "link", "add", br, "type", "bridge")
	host.MustRun(t, "ip", "addr", "add", "10.77.1.1/24", "dev", br)
	host.MustRun(t, "ip", "link", "set", br, "up")
	script := t.TempDir() + "/udhcpc.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"BOUND ip=$ip mask=$mask router=$router dns=$dns hostname=$hostname\"\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	ws := func(tag, mac string) *netnstest.NS {
		ns := netnstest.New(t, tag)
		host.MustRun(t, "ip", "link", "add", "sdp"+tag, "type", "veth", "peer", "name", "eth0", "netns", ns.Name)
		host.MustRun(t, "ip", "link", "set", "sdp"+tag, "master", br, "up")
		ns.MustRun(t, "ip", "link", "set", "eth0", "address", mac, "up")
		return ns
	}
	known := ws("wsa", macA.String())
	unknown := ws("wsx", macX.String())

	pool := NewPool(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(pool.Close)
	c := cfg
	c.Interface = br
	if err := host.Do(func() error { return pool.Set(context.Background(), []Config{c}) }); err != nil {
		t.Fatal(err)
	}
	udhcpc := []string{"busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "3", "-T", "1", "-s", script}
	out, err := known.Run(udhcpc...)
	t.Logf("leased workstation:\n%s", out)
	if err != nil || !strings.Contains(out, "BOUND ip=10.77.1.10 mask=24 router= dns= hostname=ws-alpha") {
		t.Fatalf("leased MAC did not get 10.77.1.10 (no router, no dns): %v", err)
	}
	out, err = unknown.Run(udhcpc...)
	t.Logf("unknown workstation:\n%s", out)
	if err == nil || strings.Contains(out, "BOUND") {
		t.Fatalf("unknown MAC got a lease")
	}
	// The bridge is recreated (as Set does after it was deleted by hand):
	// Set restarts the server on the new interface.
	host.MustRun(t, "ip", "link", "del", br)
	host.MustRun(t, "ip", "link", "add", br, "type", "bridge")
	host.MustRun(t, "ip", "addr", "add", "10.77.1.1/24", "dev", br)
	host.MustRun(t, "ip", "link", "set", br, "up")
	host.MustRun(t, "ip", "link", "set", "sdpwsa", "master", br)
	if err := host.Do(func() error { return pool.Set(context.Background(), []Config{c}) }); err != nil {
		t.Fatal(err)
	}
	if out, err := known.Run(udhcpc...); err != nil || !strings.Contains(out, "BOUND ip=10.77.1.10") {
		t.Fatalf("after the bridge was recreated: %v\n%s", err, out)
	}
}
