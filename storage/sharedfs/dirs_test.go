package sharedfs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sded/sded/test/testenv"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, k); err != nil {
		t.Fatal(err)
	}
	return k
}

// newDirs opens Dirs on a fresh loop-mounted ext4 with encryption enabled.
func newDirs(t *testing.T) (*Dirs, string) {
	t.Helper()
	mnt, image := testenv.EncryptedFS(t, 64)
	d, err := New(filepath.Join(mnt, "shared"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ps, _ := d.Projects()
		for _, p := range ps {
			d.Lock(context.Background(), p)
		}
	})
	return d, image
}

func TestFolderEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	d, image := newDirs(t)
	key := newKey(t)
	dir, err := d.Unlock(ctx, "p1", key)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o777 {
		t.Fatalf("folder: %v %v, want a 0777 directory", st, err)
	}
	if st, _ := os.Stat(d.Root()); st.Mode().Perm() != 0o700 {
		t.Errorf("root mode %v, want 0700", st.Mode().Perm())
	}
	marker := []byte("SDED-SHARED-MARKER-0b7f3c")
	name := "results-for-the-paper.txt"
	if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat(marker, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sync").CombinedOutput(); err != nil {
		t.Fatalf("sync: %v %s", err, out)
	}
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, marker) || bytes.Contains(raw, []byte(name)) {
		t.Fatalf("the filesystem image holds the file's contents or name in plain text")
	}
	if ok, err := d.Unlocked(ctx, "p1"); err != nil || !ok {
		t.Fatalf("Unlocked = %v, %v; want true", ok, err)
	}

	// Locked: neither the name nor the contents are readable, even by root.
	if busy, err := d.Lock(ctx, "p1"); err != nil || busy {
		t.Fatalf("Lock = %v, %v", busy, err)
	}
	if ok, _ := d.Unlocked(ctx, "p1"); ok {
		t.Fatal("still unlocked after Lock")
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("locked folder lists %v, %v; want one entry", ents, err)
	}
	if ents[0].Name() == name {
		t.Fatalf("locked folder shows the plain name %q", name)
	}
	if _, err := os.ReadFile(filepath.Join(dir, ents[0].Name())); err == nil {
		t.Fatal("a locked file could be read")
	}
	if err := os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644); err == nil {
		t.Fatal("a file could be created in a locked folder")
	}

	// Unlocked again with the same key: everything is back.
	if _, err := d.Unlock(ctx, "p1", key); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil || !bytes.Equal(got, bytes.Repeat(marker, 1000)) {
		t.Fatalf("after unlock: %d bytes, %v", len(got), err)
	}
	if ps, err := d.Projects(); err != nil || len(ps) != 1 || ps[0] != "p1" {
		t.Fatalf("Projects = %v, %v", ps, err)
	}

	// Delete: locked and gone.
	if err := d.Delete(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("folder still there after Delete: %v", err)
	}
	if err := d.Delete(ctx, "p1"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestProjectsAreIndependent(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirs(t)
	k1, k2 := newKey(t), newKey(t)
	d1, err := d.Unlock(ctx, "p1", k1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := d.Unlock(ctx, "p2", k2)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{d1, d2} {
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(dir), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Lock(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(filepath.Join(d2, "f")); err != nil {
		t.Fatalf("locking p1 locked p2: %v", err)
	}
	// p2's key does not open p1's folder.
	if _, err := d.Unlock(ctx, "p1", k2); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Unlock p1 with p2's key: %v, want ErrWrongKey", err)
	}
	if ok, _ := d.Unlocked(ctx, "p1"); ok {
		t.Fatal("p1 unlocked by p2's key")
	}
}

// Bad input: every refusal leaves the folders as they were.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirs(t)
	key := newKey(t)
	if _, err := d.Unlock(ctx, "p1", key[:32]); err == nil {
		t.Error("a 32-byte key was accepted")
	}
	for _, p := range []string{"", "../etc", "a/b", ".tmp", "UPPER", "x\x00y"} {
		if _, err := d.Unlock(ctx, p, key); err == nil {
			t.Errorf("project %q accepted", p)
		}
		if _, err := d.Lock(ctx, p); err == nil {
			t.Errorf("Lock(%q) accepted", p)
		}
	}
	// A plain directory where the folder belongs is refused, not encrypted
	// or emptied.
	plain := d.Path("p2")
	if err := os.Mkdir(plain, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "keep"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Unlock(ctx, "p2", key); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("Unlock over a plain directory: %v, want ErrNotEncrypted", err)
	}
	if b, err := os.ReadFile(filepath.Join(plain, "keep")); err != nil || string(b) != "keep" {
		t.Fatalf("the plain directory was changed: %q %v", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.Root(), tmpDir)); len(ents) != 0 {
		t.Errorf("left behind in .tmp: %v", ents)
	}
}

// A filesystem without encryption support (tmpfs) gives ErrUnsupported and
// no folder, never an unencrypted one.
func TestUnsupportedFilesystem(t *testing.T) {
	testenv.RequireRoot(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	d, err := New(filepath.Join(mnt, "shared"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Unlock(context.Background(), "p1", newKey(t))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Unlock on tmpfs: %v, want ErrUnsupported", err)
	}
	if _, err := os.Stat(d.Path("p1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a folder was made on tmpfs: %v", err)
	}
	t.Logf("tmpfs: %v", err)
}

func TestIdentifier(t *testing.T) {
	if _, err := Identifier(make([]byte, 10)); err == nil {
		t.Error("short key accepted")
	}
	a, _ := Identifier(bytes.Repeat([]byte{1}, KeySize))
	b, _ := Identifier(bytes.Repeat([]byte{2}, KeySize))
	if a == b {
		t.Error("two keys give one identifier")
	}
}
