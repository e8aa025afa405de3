// Package testenv tells tests whether the real prerequisites they need (root,
// libvirtd, a browser) are present. Outside CI a missing prerequisite skips the
// test with a clear reason; in CI (CI=true), where everything is installed, it
// fails the test instead, so CI can never silently skip the real tests.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// missing skips or fails t for an absent prerequisite.
func missing(t testing.TB, what string) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing in CI: %s", what)
	}
	t.Skipf("skipping: %s (run `make deps` as root, or set CI=true to make this a failure)", what)
}

// RequireRoot skips (or fails in CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "test needs root")
	}
}

// RequireLibvirt skips (or fails in CI) unless libvirtd's socket is present.
func RequireLibvirt(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if _, err := os.Stat("/run/libvirt/libvirt-sock"); err != nil {
		missing(t, "libvirtd is not running (/run/libvirt/libvirt-sock absent)")
	}
}

// RequireCommand skips (or fails in CI) unless the named program is on PATH,
// and returns its path.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" is not installed")
	}
	return p
}

// RequireFile skips (or fails in CI) unless path exists; hint says how to make it.
func RequireFile(t testing.TB, path, hint string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, path+" is absent ("+hint+")")
	}
}
