package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAndLoadKEK(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	path := filepath.Join(dir, "kek")
	k, err := CreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != KEKSize {
		t.Errorf("key file mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), KEKSize)
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", di.Mode().Perm())
	}
	// A second init must not overwrite the key.
	if _, err := CreateKEK(path); !errors.Is(err, ErrKEKExists) {
		t.Errorf("CreateKEK twice: err = %v, want ErrKEKExists", err)
	}
	l, err := LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.ID() != k.ID() || l.key != k.key {
		t.Error("loaded KEK differs from created one")
	}
}

func TestLoadKEKRejects(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, path string)
		wantErr string
	}{
		{"missing file", func(t *testing.T, dir, path string) { os.Remove(path) }, "no such file"},
		{"group readable", func(t *testing.T, dir, path string) { os.Chmod(path, 0o640) }, "want 0600"},
		{"world readable dir", func(t *testing.T, dir, path string) { os.Chmod(dir, 0o755) }, "want 0700"},
		{"truncated", func(t *testing.T, dir, path string) { os.Truncate(path, 16) }, "16 bytes, want 32"},
		{"too long", func(t *testing.T, dir, path string) { os.WriteFile(path, make([]byte, 64), 0o600) }, "64 bytes"},
		{"symlink", func(t *testing.T, dir, path string) {
			os.Rename(path, path+".real")
			os.Symlink(path+".real", path)
		}, "not a regular file"},
		{"directory", func(t *testing.T, dir, path string) { os.Remove(path); os.Mkdir(path, 0o700) }, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			path := filepath.Join(dir, "kek")
			if _, err := CreateKEK(path); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir, path)
			_, err := LoadKEK(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadKEK: err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func testKEK(t *testing.T) *KEK {
	t.Helper()
	k, err := CreateKEK(filepath.Join(t.TempDir(), "k", "kek"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWrapUnwrap(t *testing.T) {
	k := testKEK(t)
	d, err := NewDEK()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := k.Wrap("p1", d)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, d.key[:8]) {
		t.Error("wrapped blob contains key bytes")
	}
	got, err := k.Unwrap("p1", blob)
	if err != nil {
		t.Fatal(err)
	}
	if got.key != d.key {
		t.Error("unwrapped key differs")
	}
	if id, _ := WrappedKEKID(blob); id != k.ID() {
		t.Errorf("blob KEK id %s, want %s", id, k.ID())
	}

	flipped := bytes.Clone(blob)
	flipped[len(flipped)-1] ^= 1
	other := testKEK(t)
	tests := []struct {
		name    string
		kek     *KEK
		project string
		blob    []byte
		want    error
	}{
		{"moved to another project", k, "p2", blob, ErrUnwrap},
		{"bit flipped", k, "p1", flipped, ErrUnwrap},
		{"truncated", k, "p1", blob[:20], ErrUnwrap},
		{"unknown version", k, "p1", append([]byte{9}, blob[1:]...), ErrUnwrap},
		{"other KEK", other, "p1", blob, ErrWrongKEK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.kek.Unwrap(tt.project, tt.blob); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRewrap(t *testing.T) {
	oldK, newK := testKEK(t), testKEK(t)
	d, _ := NewDEK()
	blob, _ := oldK.Wrap("p1", d)
	nb, err := Rewrap(oldK, newK, "p1", blob)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := WrappedKEKID(nb); id != newK.ID() {
		t.Errorf("rewrapped id %s, want %s", id, newK.ID())
	}
	got, err := newK.Unwrap("p1", nb)
	if err != nil || got.key != d.key {
		t.Fatalf("unwrap after rewrap: %v", err)
	}
	if _, err := oldK.Unwrap("p1", nb); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("old KEK on rewrapped blob: %v", err)
	}
	if _, err := Rewrap(newK, oldK, "p1", blob); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("rewrap with wrong source KEK: %v", err)
	}
}

func TestDeriveIndependent(t *testing.T) {
	d, _ := NewDEK()
	seen := map[string]string{}
	for _, k := range [][]byte{d.VolumeSecret("ws-1"), d.VolumeSecret("ws-2"), d.VolumeSecret("shared"), d.StagingKey(), d.PseudonymKey()} {
		if prev, ok := seen[string(k)]; ok {
			t.Errorf("two purposes share a key (%s)", prev)
		}
		seen[string(k)] = "x"
	}
	if !bytes.Equal(d.VolumeSecret("ws-1"), d.VolumeSecret("ws-1")) {
		t.Error("derivation is not deterministic")
	}
	if len(d.VolumeSecret("x")) != 64 {
		t.Error("volume secret is not 64 hex chars")
	}
}
