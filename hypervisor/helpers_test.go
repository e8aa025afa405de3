package hypervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// newDriver connects to the real libvirtd (skipping, or failing in CI, when
// it is absent) and closes the driver when the test ends.
func newDriver(t testing.TB) *Driver {
	t.Helper()
	testenv.RequireLibvirt(t)
	d, err := New(context.Background(), Options{
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		// Scoped to this test process: tests never touch anyone else's
		// domains, nor each other's across packages.
		Scope: map[string]string{"testrun": testRun},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// testRun identifies this test process's domains.
var testRun = randHex(6)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// testDir makes a directory QEMU (which runs as its own user) can traverse,
// removed when the test ends.
func testDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sded-hv-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// guestSpec is a TCG spec booting the test guest with a seed carrying p; the
// domain is deleted when the test ends.
func guestSpec(t testing.TB, d *Driver, p guest.Probe) Spec {
	t.Helper()
	f := guest.Require(t)
	dir := testDir(t)
	id := randHex(4)
	name := "sded-t-" + id
	seedPath := filepath.Join(dir, "seed.img")
	if err := p.WriteSeed(seedPath, name, "guest-"+id); err != nil {
		t.Fatal(err)
	}
	s := Spec{
		Name: name, UUID: newUUID(), Type: TypeQEMU, VCPU: 1, MemoryMiB: 192,
		Kernel: f.Kernel, Initrd: f.Initrd, Cmdline: guest.Cmdline,
		Seed:      seedPath,
		SerialLog: filepath.Join(dir, "serial.log"),
		Labels:    map[string]string{"test": t.Name()[:min(len(t.Name()), 200)]},
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Delete(ctx, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitProbe waits for the guest's probe report on its serial console.
func waitProbe(t testing.TB, d *Driver, name string, timeout time.Duration) guest.Report {
	t.Helper()
	var r guest.Report
	var serial []byte
	deadline := time.Now().Add(timeout)
	for {
		serial, _ = d.ReadSerial(context.Background(), name, 1<<20)
		if r = guest.Parse(serial); r.Done {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe report from %s after %v; serial console:\n%s", name, timeout, serial)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func runQuiet(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}
