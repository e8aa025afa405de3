package hypervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/test/guest"
)

// TestLifecycle drives one test guest that stays up through Ensure (twice),
// the VNC console, a spec change, Stop, Ensure again and Delete.
func TestLifecycle(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	s := guestSpec(t, d, guest.Probe{Script: "result up yes\n", Stay: true, Net: "none"})
	s.VNCSocket = filepath.Join(filepath.Dir(s.Seed), "vnc", "console.sock")

	evctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := d.Subscribe(evctx)

	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	r := waitProbe(t, d, s.Name, 90*time.Second)
	if r.Results["up"] != "yes" {
		t.Fatalf("probe: %s", r)
	}

	// Ensure again: nothing changes, the guest is not restarted.
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	info, err := d.State(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Name: s.Name, UUID: s.UUID, State: StateRunning, Labels: map[string]string{"test": s.Labels["test"], "testrun": testRun}}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("State (-want +got):\n%s", diff)
	}
	if n := countEvents(events, s.Name, EventStarted, time.Second); n != 1 {
		t.Errorf("%d started events after two Ensure calls, want 1", n)
	}

	// The VNC console is a unix socket speaking RFB; no TCP port.
	sock, err := d.ConsolePath(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if sock != s.VNCSocket {
		t.Errorf("ConsolePath = %q, want %q", sock, s.VNCSocket)
	}
	conn, err := d.OpenConsole(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	banner := make([]byte, 12)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(banner); err != nil || !strings.HasPrefix(string(banner), "RFB ") {
		t.Errorf("VNC socket greeting = %q, %v; want RFB", banner, err)
	}
	conn.Close()
	live, _, err := d.liveXML(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range live.Devices.Graphics {
		if g.VNC == nil || g.VNC.Port > 0 || g.VNC.WebSocket > 0 || g.Spice != nil {
			t.Errorf("live graphics are not VNC on a unix socket only: %+v", g)
		}
		for _, l := range g.VNC.Listeners {
			if l.Socket == nil {
				t.Errorf("live VNC listens on something other than a socket: %+v", l)
			}
		}
	}

	// A spec change while running is defined for the next start.
	s2 := s
	s2.MemoryMiB = 224
	if err := d.Ensure(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.State(ctx, s.Name); !info.Outdated || info.State != StateRunning {
		t.Errorf("after a spec change: %+v, want running and outdated", info)
	}

	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !listed(list, s.Name) {
		t.Errorf("List does not include %s: %+v", s.Name, list)
	}

	// Stop: the guest's acpid powers off on the ACPI power button, well
	// within the graceful period.
	begin := time.Now()
	if err := d.Stop(ctx, s.Name, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("graceful stop took %v", time.Since(begin).Round(time.Millisecond))
	if serial, _ := os.ReadFile(s.SerialLog); !strings.Contains(string(serial), "power button pressed") {
		t.Errorf("the guest did not see the power button; serial:\n%s", serial)
	}
	if info, _ := d.State(ctx, s.Name); info.State != StateStopped {
		t.Errorf("after Stop: %+v", info)
	}
	if err := d.Stop(ctx, s.Name, time.Second); err != nil {
		t.Errorf("Stop of a stopped domain: %v", err)
	}
	// Forced stop: no graceful period.
	if err := d.Ensure(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, s.Name, 0); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.State(ctx, s.Name); info.State != StateStopped {
		t.Errorf("after a forced Stop: %+v", info)
	}
	if _, err := d.ConsolePath(ctx, s.Name); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ConsolePath of a stopped domain: %v, want ErrNotRunning", err)
	}

	// Ensure starts it again, now with the new spec.
	if err := d.Ensure(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.State(ctx, s.Name); info.State != StateRunning || info.Outdated {
		t.Errorf("after restart: %+v", info)
	}

	// Delete leaves nothing: no domain, no serial log, no socket.
	if err := d.Delete(ctx, s.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.State(ctx, s.Name); !errors.Is(err, ErrNotFound) {
		t.Errorf("State after Delete: %v, want ErrNotFound", err)
	}
	for _, f := range []string{s.SerialLog, s.VNCSocket} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Delete (%v)", f, err)
		}
	}
	if list, _ := d.List(ctx); listed(list, s.Name) {
		t.Errorf("List still includes %s after Delete", s.Name)
	}
	if err := d.Delete(ctx, s.Name); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := d.Stop(ctx, s.Name, 0); err != nil {
		t.Errorf("Stop of a deleted domain: %v", err)
	}
}

// TestConsoleLibvirtPlaced: with no VNC socket in the spec libvirt places
// one, and ConsolePath finds it.
func TestConsoleLibvirtPlaced(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	s := guestSpec(t, d, guest.Probe{Stay: true, Net: "none"})
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	sock, err := d.ConsolePath(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("console %s: %v, not a socket", sock, err)
	}
	serial, err := d.SerialLogPath(ctx, s.Name)
	if err != nil || serial != s.SerialLog {
		t.Errorf("SerialLogPath = %q, %v; want %q", serial, err, s.SerialLog)
	}
}

func listed(list []Info, name string) bool {
	for _, i := range list {
		if i.Name == name {
			return true
		}
	}
	return false
}

// countEvents drains events for wait and counts those of kind for name.
func countEvents(events <-chan Event, name string, kind EventKind, wait time.Duration) int {
	n := 0
	timeout := time.After(wait)
	for {
		select {
		case e := <-events:
			if e.Name == name && e.Kind == kind {
				n++
			}
		case <-timeout:
			return n
		}
	}
}

// TestEnsureUnreachableFile: a kernel under a directory QEMU's user cannot
// search fails with an error that names the directory.
func TestEnsureUnreachableFile(t *testing.T) {
	d := newDriver(t)
	f := guest.Require(t)
	s := guestSpec(t, d, guest.Probe{})
	private := filepath.Join(filepath.Dir(s.Seed), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	s.Kernel = filepath.Join(private, "vmlinuz")
	if err := os.WriteFile(s.Kernel, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = d.Ensure(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "may not search "+private) {
		t.Fatalf("Ensure = %v, want an error naming %s", err, private)
	}
	if _, err := d.State(context.Background(), s.Name); !errors.Is(err, ErrNotFound) {
		t.Errorf("State after a failed first start = %v, want ErrNotFound (nothing left behind)", err)
	}
}

// waitEvent reports whether an event of kind for name (any name if empty)
// arrives within timeout.
func waitEvent(events <-chan Event, name string, kind EventKind, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case e := <-events:
			if (name == "" || e.Name == name) && e.Kind == kind {
				return true
			}
		case <-deadline:
			return false
		}
	}
}
