package hypervisor

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// TestLibvirtdRestart really restarts libvirtd (SIGTERM, then `libvirtd -d`)
// while an sded domain runs. It disturbs every other libvirt user on the host
// for a second, so it runs only with SDED_TEST_LIBVIRTD_RESTART=1 (set it in
// CI, where nothing else shares libvirtd). It checks the domain keeps
// running, the Driver reconnects by itself, and an ephemeral secret — gone
// after the restart — can be set again.
func TestLibvirtdRestart(t *testing.T) {
	if os.Getenv("SDED_TEST_LIBVIRTD_RESTART") != "1" {
		t.Skip("restarts the host's libvirtd; set SDED_TEST_LIBVIRTD_RESTART=1 to run")
	}
	d := newDriver(t)
	libvirtd := testenv.RequireCommand(t, "libvirtd")
	virsh := testenv.RequireCommand(t, "virsh")
	ctx := context.Background()
	events := d.Subscribe(t.Context())

	s := guestSpec(t, d, guest.Probe{Stay: true, Net: "none"})
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	secret := newUUID()
	t.Cleanup(func() { d.RemoveSecret(context.Background(), secret) })
	if err := d.SetSecret(ctx, secret, "sded-test-"+secret, []byte("v1")); err != nil {
		t.Fatal(err)
	}

	pidText, err := os.ReadFile("/run/libvirtd.pid")
	if err != nil {
		t.Fatalf("finding libvirtd: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping libvirtd: %v", err)
	}
	waitFor(t, 30*time.Second, "libvirtd to exit", func() bool { return syscall.Kill(pid, 0) != nil })
	if out, err := exec.Command(libvirtd, "-d").CombinedOutput(); err != nil {
		t.Fatalf("starting libvirtd: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "libvirtd's socket", func() bool { return exec.Command(virsh, "-c", DefaultURI, "version").Run() == nil })

	if !waitEvent(events, "", EventReconnected, 40*time.Second) {
		t.Error("the Driver did not reconnect by itself")
	}
	if info, err := d.State(ctx, s.Name); err != nil || info.State != StateRunning {
		t.Errorf("after the restart: %+v, %v; want the domain still running", info, err)
	}
	if err := exec.Command(virsh, "-c", DefaultURI, "secret-dumpxml", secret).Run(); err == nil {
		t.Error("the ephemeral secret survived the restart")
	}
	if err := d.SetSecret(ctx, secret, "sded-test-"+secret, []byte("v1")); err != nil {
		t.Errorf("setting the secret again after the restart: %v", err)
	}
}
