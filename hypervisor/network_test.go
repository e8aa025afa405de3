package hypervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// TestNICOnBridge attaches the test guest to a bridge this test creates, with
// a fixed MAC, a static address from the seed and libvirt's clean-traffic
// nwfilter. The host end of the bridge is a veth whose peer lives in a
// network namespace of the test (so the host's own routes are untouched). The
// guest reaches the peer from its own address; from a spoofed address it
// does not, because the filter drops it.
func TestNICOnBridge(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	n := newTestNet(t)
	peer, guestIP, spoof := n.subnet+".1", n.subnet+".2", n.subnet+".99"

	script := `
result mac "$(cat /sys/class/net/eth0/address)"
result addr "$(ip -4 -o addr show dev eth0 | awk '{print $4}')"
if ping -c 2 -W 3 ` + peer + ` >/dev/null 2>&1; then result ping ok; else result ping failed; fi
ip addr add ` + spoof + `/24 dev eth0
if ping -c 2 -W 2 -I ` + spoof + ` ` + peer + ` >/dev/null 2>&1; then result spoof passed; else result spoof blocked; fi
`
	s := guestSpec(t, d, guest.Probe{Script: script, Net: "static", Addr: guestIP + "/24"})
	mac := n.mac()
	s.NIC = &NIC{Bridge: n.bridge, MAC: mac, Filter: "clean-traffic", FilterParams: map[string]string{"IP": guestIP}}
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	r := waitProbe(t, d, s.Name, 120*time.Second)
	for k, want := range map[string]string{"mac": mac, "addr": guestIP + "/24", "ping": "ok", "spoof": "blocked"} {
		if got := r.Results[k]; got != want {
			t.Errorf("probe %s = %q, want %q (%s)\n%s", k, got, want, r, r.Output)
		}
	}
}

// TestNICDHCP: the test guest takes its address by DHCP (busybox udhcpd in
// the test's namespace) when the seed says so.
func TestNICDHCP(t *testing.T) {
	d := newDriver(t)
	busybox := testenv.RequireCommand(t, "busybox")
	ctx := context.Background()
	n := newTestNet(t)
	conf := filepath.Join(testDir(t), "udhcpd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("start %[1]s.50\nend %[1]s.60\ninterface %[2]s\nlease_file %[3]s.leases\n"+
		"pidfile %[3]s.pid\noption subnet 255.255.255.0\noption router %[1]s.1\n", n.subnet, n.peerLink, conf)), 0o600)
	srv := exec.Command("ip", "netns", "exec", n.ns, busybox, "udhcpd", "-f", conf)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	script := `
result addr "$(ip -4 -o addr show dev eth0 | awk '{print $4}')"
result gw "$(ip route show default | awk '{print $3}')"
if ping -c 2 -W 3 ` + n.subnet + `.1 >/dev/null 2>&1; then result ping ok; else result ping failed; fi
`
	s := guestSpec(t, d, guest.Probe{Script: script, Net: "dhcp"})
	s.NIC = &NIC{Bridge: n.bridge, MAC: n.mac()}
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	r := waitProbe(t, d, s.Name, 120*time.Second)
	host := -1
	if rest, ok := strings.CutPrefix(r.Results["addr"], n.subnet+"."); ok {
		fmt.Sscanf(rest, "%d/24", &host)
	}
	if host < 50 || host > 60 || r.Results["gw"] != n.subnet+".1" || r.Results["ping"] != "ok" {
		t.Errorf("DHCP: %s, want an address in %s.50-60/24, gateway .1 and ping ok\n%s", r, n.subnet, r.Output)
	}
}

// testNet is a bridge for guests whose other side is a veth peer in a
// network namespace of the test, so the host's own addresses and routes are
// untouched. Everything is removed when the test ends.
type testNet struct {
	id, bridge, ns, peerLink, subnet string
}

func newTestNet(t *testing.T) testNet {
	t.Helper()
	ipCmd := testenv.RequireCommand(t, "ip")
	id := randHex(3)
	n := testNet{id: id, bridge: "sdh" + id, ns: "sded-hvtest-" + id, peerLink: "sdhp" + id,
		subnet: fmt.Sprintf("10.231.%d", 1+int(id[0])%250)}
	vh := "sdhv" + id
	run(t, ipCmd, "netns", "add", n.ns)
	t.Cleanup(func() { _ = runQuiet(ipCmd, "netns", "del", n.ns) })
	run(t, ipCmd, "link", "add", n.bridge, "type", "bridge")
	t.Cleanup(func() { _ = runQuiet(ipCmd, "link", "del", n.bridge) })
	run(t, ipCmd, "link", "add", vh, "type", "veth", "peer", "name", n.peerLink)
	t.Cleanup(func() { _ = runQuiet(ipCmd, "link", "del", vh) })
	run(t, ipCmd, "link", "set", vh, "master", n.bridge, "up")
	run(t, ipCmd, "link", "set", n.bridge, "up")
	run(t, ipCmd, "link", "set", n.peerLink, "netns", n.ns)
	run(t, ipCmd, "-n", n.ns, "addr", "add", n.subnet+".1/24", "dev", n.peerLink)
	run(t, ipCmd, "-n", n.ns, "link", "set", n.peerLink, "up")
	return n
}

func (n testNet) mac() string {
	return "52:54:00:" + n.id[0:2] + ":" + n.id[2:4] + ":" + n.id[4:6]
}
