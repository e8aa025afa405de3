package hypervisor

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/test/testenv"
)

// TestReconnect has libvirtd drop the Driver's connection (virt-admin
// client-disconnect: to the client this is what a libvirtd restart looks
// like, without disturbing anyone else's domains) and checks that the next
// calls reconnect, that subscribers hear EventReconnected, and that secrets
// can be set again.
func TestReconnect(t *testing.T) {
	d := newDriver(t)
	virtAdmin := testenv.RequireCommand(t, "virt-admin")
	ctx := context.Background()
	evctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := d.Subscribe(evctx)

	if _, err := d.List(ctx); err != nil {
		t.Fatal(err)
	}
	ids := ourClients(t, virtAdmin)
	if len(ids) == 0 {
		t.Fatal("libvirtd lists no client for this process")
	}
	for _, id := range ids {
		run(t, virtAdmin, "client-disconnect", "libvirtd", id)
	}
	// The Driver notices by itself (close callback) and reconnects in the
	// background: subscribers hear EventReconnected without any call.
	if !waitEvent(events, "", EventReconnected, 10*time.Second) {
		t.Error("no EventReconnected within 10s after the connection was dropped")
	}
	if _, err := d.List(ctx); err != nil {
		t.Fatalf("List after reconnecting: %v", err)
	}
	// Lifecycle events flow on the new connection.
	dir := testDir(t)
	disk := filepath.Join(dir, "empty.raw")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Spec{Name: "sded-t-" + randHex(4), UUID: newUUID(), Type: TypeQEMU, VCPU: 1, MemoryMiB: 64,
		Disks: []Disk{{Path: disk, Format: FormatRaw}}, SerialLog: filepath.Join(dir, "serial.log")}
	t.Cleanup(func() { d.Delete(context.Background(), s.Name) })
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if !waitEvent(events, s.Name, EventStarted, 5*time.Second) {
		t.Error("no started event after reconnecting")
	}

	id := newUUID()
	t.Cleanup(func() { d.RemoveSecret(context.Background(), id) })
	if err := d.SetSecret(ctx, id, "sded-test-"+id, []byte("v")); err != nil {
		t.Errorf("SetSecret after reconnect: %v", err)
	}
}

// ourClients returns libvirtd's client IDs belonging to this process.
func ourClients(t *testing.T, virtAdmin string) []string {
	t.Helper()
	out, err := exec.Command(virtAdmin, "srv-clients-list", "libvirtd").Output()
	if err != nil {
		t.Fatalf("virt-admin srv-clients-list: %v", err)
	}
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		info, err := exec.Command(virtAdmin, "client-info", "libvirtd", f[0]).Output()
		if err != nil {
			continue // gone meanwhile
		}
		for _, line := range strings.Split(string(info), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if strings.TrimSpace(k) == "unix_process_id" && strings.TrimSpace(v) == strconv.Itoa(os.Getpid()) {
				ids = append(ids, f[0])
			}
		}
	}
	return ids
}
