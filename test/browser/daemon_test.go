package browser

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/testenv"
)

// freeAddr returns a loopback address with a free TCP port.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemon is a real `sded serve` started by a test.
type daemon struct {
	bin, conf, uiAddr string
	t                 testing.TB
}

func (d *daemon) sded(stdin string, args ...string) (string, error) {
	// sded GROUP ACTION --config F [flags] [args]: flags must come before
	// positional arguments.
	full := append([]string{args[0], args[1], "--config", d.conf}, args[2:]...)
	cmd := exec.Command(d.bin, full...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d *daemon) must(stdin string, args ...string) string {
	d.t.Helper()
	out, err := d.sded(stdin, args...)
	if err != nil {
		d.t.Fatalf("sded %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// startDaemon builds sded and runs `sded serve` on a fresh data directory
// with TCG guests, its own ports and its own project address pool.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	testenv.RequireLibvirt(t)
	testenv.LockHost(t)
	guest := os.Getenv("SDED_GUEST_DIR")
	if guest == "" {
		guest, _ = filepath.Abs("../../.cache/guest")
	}
	testenv.RequireFile(t, filepath.Join(guest, "vmlinuz"), "run make guest")
	dir := t.TempDir()
	// QEMU, running as its own user, must pass through to the disks below.
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "sded")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sded")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sded: %v\n%s", err, out)
	}
	ui := freeAddr(t)
	conf := filepath.Join(dir, "sded.conf")
	text := fmt.Sprintf(`[node]
id = browser-test
data_dir = %s/data
[cluster]
bind = %s
[ui]
listen = %s
[hypervisor]
domain_type = qemu
[network]
pool = 10.77.0.0/16
[flavour.small]
vcpu = 1
memory = 256MiB
disk = 1GiB
`, dir, freeAddr(t), ui)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "sded.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{bin: bin, conf: conf, t: t}
	t.Cleanup(func() {
		// Remove what the test made (workstations, then the daemon), and
		// show the daemon's log when the test failed.
		if out, err := d.sded("", "project", "archive", "--as", "admin", "study"); err != nil {
			t.Logf("archiving the test project: %v %s", err, out)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if ws, _ := d.sded("", "workstation", "list", "--as", "admin", "--json", "study"); !strings.Contains(ws, `"id"`) {
				break
			}
			time.Sleep(time.Second)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("sded log:\n%s", tail(string(b), 60))
		}
	})
	sock := filepath.Join(dir, "data", "sded.sock")
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.must("admin password 123\n", "user", "add", "--admin", "--password-file", "-", "admin")
	d.must("alice password 123\n", "user", "add", "--as", "admin", "--name", "Alice Researcher", "--password-file", "-", "alice")
	d.must("", "project", "add", "--as", "admin", "--name", "Browser study", "--approval", "DAC-1", "--dsa", "DSA-1",
		"--expires", time.Now().AddDate(1, 0, 0).Format(time.DateOnly), "--owner", "alice", "study")
	d.must("", "image", "add", "--as", "admin", "--kernel", filepath.Join(guest, "vmlinuz"), "--initrd", filepath.Join(guest, "initramfs.cpio.gz"),
		"--cmdline", "console=tty0 console=ttyS0,115200 quiet", "test-guest", filepath.Join(guest, "base.qcow2"))
	d.uiAddr = ui
	return d
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// audit returns the events of one action from `sded audit export`.
func (d *daemon) audit(action string) []model.AuditEvent {
	out, err := exec.Command(d.bin, "audit", "export", "--config", d.conf).Output()
	if err != nil {
		d.t.Logf("audit export: %v", err)
		return nil
	}
	var evs []model.AuditEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e model.AuditEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Action == action {
			evs = append(evs, e)
		}
	}
	return evs
}

// TestDaemonDesktop is the whole product through a browser: a real `sded
// serve` (raft, FSM, reconciler, libvirt/QEMU under TCG, per-project bridge,
// LUKS disks), a researcher signing in with TOTP, creating a workstation in
// the UI, waiting while the reconciler boots it, and opening its desktop: the
// screenshot shows the test guest's console.
func TestDaemonDesktop(t *testing.T) {
	d := startDaemon(t)
	out := d.must("", "project", "list", "--as", "admin", "--json")
	var ps []model.Project
	if err := json.Unmarshal([]byte(out), &ps); err != nil || len(ps) != 1 {
		t.Fatalf("project list: %v %s", err, out)
	}
	desktopFlow(t, flow{
		base: "https://" + d.uiAddr, username: "alice", password: "alice password 123", projectID: ps[0].ID, slug: "study",
		shot: "daemon-desktop.png", audit: d.audit, timeout: 5 * time.Minute,
		ready: func() {
			// The test guest prints its banner and a shell prompt on the
			// VGA console and the serial console; the serial log tells when.
			deadline := time.Now().Add(3 * time.Minute)
			for time.Now().Before(deadline) {
				logs, _ := filepath.Glob(filepath.Join(filepath.Dir(d.conf), "data", "run", "sded-*.serial.log"))
				for _, l := range logs {
					if b, _ := os.ReadFile(l); bytes.Contains(b, []byte("sded-guest:/#")) {
						return
					}
				}
				time.Sleep(time.Second)
			}
			t.Errorf("the guest never showed its shell prompt on the serial console")
		},
	})
}
