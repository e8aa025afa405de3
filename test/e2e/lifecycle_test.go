package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/network"
)

// TestWorkstationLifecycle is issue 6 item 7 on real libvirt/QEMU (TCG),
// through the real daemon and its command line:
//
//   - a project and a workstation from the test guest; it boots and its
//     status is running;
//   - from inside (typed at the console), a random marker goes onto the
//     workstation disk and into the project's shared folder (virtiofs); the
//     host-side disk image and the shared folders' filesystem do not
//     contain it (LUKS qcow2; fscrypt);
//   - a second workstation of the project mounts the same folder: each
//     reads what the other wrote;
//   - the guest runs the network probe matrix against a simulated internet,
//     the host's ports, a second project's workstation, and spoofed source
//     addresses: no leaks; DHCP and the airlock port work;
//   - sded restarts (SIGTERM, start): the running domain is left alone (same
//     domain ID and QEMU process, the guest not rebooted) and stays running;
//   - stop and delete remove the domain, its libvirt secrets, its volume
//     files and its seed;
//   - with no workstation of the project running, its shared folder is
//     locked (encrypted names only, even for root);
//   - archiving the project destroys its key (audited), its volumes and its
//     shared folder.
func TestWorkstationLifecycle(t *testing.T) {
	start := time.Now()
	step := func(format string, a ...any) {
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	h := newHost(t)
	inet := newInternet(t, h)
	sshd := listenOnHost(t, h, "22")
	if _, err := h.try("busybox", "ping", "-c", "1", "-W", "2", inetAddr); err != nil {
		t.Fatalf("control: the test host cannot reach the simulated internet: %v", err)
	}
	d := newDaemon(t, h)
	d.setup()
	pa := d.addProject("alpha")
	pb := d.addProject("beta")
	wa := d.addWorkstation(pa.Slug, "alice-ws1")
	wb := d.addWorkstation(pb.Slug, "alice-ws2")
	step("projects %s (%s) and %s (%s); workstations %s at %s, %s at %s", pa.Slug, pa.Subnet, pb.Slug, pb.Subnet, wa.Name, wa.IP, wb.Name, wb.IP)
	d.waitStatus(pa.Slug, wa.ID, model.ObservedRunning, 120*time.Second)
	d.waitStatus(pb.Slug, wb.ID, model.ObservedRunning, 120*time.Second)
	step("both workstations are running (workstation list --json)")

	da := openDesktop(t, h, d, wa)
	db := openDesktop(t, h, d, wb)
	step("both guests booted; desktops open (VNC); typing at their serial consoles")

	// Markers on the workstation disk and in the project's shared folder.
	marker := "sdedmark" + randHex(16)
	if got := da.results()["shared.mounted"]; got != "yes" {
		t.Fatalf("the guest did not mount the project's shared folder at boot: shared.mounted=%q", got)
	}
	da.sendFile("/tmp/mark.sh", `. /lib/sded/probe-lib.sh
V=$(disk_by_serial sded-disk)
echo "SDED-PROBE-RESULT disk.devs=$V" >/dev/ttyS0
grep -q ' /mnt/shared virtiofs ' /proc/mounts || exit 13
mkdir -p /mnt/d
mount -t ext4 $V /mnt/d || exit 11
for i in $(seq 64); do echo "$1"; done >/mnt/d/marker.txt; sync; umount /mnt/d || exit 12
for i in $(seq 64); do echo "$1"; done >/mnt/shared/marker.txt; sync
echo "SDED-PROBE-RESULT disk.plain_vda=$(dd if=$V bs=1M count=64 2>/dev/null | strings | grep -c "$1")" >/dev/ttyS0
echo "SDED-PROBE-RESULT shared.read=$(grep -c "$1" /mnt/shared/marker.txt)" >/dev/ttyS0`)
	da.run("sh /tmp/mark.sh "+marker, 180*time.Second, false)
	res := da.results()
	step("marker written inside the guest to %s and /mnt/shared (virtiofs); the guest reads it back in plain text %s/%s times", res["disk.devs"], res["disk.plain_vda"], res["shared.read"])
	if res["disk.devs"] != "/dev/vda" || res["disk.plain_vda"] != "64" || res["shared.read"] != "64" {
		t.Fatalf("guest-side control failed: %v", res)
	}
	overlay := filepath.Join(d.projectDir(pa.ID), "ws-"+wa.ID+".qcow2")
	sharedDir := filepath.Join(h.sharedDir(), pa.ID)
	// Control: the file is in the project's folder on the host, readable
	// while the project runs (the folder is unlocked)...
	if b, err := os.ReadFile(h.path(filepath.Join(sharedDir, "marker.txt"))); err != nil || bytes.Count(b, []byte(marker)) != 64 {
		t.Fatalf("the shared folder on the host does not hold the guest's file: %d markers, %v", bytes.Count(b, []byte(marker)), err)
	}
	// ...but the disk under it holds neither its contents nor its name.
	h.in("sync")
	for _, f := range []string{overlay, h.sharedImage()} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds the marker in plain text", f)
		} else {
			step("host: %s (%d bytes) does not contain the marker", filepath.Base(f), len(b))
		}
		if f == h.sharedImage() && bytes.Contains(b, []byte("marker.txt")) {
			t.Errorf("%s holds the file's name in plain text", f)
		}
	}

	// The probe matrix.
	gwA := gateway(t, pa)
	gwB := gateway(t, pb)
	spoofIP := netip.MustParseAddr(wa.IP).Next().Next().Next().String() // an unused address of the subnet
	setup := fmt.Sprintf("GW=%s; ME=%s; ip route add default via $GW 2>/dev/null", gwA, wa.IP)
	parallel := []*probe{
		{key: "airlock", what: "tcp airlock endpoint (gateway)", to: fmt.Sprintf("%s:%d", gwA, airlockPort), sh: fmt.Sprintf("tcp $GW %d", airlockPort), want: "ok"},
		{key: "gw_icmp", what: "icmp gateway", to: gwA, sh: "png $GW", want: "blocked"},
		{key: "raft", what: "tcp host raft port (gateway)", to: fmt.Sprintf("%s:%d", gwA, raftPort), sh: fmt.Sprintf("tcp $GW %d", raftPort), want: "blocked"},
		{key: "ui", what: "tcp host management UI (gateway)", to: fmt.Sprintf("%s:%d", gwA, uiPort), sh: fmt.Sprintf("tcp $GW %d", uiPort), want: "blocked"},
		{key: "ssh", what: "tcp host ssh (gateway)", to: gwA + ":22", sh: "tcp $GW 22", want: "blocked"},
		{key: "host_other", what: "tcp host UI on its other address", to: fmt.Sprintf("%s:%d", inetHostSide, uiPort), sh: fmt.Sprintf("tcp %s %d", inetHostSide, uiPort), want: "blocked"},
		{key: "inet_tcp", what: "tcp internet", to: fmt.Sprintf("%s:%d", inetAddr, inetPort), sh: fmt.Sprintf("tcp %s %d", inetAddr, inetPort), want: "blocked"},
		{key: "inet_icmp", what: "icmp internet", to: inetAddr, sh: "png " + inetAddr, want: "blocked"},
		{key: "inet_udp", what: "udp internet (dns)", to: inetAddr + ":53", sh: "udp " + inetAddr, want: "blocked"},
		{key: "other_icmp", what: "icmp other project's workstation", to: wb.IP, sh: "png " + wb.IP, want: "blocked"},
		{key: "other_tcp", what: "tcp other project's workstation", to: wb.IP + ":22", sh: "tcp " + wb.IP + " 22", want: "blocked"},
		{key: "other_gw", what: "tcp other project's airlock", to: fmt.Sprintf("%s:%d", gwB, airlockPort), sh: fmt.Sprintf("tcp %s %d", gwB, airlockPort), want: "blocked"},
	}
	sequential := []*probe{
		{key: "addr", what: "address from sded's DHCP lease", to: gwA + ":67", sh: "ip -4 -o addr show dev eth0 | awk '{print $4}' | head -n1", want: wa.IP + "/24"},
		{key: "spoof_ip_tcp", what: "tcp airlock from a spoofed address", to: fmt.Sprintf("%s:%d", gwA, airlockPort),
			sh: fmt.Sprintf("ip addr flush dev eth0; ip addr add %s/24 dev eth0; ip route add default via $GW; tcp $GW %d", spoofIP, airlockPort), want: "blocked"},
		{key: "spoof_ip_icmp", what: "icmp internet from a spoofed address", to: inetAddr, sh: "png " + inetAddr, want: "blocked"},
		{key: "spoof_second_icmp", what: "icmp other project from a 2nd address", to: wb.IP,
			sh: fmt.Sprintf("ip addr flush dev eth0; ip addr add $ME/24 dev eth0; ip addr add %s/24 dev eth0; ip route add default via $GW; png -I %s %s", spoofIP, spoofIP, wb.IP), want: "blocked"},
		{key: "spoof_mac_tcp", what: "tcp airlock from a spoofed MAC", to: fmt.Sprintf("%s:%d", gwA, airlockPort),
			sh: fmt.Sprintf("ip addr flush dev eth0; ip link set eth0 down; ip link set eth0 address 52:54:00:e2:e2:e2; ip link set eth0 up; ip addr add $ME/24 dev eth0; ip route add default via $GW; tcp $GW %d", airlockPort), want: "blocked"},
		{key: "restored", what: "tcp airlock again, own address and MAC", to: fmt.Sprintf("%s:%d", gwA, airlockPort),
			sh: fmt.Sprintf("ip link set eth0 down; ip link set eth0 address %s; ip link set eth0 up; ip addr flush dev eth0; ip addr add $ME/24 dev eth0; ip route add default via $GW; sleep 1; tcp $GW %d", wa.MAC, airlockPort), want: "reached"},
	}
	runProbes(t, da, setup, parallel, sequential)
	back := []*probe{
		{key: "b_icmp", what: "icmp back to project alpha's workstation", to: wa.IP, sh: "png " + wa.IP, want: "blocked"},
		{key: "b_tcp", what: "tcp back to project alpha's workstation", to: wa.IP + ":22", sh: "tcp " + wa.IP + " 22", want: "blocked"},
		{key: "b_gw", what: "tcp alpha's gateway airlock", to: fmt.Sprintf("%s:%d", gwA, airlockPort), sh: fmt.Sprintf("tcp %s %d", gwA, airlockPort), want: "blocked"},
	}
	runProbes(t, db, fmt.Sprintf("ip route add default via %s 2>/dev/null", gwB), back, nil)
	all := append(append(append([]*probe{}, sequential[:1]...), parallel...), sequential[1:]...)
	all = append(all, back...)
	bad := printMatrix(t, fmt.Sprintf("PROBE MATRIX from %s (%s, project %s) and %s (%s, project %s)", wa.Name, wa.IP, pa.Slug, wb.Name, wb.IP, pb.Slug), all)
	if hits := inet.Hits(); len(hits) > 0 {
		t.Errorf("the simulated internet received packets from workstations: %v", hits)
		bad++
	}
	if hits := sshd.Hits(); len(hits) > 0 {
		t.Errorf("the host's port 22 accepted connections: %v", hits)
		bad++
	}
	step("probe matrix: %d rows, %d leaks or mismatches; internet host saw %d packets from projects, host port 22 saw %d", len(all), bad, len(inet.Hits()), len(sshd.Hits()))
	if bad > 0 {
		t.Errorf("%d probe rows did not behave as required", bad)
	}

	// A second workstation of the project runs beside the first, with the
	// same shared folder: it reads the first one's file and writes its own.
	w3 := d.addWorkstation(pa.Slug, "alice-ws3")
	d.waitStatus(pa.Slug, w3.ID, model.ObservedRunning, 120*time.Second)
	if x := h.mustVirsh("dumpxml", "sded-"+w3.ID); !strings.Contains(x, "<source dir='"+sharedDir+"'/>") {
		t.Errorf("the second workstation's domain has no virtiofs share of %s", sharedDir)
	}
	d3 := openDesktop(t, h, d, w3)
	d3.sendFile("/tmp/peer.sh", `echo "SDED-PROBE-RESULT peer.read=$(grep -c "$1" /mnt/shared/marker.txt)" >/dev/ttyS0
echo "$1-from-ws3" >/mnt/shared/reply.txt; sync
echo "SDED-PROBE-RESULT peer.wrote=$?" >/dev/ttyS0`)
	d3.run("sh /tmp/peer.sh "+marker, 120*time.Second, false)
	if r3 := d3.results(); r3["shared.mounted"] != "yes" || r3["peer.read"] != "64" || r3["peer.wrote"] != "0" {
		t.Errorf("the second workstation does not share the folder: %v", r3)
	}
	da.sendFile("/tmp/reply.sh", `echo "SDED-PROBE-RESULT reply.seen=$(grep -c "$1-from-ws3" /mnt/shared/reply.txt)" >/dev/ttyS0`)
	da.run("sh /tmp/reply.sh "+marker, 60*time.Second, true)
	if got := da.results()["reply.seen"]; got != "1" {
		t.Errorf("the first workstation does not see the second one's file: reply.seen=%q", got)
	}
	step("a second workstation of project %s runs beside the first with the same shared folder: it read the first one's file, and the first read its reply", pa.Slug)
	forceDelete(t, h, d, pa.Slug, w3.ID)

	// Restart sded: the running domain is left alone.
	dom := "sded-" + wa.ID
	idBefore := strings.TrimSpace(h.mustVirsh("domid", dom))
	pidBefore := qemuPID(t, h, dom)
	da.sendFile("/tmp/up.sh", `echo "SDED-PROBE-RESULT uptime.$1=$(cut -d' ' -f1 /proc/uptime)" >/dev/ttyS0`)
	upBefore := uptime(t, da)
	d.stop()
	step("sded stopped (SIGTERM); domain %s id %s, qemu pid %d", dom, idBefore, pidBefore)
	d.start()
	time.Sleep(8 * time.Second) // more than a reconcile interval
	idAfter := strings.TrimSpace(h.mustVirsh("domid", dom))
	pidAfter := qemuPID(t, h, dom)
	upAfter := uptime(t, da)
	w := d.waitStatus(pa.Slug, wa.ID, model.ObservedRunning, 5*time.Second)
	step("sded started again; domain id %s, qemu pid %d, guest uptime %.0fs -> %.0fs, status %s", idAfter, pidAfter, upBefore, upAfter, w.Status.State)
	if idAfter != idBefore || pidAfter != pidBefore || upAfter <= upBefore {
		t.Errorf("the restart touched the running domain: id %s->%s, pid %d->%d, uptime %.0f->%.0f", idBefore, idAfter, pidBefore, pidAfter, upBefore, upAfter)
	}

	// Stop, then delete.
	d.must("workstation", "stop", "--as", "alice", wa.ID)
	d.waitStatus(pa.Slug, wa.ID, model.ObservedStopped, 60*time.Second)
	step("workstation stopped")
	// No workstation of the project runs: its folder is locked, and even
	// root on the host sees only encrypted names.
	waitFor(t, 30*time.Second, "the project's shared folder to be locked", func() error {
		ents, err := os.ReadDir(h.path(sharedDir))
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.Name() == "marker.txt" || e.Name() == "reply.txt" {
				return fmt.Errorf("the folder still shows %s", e.Name())
			}
		}
		if len(ents) != 2 {
			return fmt.Errorf("%d entries in the folder, want 2", len(ents))
		}
		return nil
	})
	step("shared folder locked: the host lists 2 entries with encrypted names")
	d.must("workstation", "delete", "--as", "alice", wa.ID)
	waitFor(t, 60*time.Second, "the workstation to be deleted", func() error {
		if _, ok, err := d.workstation(pa.Slug, wa.ID); err != nil || ok {
			return fmt.Errorf("still listed (err %v)", err)
		}
		return nil
	})
	for _, n := range h.domains() {
		if n == dom {
			t.Errorf("domain %s is still defined", dom)
		}
	}
	if secrets := h.mustVirsh("secret-list"); strings.Contains(secrets, dom) {
		t.Errorf("libvirt secrets of %s remain:\n%s", dom, secrets)
	}
	seedFile := filepath.Join(d.data, "seeds", wa.ID+".img")
	for _, f := range []string{overlay, seedFile} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", f, err)
		}
	}
	step("deleted: no domain %s, no secrets of it, no disk overlay, no seed", dom)

	// Archive: crypto-shredding.
	d.must("project", "archive", "--as", "admin", "--reason", "e2e: study closed", pa.Slug)
	var archived *model.AuditEvent
	var repairs []string
	for _, e := range d.audit() {
		if e.Action == "project.archive" && e.Object == "project/"+pa.ID {
			archived = &e
		}
		if e.Action == "network.drift_repaired" {
			repairs = append(repairs, e.Details["drift"])
		}
	}
	// Nothing in this test changes the host's network by hand: every
	// "repair" here is sded's own change counted as drift.
	step("audit: %d network.drift_repaired events although nothing was changed by hand: %q", len(repairs), repairs)
	if archived == nil || archived.Details["data_key_destroyed"] != "true" {
		t.Errorf("audit log has no project.archive of %s with data_key_destroyed=true: %+v", pa.ID, archived)
	} else {
		step("audit: %s %s data_key_destroyed=%s", archived.Action, archived.Object, archived.Details["data_key_destroyed"])
	}
	waitFor(t, 30*time.Second, "the project's volume directory to be removed", func() error {
		if _, err := os.Stat(d.projectDir(pa.ID)); !os.IsNotExist(err) {
			return fmt.Errorf("%s still exists", d.projectDir(pa.ID))
		}
		return nil
	})
	waitFor(t, 30*time.Second, "the project's bridge to be removed", func() error {
		if _, err := h.ns.Run("ip", "link", "show", network.BridgeName(pa.ID)); err == nil {
			return fmt.Errorf("bridge %s still exists", network.BridgeName(pa.ID))
		}
		return nil
	})
	waitFor(t, 30*time.Second, "the project's shared folder to be removed", func() error {
		if _, err := os.Stat(h.path(sharedDir)); !os.IsNotExist(err) {
			return fmt.Errorf("%s still exists (%v)", sharedDir, err)
		}
		return nil
	})
	step("archived: volume directory, shared folder and bridge removed")
	// The folder's blocks may stay on the disk until overwritten: they are
	// ciphertext under a key derived from the destroyed data key.
	h.in("sync")
	if b, err := os.ReadFile(h.sharedImage()); err != nil || bytes.Contains(b, []byte(marker)) {
		t.Errorf("after archiving, the shared folders' disk holds the marker in plain text (or cannot be read: %v)", err)
	} else {
		step("after archiving, the shared folders' disk (%d bytes) does not contain the marker", len(b))
	}
}

// gateway returns a project's gateway address (.1 of its subnet).
func gateway(t testing.TB, p model.Project) string {
	t.Helper()
	pr, err := netip.ParsePrefix(p.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	return pr.Masked().Addr().Next().String()
}

// qemuPID reads the QEMU process of a running domain from libvirt's state.
func qemuPID(t testing.TB, h *host, dom string) int {
	t.Helper()
	b, err := os.ReadFile(h.path("/run/libvirt/qemu/" + dom + ".pid"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// uptime asks the guest for its uptime in seconds.
func uptime(t testing.TB, dt *desktop) float64 {
	t.Helper()
	key := fmt.Sprintf("uptime.%d", dt.seq+1)
	dt.run(fmt.Sprintf("sh /tmp/up.sh %d", dt.seq+1), 30*time.Second, true)
	v, err := strconv.ParseFloat(dt.results()[key], 64)
	if err != nil {
		t.Fatalf("guest uptime %q: %v", dt.results()[key], err)
	}
	return v
}
