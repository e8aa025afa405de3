package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// Ports sded listens on inside its host's namespace (on every address, so
// that the project firewall, not the bind address, is what keeps
// workstations from them).
const (
	raftPort    = 7946
	uiPort      = 8443
	airlockPort = 8080
	flavour     = "tiny"
)

// daemon is one `sded serve` on a test host, and its command line.
type daemon struct {
	t    testing.TB
	h    *host
	data string // data_dir
	conf string
	log  string
	cmd  *exec.Cmd
	done chan error
}

// newDaemon writes a configuration for h (domain type qemu, a tiny flavour)
// and starts sded. It is stopped in t.Cleanup.
func newDaemon(t testing.TB, h *host) *daemon {
	t.Helper()
	return newDaemonWith(t, h, "")
}

// newDaemonWith is newDaemon with extra configuration appended.
func newDaemonWith(t testing.TB, h *host, extra string) *daemon {
	t.Helper()
	d := &daemon{t: t, h: h, data: filepath.Join(h.dir, "data"), conf: filepath.Join(h.dir, "sded.conf"), log: filepath.Join(h.dir, "sded.log")}
	conf := fmt.Sprintf(`# written by test/e2e
[node]
id = e2e
data_dir = %s
[cluster]
bind = 0.0.0.0:%d
advertise = 127.0.0.1:%d
[ui]
listen = 0.0.0.0:%d
[hypervisor]
domain_type = qemu
[flavour.%s]
vcpu = 1
memory = 256MiB
disk = 1GiB
[network]
airlock_port = %d
[storage]
shared_dir = %s
[log]
level = debug
%s`, d.data, raftPort, raftPort, uiPort, flavour, airlockPort, h.sharedDir(), extra)
	if err := os.WriteFile(d.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("sded log (last 60 lines):\n%s", tail(d.log, 60))
		}
	})
	d.start()
	return d
}

// sharedDir is where the host's sded keeps the projects' shared folders: on
// the host's own ext4 with encryption enabled (see mountScript), whose
// image file is sharedImage.
func (h *host) sharedDir() string { return filepath.Join(h.dir, "sharedfs", "shared") }

// sharedImage is the image file of the shared folders' filesystem.
func (h *host) sharedImage() string { return filepath.Join(h.dir, "sharedfs.img") }

// start runs `sded serve` on the host and waits for its local API.
func (d *daemon) start() {
	d.t.Helper()
	lf, err := os.OpenFile(d.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer lf.Close()
	fmt.Fprintf(lf, "=== e2e: starting sded at %s\n", time.Now().Format(time.RFC3339Nano))
	d.cmd = exec.Command("nsenter", "-t", strconv.Itoa(d.h.pid), "-m", "-n", sdedBin, "serve", "--config", d.conf)
	d.cmd.Stdout, d.cmd.Stderr = lf, lf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(d.cmd, d.done)
	waitFor(d.t, 60*time.Second, "sded's local API", func() error {
		select {
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("sded exited: %v; log:\n%s", err, tail(d.log, 30))
		default:
		}
		_, err := d.cli("node", "list")
		return err
	})
}

// stop sends SIGTERM and waits for sded to exit (SIGKILL after 30 s).
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("sded did not stop within 30 s of SIGTERM")
	}
	d.cmd = nil
}

// cli runs `sded GROUP ACTION --config CONF ARGS...` and returns stdout; an
// error carries stderr.
func (d *daemon) cli(group, action string, args ...string) (string, error) {
	return d.cliIn("", group, action, args...)
}

// cliIn is cli with stdin.
func (d *daemon) cliIn(stdin, group, action string, args ...string) (string, error) {
	full := append([]string{group, action, "--config", d.conf}, args...)
	cmd := exec.Command(sdedBin, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("sded %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// must is cli that fails the test on error.
func (d *daemon) must(group, action string, args ...string) string {
	d.t.Helper()
	out, err := d.cli(group, action, args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// setup creates the admin, a researcher (alice) and registers the test guest
// as image "test-guest".
func (d *daemon) setup() {
	d.t.Helper()
	if _, err := d.cliIn("admin-password-e2e\n", "user", "add", "--admin", "--name", "E2E Admin", "--password-file", "-", "admin"); err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.cliIn("alice-password-e2e\n", "user", "add", "--as", "admin", "--name", "Alice Researcher", "--password-file", "-", "alice"); err != nil {
		d.t.Fatal(err)
	}
	g := d.h.guest
	d.must("image", "add", "--as", "admin", "--kernel", g.Kernel, "--initrd", g.Initrd,
		"--cmdline", "console=tty0 console=ttyS0,115200 quiet", "test-guest", g.Base)
}

// addProject creates a project owned by alice.
func (d *daemon) addProject(slug string, extra ...string) model.Project {
	d.t.Helper()
	args := append([]string{"--as", "admin", "--json", "--name", "E2E " + slug, "--approval", "DAC-E2E-1", "--dsa", "DSA-E2E-1",
		"--expires", time.Now().AddDate(1, 0, 0).Format(time.DateOnly), "--tier", "2", "--owner", "alice"}, extra...)
	var p model.Project
	decode(d.t, d.must("project", "add", append(args, slug)...), &p)
	return p
}

// addWorkstation creates a workstation of alice's from the test guest.
func (d *daemon) addWorkstation(project, name string) model.Workstation {
	d.t.Helper()
	var w model.Workstation
	decode(d.t, d.must("workstation", "add", "--as", "alice", "--json", "--image", "test-guest", "--flavour", flavour, project, name), &w)
	return w
}

// workstations lists a project's workstations.
func (d *daemon) workstations(project string) ([]model.Workstation, error) {
	out, err := d.cli("workstation", "list", "--as", "alice", "--json", project)
	if err != nil {
		return nil, err
	}
	var ws []model.Workstation
	if err := json.Unmarshal([]byte(out), &ws); err != nil {
		return nil, fmt.Errorf("decoding %q: %w", out, err)
	}
	return ws, nil
}

// workstation returns one workstation, or ok=false when it is gone.
func (d *daemon) workstation(project, id string) (model.Workstation, bool, error) {
	ws, err := d.workstations(project)
	if err != nil {
		return model.Workstation{}, false, err
	}
	for _, w := range ws {
		if w.ID == id {
			return w, true, nil
		}
	}
	return model.Workstation{}, false, nil
}

// waitStatus waits until the workstation's observed state is want.
func (d *daemon) waitStatus(project, id string, want model.ObservedState, timeout time.Duration) model.Workstation {
	d.t.Helper()
	var w model.Workstation
	waitFor(d.t, timeout, fmt.Sprintf("workstation %s to be %s", id, want), func() error {
		var ok bool
		var err error
		if w, ok, err = d.workstation(project, id); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("workstation is gone")
		}
		if w.Status.State != want {
			return fmt.Errorf("status %s (%s)", w.Status.State, w.Status.Reason)
		}
		return nil
	})
	return w
}

// audit returns the exported audit log.
func (d *daemon) audit() []model.AuditEvent {
	d.t.Helper()
	cmd := exec.Command(sdedBin, "audit", "export", "--config", d.conf)
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("sded audit export: %v", err)
	}
	var evs []model.AuditEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e model.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			d.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// serialLog is the workstation's serial console log.
func (d *daemon) serialLog(w model.Workstation) string {
	return filepath.Join(d.data, "run", "sded-"+w.ID+".serial.log")
}

// projectDir is where a project's volumes live.
func (d *daemon) projectDir(projectID string) string {
	return filepath.Join(d.data, "volumes", "projects", projectID)
}

func decode(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
