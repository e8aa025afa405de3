package airlocktest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/testenv"
)

// The real-VM end-to-end test: the whole daemon (`sded serve`) with real
// libvirt guests (sded's test guest under TCG), a researcher typing wget
// commands at the guest's console (over its VNC socket, as at the browser
// desktop), the export going through the gateway on the project's bridge,
// and reviewers and the requester acting through the CLI.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sdedBin builds cmd/sded once per test binary ($SDED_BIN overrides).
func sdedBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("SDED_BIN"); b != "" {
		return b
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sded-airlock-e2e-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sded")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/sded/sded/cmd/sded").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("building sded: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// daemon is a running `sded serve` in a temporary directory.
type daemon struct {
	t    *testing.T
	bin  string
	dir  string
	conf string
	log  string
}

func freePortOn(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startDaemon(t *testing.T, bin string) *daemon {
	t.Helper()
	testenv.LockHost(t) // one sded daemon per host: each owns every sded-prefixed link and chain
	dir, err := os.MkdirTemp("", "sded-airlock-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711) // QEMU must traverse to the disks and seeds
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &daemon{t: t, bin: bin, dir: dir, conf: filepath.Join(dir, "sded.conf"), log: filepath.Join(dir, "sded.log")}
	conf := fmt.Sprintf(`[node]
id = e2e
data_dir = %s/data
[cluster]
bind = 127.0.0.1:%d
[ui]
listen = 127.0.0.1:%d
[hypervisor]
domain_type = qemu
[flavour.tiny]
vcpu = 1
memory = 384MiB
disk = 1GiB
[network]
pool = 10.231.0.0/16
airlock_port = 8080
[airlock]
reviewers = 2
max_file_size = 16MiB
`, dir, freePortOn(t), freePortOn(t))
	if err := os.WriteFile(d.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", d.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		d.teardownNetworks("10.231.")
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		removeLinks(t, "10.231.") // what sded did not remove (a failed run)
		if t.Failed() {
			b, _ := os.ReadFile(d.log)
			t.Logf("sded log (tail):\n%s", tail(string(b), 4000))
		}
	})
	sock := filepath.Join(dir, "data", "sded.sock")
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(sock); err == nil {
			return d
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(d.log)
			t.Fatalf("sded serve exited:\n%s", tail(string(b), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("sded serve did not create %s in 30 s", sock)
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cli runs `sded GROUP CMD --config CONF ARGS...`.
func (d *daemon) cli(stdin string, group, cmd string, args ...string) (string, error) {
	c := exec.Command(d.bin, append([]string{group, cmd, "--config", d.conf}, args...)...)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	return string(out), err
}

func (d *daemon) must(stdin string, group, cmd string, args ...string) string {
	d.t.Helper()
	out, err := d.cli(stdin, group, cmd, args...)
	if err != nil {
		d.t.Fatalf("sded %s %s %v: %v\n%s", group, cmd, args, err, out)
	}
	return out
}

// workstation creates a workstation and waits until it runs.
func (d *daemon) workstation(as, project, name string) model.Workstation {
	d.t.Helper()
	d.must("", "workstation", "add", "--as", as, "--image", "test-guest", "--flavour", "tiny", project, name)
	d.t.Cleanup(func() {
		// Leave nothing running: delete the domain through sded, then make sure.
		var ws []model.Workstation
		if out, err := d.cli("", "workstation", "list", "--as", as, "--json", project); err == nil && json.Unmarshal([]byte(out), &ws) == nil {
			for _, w := range ws {
				d.cli("", "workstation", "delete", "--as", as, w.ID)
				exec.Command("virsh", "destroy", "sded-"+w.ID).Run()
				exec.Command("virsh", "undefine", "sded-"+w.ID).Run()
			}
		}
	})
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		var ws []model.Workstation
		out := d.must("", "workstation", "list", "--as", as, "--json", project)
		if err := json.Unmarshal([]byte(out), &ws); err != nil {
			d.t.Fatalf("workstation list: %v: %s", err, out)
		}
		for _, w := range ws {
			if w.Name == name && w.Status.State == model.ObservedRunning {
				return w
			}
			if w.Name == name && w.Status.State == model.ObservedFailed {
				d.t.Fatalf("workstation %s failed: %s", name, w.Status.Reason)
			}
		}
		time.Sleep(2 * time.Second)
	}
	d.t.Fatalf("workstation %s did not run within 4 minutes", name)
	return model.Workstation{}
}

// console is a guest's console: type at its VGA console, read its serial log.
type console struct {
	t      *testing.T
	domain string
	ty     *typist
	serial string
	n      int
}

var (
	vncSocketRE = regexp.MustCompile(`<graphics type='vnc' socket='([^']+)'`)
	serialLogRE = regexp.MustCompile(`<log file='([^']+)'`)
)

func openConsole(t *testing.T, w model.Workstation) *console {
	t.Helper()
	dom := "sded-" + w.ID
	x, err := exec.Command("virsh", "dumpxml", dom).Output()
	if err != nil {
		t.Fatalf("virsh dumpxml %s: %v", dom, err)
	}
	vm, sm := vncSocketRE.FindSubmatch(x), serialLogRE.FindSubmatch(x)
	if vm == nil || sm == nil {
		t.Fatalf("domain %s has no VNC socket or serial log:\n%s", dom, x)
	}
	c := &console{t: t, domain: dom, serial: string(sm[1])}
	// Wait for the guest's shell prompt.
	c.wait("sded-guest:/# ", 3*time.Minute)
	if c.ty, err = dialTypist(string(vm[1])); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ty.Close() })
	c.sync()
	return c
}

// sync types a marker until the guest's tty1 shell echoes it to the serial
// console: the serial prompt can appear before tty1's shell reads keys, and
// keys typed before that are lost.
func (c *console) sync() {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for i := 1; time.Now().Before(deadline); i++ {
		mark := fmt.Sprintf("E2E-SYNC-%d", i)
		if err := c.ty.line("echo " + mark + " >/dev/ttyS0"); err != nil {
			c.t.Fatal(err)
		}
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
			if strings.Contains(c.log(), mark+"\n") {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	c.t.Fatalf("the guest's desktop shell never answered typed keys; serial console:\n%s", tail(c.log(), 2000))
}

func (c *console) log() string {
	b, _ := os.ReadFile(c.serial)
	return strings.ReplaceAll(string(b), "\r", "")
}

func (c *console) wait(s string, d time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if l := c.log(); strings.Contains(l, s) {
			return l
		}
		time.Sleep(300 * time.Millisecond)
	}
	c.t.Fatalf("%q did not appear on %s's serial console; it shows:\n%s", s, c.domain, tail(c.log(), 3000))
	return ""
}

// run types a shell command whose output goes to the serial console and
// returns that output.
func (c *console) run(cmd string) string {
	c.t.Helper()
	c.n++
	begin, end := fmt.Sprintf("E2E-BEGIN-%d", c.n), fmt.Sprintf("E2E-END-%d", c.n)
	line := fmt.Sprintf("{ echo %s; %s; echo; echo %s; } >/dev/ttyS0 2>&1", begin, cmd, end)
	if err := c.ty.line(line); err != nil {
		c.t.Fatal(err)
	}
	l := c.wait(end+"\n", 2*time.Minute)
	// The serial log also echoes nothing of tty1's typing, so the markers
	// appear only as output.
	i := strings.LastIndex(l, begin+"\n")
	j := strings.LastIndex(l, end)
	if i < 0 || j < i {
		c.t.Fatalf("markers out of order in:\n%s", tail(l, 2000))
	}
	return l[i+len(begin)+1 : j]
}
