package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/hypervisor"
	"github.com/sded/sded/network"
	"github.com/sded/sded/network/dhcp"
	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// vmWorkstation adds a real VM (libvirt, QEMU under TCG, sded's test guest)
// to project A. libvirt creates the VM's tap, named network.PortName(mac) as
// the hypervisor does for workstations, on a throwaway bridge in the root
// namespace; the test then moves the tap into the namespace playing the host
// and attaches it to project A's bridge (QEMU keeps its file descriptor), so
// the real host's network is never involved. The guest takes its address
// from sded's DHCP server and probes from inside.
func vmWorkstation(t *testing.T, host *netnstest.NS, m *network.Manager, pool *dhcp.Pool, cfg network.Config, inetV4 string) {
	testenv.RequireLibvirt(t)
	files := guest.Require(t)
	ctx := context.Background()
	mac := "52:54:00:0a:00:20"
	vmIP := "10.80.1.20"
	cfg.Networks = slices.Clone(cfg.Networks)
	a := &cfg.Networks[0]
	a.Hosts = append(slices.Clone(a.Hosts), network.Host{MAC: hw(mac), IP: netip.MustParseAddr(vmIP)})
	if err := host.Do(func() error { return m.Set(ctx, cfg) }); err != nil {
		t.Fatal(err)
	}
	if err := host.Do(func() error { return pool.Set(ctx, network.DHCPConfigs(cfg)) }); err != nil {
		t.Fatal(err)
	}

	d, err := hypervisor.New(ctx, hypervisor.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Scope:  map[string]string{"testrun": randHex(6)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	parking := "sdvmp" + randHex(3)
	if out, err := runCmd("ip", "link", "add", parking, "type", "bridge"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { runCmd("ip", "link", "del", parking) })

	dir, err := os.MkdirTemp("", "sded-nettest-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	t.Cleanup(func() { os.RemoveAll(dir) })
	script := `
i=0
while [ $i -lt 40 ]; do
	udhcpc -i eth0 -n -q -t 2 -T 1 -s /lib/sded/udhcpc.sh >/dev/null 2>&1 && break
	i=$((i+1))
done
result addr "$(ip -4 -o addr show dev eth0 | awk '{print $4}')"
ip route add default via 10.80.1.1 2>/dev/null
tcp() { if nc -w 3 "$1" "$2" </dev/null 2>/dev/null | grep -q ok; then echo ok; else echo blocked; fi; }
png() { if ping -c 1 -W 2 "$@" >/dev/null 2>&1; then echo ok; else echo blocked; fi; }
result gateway_svc "$(tcp 10.80.1.1 9443)"
result peer_tcp "$(tcp 10.80.1.10 7777)"
result peer_ping "$(png 10.80.1.10)"
result mgmt_ui "$(tcp 10.80.1.1 8443)"
result ssh "$(tcp 10.80.1.1 22)"
result internet_tcp "$(tcp ` + inetV4 + ` 80)"
result internet_ping "$(png ` + inetV4 + `)"
result other_project_tcp "$(tcp 10.80.2.10 7777)"
result other_gateway "$(tcp 10.80.2.1 9443)"
ip addr add 10.80.1.99/24 dev eth0
result spoof_ping "$(png -I 10.80.1.99 10.80.1.10)"
ip link set eth0 address 52:54:00:0a:00:10
result macspoof_ping "$(png 10.80.1.10)"
`
	id := randHex(4)
	name := "sded-nt-" + id
	seedPath := filepath.Join(dir, "seed.img")
	if err := (guest.Probe{Script: script, Net: "none"}).WriteSeed(seedPath, name, "ws-"+id); err != nil {
		t.Fatal(err)
	}
	port := network.PortName(hw(mac))
	s := hypervisor.Spec{
		Name: name, UUID: uuid(), Type: hypervisor.TypeQEMU, VCPU: 1, MemoryMiB: 192,
		Kernel: files.Kernel, Initrd: files.Initrd, Cmdline: guest.Cmdline, Seed: seedPath,
		SerialLog: filepath.Join(dir, "serial.log"),
		NIC:       &hypervisor.NIC{Bridge: parking, MAC: mac, Target: port},
		Labels:    map[string]string{"test": "network-e2e"},
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Delete(cctx, name); err != nil {
			t.Errorf("deleting the VM: %v", err)
		}
	})
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	// Move the tap into the host namespace and onto project A's bridge.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := runCmd("ip", "link", "show", port); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tap %s did not appear", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := runCmd("ip", "link", "set", port, "netns", host.Name); err != nil {
		t.Fatalf("moving the tap: %v: %s", err, out)
	}
	host.MustRun(t, "ip", "link", "set", port, "master", network.BridgeName("proj-a"), "up")
	t.Logf("VM %s: tap %s moved into %s and attached to %s", name, port, host.Name, network.BridgeName("proj-a"))

	var r guest.Report
	deadline = time.Now().Add(240 * time.Second)
	for {
		serial, _ := d.ReadSerial(ctx, name, 1<<20)
		if r = guest.Parse(serial); r.Done {
			break
		}
		// The probe powers the guest off when done; before that, a domain
		// that is gone was removed by someone else.
		if info, err := d.State(ctx, name); err != nil || info.State == hypervisor.StateStopped {
			if serial, _ = d.ReadSerial(ctx, name, 1<<20); guest.Parse(serial).Done {
				r = guest.Parse(serial)
				break
			}
			t.Fatalf("the VM stopped before its probe finished (state %v, %v): was it removed by another "+
				"sded instance on this host, which deletes sded domains it does not know?\nserial:\n%s", info.State, err, serial)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe report from the VM; serial console:\n%s", serial)
		}
		time.Sleep(500 * time.Millisecond)
	}
	rows := []struct {
		key, what, to, want string
	}{
		{"addr", "DHCP lease from sded", "10.80.1.1:67", vmIP + "/24"},
		{"gateway_svc", "tcp airlock", "10.80.1.1:9443", "ok"},
		{"peer_tcp", "tcp same-project peer", "10.80.1.10:7777", "ok"},
		{"peer_ping", "icmp same-project peer", "10.80.1.10", "ok"},
		{"mgmt_ui", "tcp management UI", "10.80.1.1:8443", "blocked"},
		{"ssh", "tcp ssh", "10.80.1.1:22", "blocked"},
		{"internet_tcp", "tcp internet http", inetV4 + ":80", "blocked"},
		{"internet_ping", "icmp internet", inetV4, "blocked"},
		{"other_project_tcp", "tcp other project", "10.80.2.10:7777", "blocked"},
		{"other_gateway", "tcp other project's gateway", "10.80.2.1:9443", "blocked"},
		{"spoof_ping", "icmp from spoofed 10.80.1.99", "10.80.1.10", "blocked"},
		{"macspoof_ping", "icmp with A1's MAC", "10.80.1.10", "blocked"},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nPROBE MATRIX FROM A REAL VM (project A, tap %s)\n%-34s %-18s %-14s %-14s\n", port, "PROBE", "TO", "WANT", "GOT")
	bad := 0
	for _, row := range rows {
		got := r.Results[row.key]
		mark := ""
		if got != row.want {
			mark = "  <-- MISMATCH"
			bad++
		}
		fmt.Fprintf(&b, "%-34s %-18s %-14s %-14s%s\n", row.what, row.to, row.want, got, mark)
	}
	t.Log(b.String())
	if bad > 0 {
		t.Errorf("%d VM probes did not behave as required; guest output:\n%s", bad, r.Output)
	}
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
