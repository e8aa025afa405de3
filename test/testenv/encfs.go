package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EncryptedFS creates a filesystem with encryption enabled for the test's
// shared folders: a sparse image file (sizeMiB) under the test's temporary
// directory, formatted ext4 with the "encrypt" feature and loop-mounted. It
// returns the mount point and the image file (whose raw bytes tests search
// for plaintext). It is unmounted at cleanup. Needs root, mkfs.ext4 and loop
// devices.
func EncryptedFS(t testing.TB, sizeMiB int) (mnt, image string) {
	t.Helper()
	RequireRoot(t)
	RequireCommand(t, "mkfs.ext4")
	RequireFile(t, "/dev/loop-control", "loop devices")
	dir := t.TempDir()
	image, mnt = filepath.Join(dir, "encfs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// No lazy init: the image must not change behind the test's back.
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-O", "encrypt", "-E", "lazy_itable_init=0,lazy_journal_init=0", image).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 -O encrypt: %v\n%s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", image, mnt).CombinedOutput(); err != nil {
		missing(t, "cannot loop-mount an ext4 image: "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			// Busy (e.g. a virtiofsd still exiting): detach lazily.
			if out2, err2 := exec.Command("umount", "-l", mnt).CombinedOutput(); err2 != nil {
				t.Errorf("umount %s: %v %s / %v %s", mnt, err, out, err2, out2)
			}
		}
	})
	return mnt, image
}
