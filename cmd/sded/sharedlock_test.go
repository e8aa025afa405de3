package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sded/sded/storage/sharedfs"
	"github.com/sded/sded/test/testenv"
)

// The reconciler asks to lock every idle project's folder on every pass;
// the adapter asks the filesystem once until the folder is unlocked again.
func TestLockSharedOnce(t *testing.T) {
	mnt, _ := testenv.EncryptedFS(t, 32)
	dirs, err := sharedfs.New(filepath.Join(mnt, "shared"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := make([]byte, sharedfs.KeySize)
	key[0] = 1
	if _, err := dirs.Unlock(ctx, "p1", key); err != nil {
		t.Fatal(err)
	}
	a := &volumeAdapter{shared: dirs}
	unlocked := func() bool {
		ok, err := dirs.Unlocked(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := a.LockShared(ctx, "p1"); err != nil || unlocked() {
		t.Fatalf("LockShared: %v, unlocked %v", err, unlocked())
	}
	// Unlocked behind the adapter's back: a second LockShared does not ask
	// the filesystem again.
	if _, err := dirs.Unlock(ctx, "p1", key); err != nil {
		t.Fatal(err)
	}
	if err := a.LockShared(ctx, "p1"); err != nil || !unlocked() {
		t.Fatalf("second LockShared reached the filesystem: %v, unlocked %v", err, unlocked())
	}
	// After the adapter unlocks it (a workstation started), it locks again.
	a.setLocked("p1", false)
	if err := a.LockShared(ctx, "p1"); err != nil || unlocked() {
		t.Fatalf("LockShared after an unlock: %v, unlocked %v", err, unlocked())
	}
}
