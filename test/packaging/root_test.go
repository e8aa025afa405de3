package packaging

import (
	"bytes"
	"fmt"
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
	// binds are systemd-nspawn --bind arguments (HOST:CONTAINER) for boots.
	binds []string
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
	// Roots left by a test run that was killed (a timeout) are ~500 MB each.
	if old, _ := filepath.Glob(filepath.Join(cache, "root-*")); len(old) > 0 {
		for _, d := range old {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > 6*time.Hour {
				t.Logf("removing a stale root %s", d)
				os.RemoveAll(d)
			}
		}
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
