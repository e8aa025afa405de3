package testenv

import (
	"os"
	"syscall"
	"testing"
)

// hostLock is the file every test that runs a whole sded daemon locks: two
// daemons on one host would each remove the other's bridges and iptables
// chains (each owns everything with sded's prefixes), so such tests run one
// at a time even when `go test` runs packages in parallel.
const hostLock = "/tmp/sded-test-daemon.lock"

// LockHost blocks until this test is the only one on the host running an
// sded daemon, and releases the lock when the test ends.
func LockHost(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(hostLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("opening %s: %v", hostLock, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("locking %s: %v", hostLock, err)
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
