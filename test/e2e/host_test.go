package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// host is the private machine sded runs on in a test: a network namespace
// holding sded's bridges, firewall chains and listeners, and a libvirtd (with
// its virtlogd) in a mount namespace of its own, so libvirt's state, sockets
// and domains are separate from the machine's libvirtd.
type host struct {
	t      testing.TB
	dir    string // work directory, 0711
	ns     *netnstest.NS
	holder *exec.Cmd // `sleep infinity` that keeps the mount namespace alive
	pid    int       // the holder's PID: nsenter -t pid -m -n enters the host
	root   string    // /proc/<pid>/root: the host's file system view
	uri    string    // libvirt URI of the private libvirtd
	guest  guest.Files
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mountScript runs as the holder inside the new mount namespace: it gives
// libvirt private run, state, cache and log directories and a copy of
// /etc/libvirt, then sleeps until killed.
const mountScript = `set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run/libvirt
mount -t tmpfs -o mode=0755 tmpfs /var/lib/libvirt
mkdir -p /var/lib/libvirt/qemu /var/lib/libvirt/boot /var/lib/libvirt/images
chown libvirt-qemu:libvirt-qemu /var/lib/libvirt/qemu
chmod 0750 /var/lib/libvirt/qemu
mount -t tmpfs -o mode=0711 tmpfs /var/cache/libvirt
mount --bind "$1/log" /var/log/libvirt
mount --bind "$1/etc/libvirt" /etc/libvirt
# The projects' shared folders need a filesystem with encryption enabled.
truncate -s 512M "$1/sharedfs.img"
mkfs.ext4 -q -F -O encrypt -E lazy_itable_init=0,lazy_journal_init=0 "$1/sharedfs.img"
mkdir -p "$1/sharedfs"
mount -o loop "$1/sharedfs.img" "$1/sharedfs"
echo ready >"$1/ready"
exec sleep infinity
`

// newHost builds a private host for one test. Everything is removed again
// in t.Cleanup, even when the test fails.
func newHost(t testing.TB) *host {
	t.Helper()
	testenv.RequireLibvirt(t)
	for _, c := range []string{"libvirtd", "virtlogd", "virsh", "nsenter", "unshare", "qemu-img", "qemu-io", "ip", "iptables"} {
		testenv.RequireCommand(t, c)
	}
	requireBinary(t)
	files := guest.Require(t)
	h := &host{t: t, guest: files}
	var err error
	if h.dir, err = os.MkdirTemp("", "sded-e2e-"); err != nil {
		t.Fatal(err)
	}
	// QEMU runs as libvirt-qemu and must pass through to the disks below.
	if err := os.Chmod(h.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("SDED_E2E_KEEP") != "" {
			t.Logf("keeping %s (SDED_E2E_KEEP)", h.dir)
			return
		}
		os.RemoveAll(h.dir)
	})
	h.ns = netnstest.New(t, "e2e")

	// libvirt's configuration, without the machine's domains, secrets and
	// autostarted networks.
	etc := filepath.Join(h.dir, "etc")
	if err := os.MkdirAll(filepath.Join(h.dir, "log"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", "-a", "/etc/libvirt", etc)
	for _, g := range []string{"qemu/*.xml", "qemu/autostart/*", "qemu/networks/autostart/*", "secrets/*", "storage/autostart/*", "nwfilter-bindings/*"} {
		ms, _ := filepath.Glob(filepath.Join(etc, "libvirt", g))
		for _, m := range ms {
			os.RemoveAll(m)
		}
	}
	script := filepath.Join(h.dir, "mount.sh")
	if err := os.WriteFile(script, []byte(mountScript), 0o700); err != nil {
		t.Fatal(err)
	}
	h.holder = exec.Command("ip", "netns", "exec", h.ns.Name, "unshare", "-m", "sh", script, h.dir)
	h.holder.Stdout, h.holder.Stderr = os.Stderr, os.Stderr
	if err := h.holder.Start(); err != nil {
		t.Fatal(err)
	}
	h.pid = h.holder.Process.Pid // ip, unshare and sh all exec: this is sleep
	h.root = fmt.Sprintf("/proc/%d/root", h.pid)
	h.uri = "qemu+unix:///system?socket=" + h.root + "/run/libvirt/libvirt-sock"
	t.Cleanup(h.close)
	waitFor(t, 10*time.Second, "the host's mount namespace", func() error {
		_, err := os.Stat(filepath.Join(h.dir, "ready"))
		return err
	})
	h.in("virtlogd", "-d", "-p", filepath.Join(h.dir, "virtlogd.pid"))
	h.startLibvirtd()
	// The host may forward: only sded's rules keep projects in.
	h.in("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return h
}

// in runs a command on the host (its mount and network namespaces) and
// fails the test on error.
func (h *host) in(args ...string) string {
	h.t.Helper()
	out, err := h.try(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// try runs a command on the host and returns its output.
func (h *host) try(args ...string) (string, error) {
	full := append([]string{"-t", strconv.Itoa(h.pid), "-m", "-n"}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s (on the test host): %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// path maps a path on the host (e.g. a VNC socket libvirt placed) to one the
// test can open.
func (h *host) path(p string) string { return h.root + p }

// virsh runs virsh against the host's libvirtd.
func (h *host) virsh(args ...string) (string, error) {
	out, err := exec.Command("virsh", append([]string{"-q", "-c", h.uri}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("virsh %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// mustVirsh is virsh that fails the test on error.
func (h *host) mustVirsh(args ...string) string {
	h.t.Helper()
	out, err := h.virsh(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *host) libvirtdPID() int {
	b, err := os.ReadFile(filepath.Join(h.dir, "libvirtd.pid"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// startLibvirtd starts the host's libvirtd (`libvirtd -d`) and waits until it
// answers.
func (h *host) startLibvirtd() {
	h.t.Helper()
	h.in("libvirtd", "-d", "-p", filepath.Join(h.dir, "libvirtd.pid"))
	waitFor(h.t, 30*time.Second, "the host's libvirtd", func() error {
		_, err := h.virsh("version")
		return err
	})
}

// killLibvirtd kills the host's libvirtd with SIGKILL, as a crash would, and
// waits until it is gone. Its domains keep running.
func (h *host) killLibvirtd() {
	h.t.Helper()
	pid := h.libvirtdPID()
	if pid == 0 {
		h.t.Fatal("no libvirtd pid file")
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(h.t, 10*time.Second, "libvirtd to die", func() error {
		if syscall.Kill(pid, 0) == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z") {
				return nil // a zombie: dead, waiting for its parent
			}
			return fmt.Errorf("pid %d alive", pid)
		}
		return nil
	})
}

// domains lists the names of all domains of the host's libvirtd.
func (h *host) domains() []string {
	out, err := h.virsh("list", "--all", "--name")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

// close destroys every domain of the private libvirtd, stops libvirtd,
// virtlogd and the holder; the namespace goes in netnstest's cleanup.
func (h *host) close() {
	if h.libvirtdPID() != 0 && syscall.Kill(h.libvirtdPID(), 0) != nil {
		// libvirtd died (a test killed it): start it once more so that its
		// domains can be destroyed properly.
		_, _ = h.try("libvirtd", "-d", "-p", filepath.Join(h.dir, "libvirtd.pid"))
		for range 50 {
			if _, err := h.virsh("version"); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, d := range h.domains() {
		_, _ = h.virsh("destroy", d)
		_, _ = h.virsh("undefine", d)
	}
	for _, f := range []string{"libvirtd.pid", "virtlogd.pid"} {
		if b, err := os.ReadFile(filepath.Join(h.dir, f)); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				waitGone(pid, 10*time.Second)
			}
		}
	}
	// QEMU processes that outlived their libvirtd: they serve only this
	// test's disks, found by this test's unique directory.
	for _, pid := range pidsWithArg(h.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if h.holder != nil && h.holder.Process != nil {
		_ = h.holder.Process.Kill()
		_ = h.holder.Wait()
	}
}

// waitGone waits until pid no longer exists (or is a zombie).
func waitGone(pid int, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// pidsWithArg lists processes whose command line mentions s.
func pidsWithArg(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) && bytes.Contains(b, []byte("qemu-system")) {
			out = append(out, pid)
		}
	}
	return out
}

// run runs a command on the machine and fails the test on error.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitFor polls fn until it returns nil or d passes.
func waitFor(t testing.TB, d time.Duration, what string, fn func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting %s for %s: %v", d, what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
