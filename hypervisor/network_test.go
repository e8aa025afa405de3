package hypervisor

import (
	"context"
	"fmt"
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
	ipCmd := testenv.RequireCommand(t, "ip")
	ctx := context.Background()
	id := randHex(3)
	br, vh, vp, ns := "sdh"+id, "sdhv"+id, "sdhp"+id, "sded-hvtest-"+id
	subnet := fmt.Sprintf("10.231.%d", 1+int(id[0])%250)
	peer, guestIP, spoof := subnet+".1", subnet+".2", subnet+".99"

	run(t, ipCmd, "netns", "add", ns)
	t.Cleanup(func() { _ = runQuiet(ipCmd, "netns", "del", ns) })
	run(t, ipCmd, "link", "add", br, "type", "bridge")
	t.Cleanup(func() { _ = runQuiet(ipCmd, "link", "del", br) })
	run(t, ipCmd, "link", "add", vh, "type", "veth", "peer", "name", vp)
	t.Cleanup(func() { _ = runQuiet(ipCmd, "link", "del", vh) })
	run(t, ipCmd, "link", "set", vh, "master", br, "up")
	run(t, ipCmd, "link", "set", br, "up")
	run(t, ipCmd, "link", "set", vp, "netns", ns)
	run(t, ipCmd, "-n", ns, "addr", "add", peer+"/24", "dev", vp)
	run(t, ipCmd, "-n", ns, "link", "set", vp, "up")

	script := `
result mac "$(cat /sys/class/net/eth0/address)"
result addr "$(ip -4 -o addr show dev eth0 | awk '{print $4}')"
if ping -c 2 -W 3 ` + peer + ` >/dev/null 2>&1; then result ping ok; else result ping failed; fi
ip addr add ` + spoof + `/24 dev eth0
if ping -c 2 -W 2 -I ` + spoof + ` ` + peer + ` >/dev/null 2>&1; then result spoof passed; else result spoof blocked; fi
`
	s := guestSpec(t, d, guest.Probe{Script: script, Net: "static", Addr: guestIP + "/24"})
	mac := "52:54:00:" + id[0:2] + ":" + id[2:4] + ":" + id[4:6]
	s.NIC = &NIC{Bridge: br, MAC: mac, Filter: "clean-traffic", FilterParams: map[string]string{"IP": guestIP}}
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
