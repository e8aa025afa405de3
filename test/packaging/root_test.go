package packaging

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// debianRoot is a fresh Debian 12 root unpacked from the cached debootstrap
// tarball, in which commands run chrooted (test/packaging/in-root.sh).
type debianRoot struct {
	t        *testing.T
	dir      string
	archives string
}

// newDebianRoot unpacks a fresh root; debootstrap runs only when the cached
// tarball (.cache/packaging/debian12-minbase.tar) is absent.
func newDebianRoot(t *testing.T) *debianRoot {
	t.Helper()
	requireTools(t, "debootstrap", "unshare", "chroot", "tar")
	cache := filepath.Join(repoRoot(t), ".cache", "packaging")
	start := time.Now()
	out := run(t, nil, "bash", filepath.Join(repoRoot(t), "test/packaging/debian-root.sh"), cache)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tarball := lines[len(lines)-1]
	t.Logf("Debian 12 base root %s ready in %v", tarball, time.Since(start).Round(time.Second))

	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(cache, "root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Every mount in-root.sh makes lives in a namespace that ended with
		// its command; refuse to delete through one that somehow remains.
		if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(mi, []byte(dir+"/")) {
			t.Errorf("mounts remain under %s; not deleting it", dir)
			return
		}
		os.RemoveAll(dir)
	})
	start = time.Now()
	run(t, nil, "tar", "-C", dir, "-xf", tarball)
	t.Logf("unpacked the root in %v", time.Since(start).Round(time.Second))
	return &debianRoot{t: t, dir: dir, archives: filepath.Join(cache, "apt-archives")}
}

func (r *debianRoot) command(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(r.t), "test/packaging/in-root.sh"), r.dir, r.archives}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// sh runs a shell command in the root and returns its combined output.
func (r *debianRoot) sh(script string) (string, error) {
	out, err := r.command(nil, "/bin/sh", "-c", script).CombinedOutput()
	return string(out), err
}

// mustSh is sh that fails the test on error, logging how long the step took.
func (r *debianRoot) mustSh(step, script string) string {
	r.t.Helper()
	start := time.Now()
	out, err := r.sh(script)
	if err != nil {
		r.t.Fatalf("%s: %s: %v\n%s", step, script, err, out)
	}
	r.t.Logf("%s: %v", step, time.Since(start).Round(100*time.Millisecond))
	return out
}

// path is the host path of a path inside the root.
func (r *debianRoot) path(p string) string { return filepath.Join(r.dir, p) }

// copyIn puts a host file into the root's /tmp and returns its path there.
func (r *debianRoot) copyIn(src string) string {
	r.t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		r.t.Fatal(err)
	}
	in := "/tmp/" + filepath.Base(src)
	if err := os.WriteFile(r.path(in), data, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return in
}

// serveUntilReady starts `sded serve` in the root, in a network namespace of
// its own (loopback only; the bridges and firewall chains it makes vanish
// with it) and with the host's libvirtd socket, waits for READY=1 on a real
// notify socket as systemd would, then stops it with SIGTERM as systemd does.
// It returns sded's log.
func (r *debianRoot) serveUntilReady(timeout time.Duration) string {
	r.t.Helper()
	const sockIn = "/var/tmp/sded-test-notify.sock"
	sock := r.path(sockIn)
	os.Remove(sock)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		r.t.Fatalf("notify socket: %v", err)
	}
	defer conn.Close()
	var log bytes.Buffer
	cmd := r.command([]string{"SDED_NETNS=1", "SDED_BIND_LIBVIRT=1", "NOTIFY_SOCKET=" + sockIn},
		"/usr/bin/sded", "serve", "--config", "/etc/sded/sded.conf")
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	states := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(states)
				return
			}
			states <- string(buf[:n])
		}
	}()
	deadline := time.After(timeout)
	for ready := false; !ready; {
		select {
		case s := <-states:
			ready = strings.Contains("\n"+s+"\n", "\nREADY=1\n")
		case err := <-exited:
			r.t.Fatalf("sded serve exited before READY=1: %v\n%s", err, log.String())
		case <-deadline:
			r.t.Fatalf("sded serve sent no READY=1 within %v\n%s", timeout, log.String())
		}
	}
	r.t.Logf("sded serve ready (READY=1) after %v", time.Since(start).Round(100*time.Millisecond))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			r.t.Fatalf("sded serve did not exit cleanly on SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(90 * time.Second): // TimeoutStopSec of the unit
		r.t.Fatalf("sded serve still running 90s after SIGTERM\n%s", log.String())
	}
	return log.String()
}

// mode is the permission bits and owner of a path in the root, as "0700 0:0".
func (r *debianRoot) mode(p string) string {
	r.t.Helper()
	fi, err := os.Stat(r.path(p))
	if err != nil {
		return "absent"
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%04o %d:%d", fi.Mode().Perm(), st.Uid, st.Gid)
}
