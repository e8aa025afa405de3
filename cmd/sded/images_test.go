package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sded/sded/cluster/model"
)

// importFixture makes an import directory (0700) beside a secret file
// outside it, and fills the directory with one file of each kind the web
// UI must refuse next to two it may use.
func importFixture(t *testing.T) (importDir, string) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "import")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(root, "shadow")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(secret, "root:$y$secret")
	write(filepath.Join(dir, "disk.qcow2"), "disk bytes")
	write(filepath.Join(dir, "vmlinuz"), "kernel bytes")
	write(filepath.Join(dir, ".hidden"), "hidden")
	if err := os.Symlink(secret, filepath.Join(dir, "escape.img")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("disk.qcow2", filepath.Join(dir, "inside-link.img")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(dir, "hardlink.img")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "sub", "nested.img"), "nested")
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.img"), 0o600); err != nil {
		t.Fatal(err)
	}
	return importDir(dir), secret
}

// TestImportDirOpen: only a plain name of a regular file inside the
// directory opens; every way out of it is refused with an error naming
// the request's field, and nothing hangs.
func TestImportDirOpen(t *testing.T) {
	dir, secret := importFixture(t)
	tests := []struct {
		name string
		want string // "" opens; otherwise a piece of the error
	}{
		{"disk.qcow2", ""},
		{"vmlinuz", ""},
		{secret, "not a path"},
		{"/etc/shadow", "not a path"},
		{"../shadow", "not a path"},
		{"up/shadow", "not a path"},
		{"sub/nested.img", "not a path"},
		{"..", "hidden"},
		{".", "hidden"},
		{".hidden", "hidden"},
		{"", "choose a file"},
		{"escape.img", "symbolic link"},
		{"inside-link.img", "symbolic link"},
		{"up", "symbolic link"},
		{"hardlink.img", "hard links"},
		{"sub", "not a regular file"},
		{"pipe.img", "not a regular file"},
		{"missing.img", "no file"},
		{"bad\nname", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var f *os.File
			var err error
			go func() { f, err = dir.open("kernel", tt.name); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("open hung")
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				defer f.Close()
				b, err := io.ReadAll(f)
				if err != nil || !strings.HasSuffix(string(b), "bytes") {
					t.Errorf("read %q, %v", b, err)
				}
				// registerImage hands the file on by descriptor.
				b2, err := os.ReadFile(fdPath(f))
				if err != nil || string(b2) != string(b) {
					t.Errorf("reading through %s: %q, %v", fdPath(f), b2, err)
				}
				return
			}
			if err == nil {
				f.Close()
				t.Fatalf("opened %q, want refusal", tt.name)
			}
			e := model.AsError(err)
			if e.Code != model.CodeInvalid || e.Field != "kernel" || !strings.Contains(e.Message, tt.want) {
				t.Errorf("error %v (code %s, field %q), want invalid on kernel mentioning %q", err, e.Code, e.Field, tt.want)
			}
			if strings.Contains(e.Message, "secret") {
				t.Errorf("error shows the secret file's content: %v", err)
			}
		})
	}
}

func TestImportDirList(t *testing.T) {
	dir, _ := importFixture(t)
	files, err := dir.list()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		if f.Size == 0 || f.Modified.IsZero() {
			t.Errorf("%s: size %d, modified %v", f.Name, f.Size, f.Modified)
		}
	}
	// Only what open accepts is offered.
	if d := cmp.Diff([]string{"disk.qcow2", "vmlinuz"}, names); d != "" {
		t.Errorf("listed files (-want +got):\n%s", d)
	}
}

// TestImportDirUnsafe: a directory others may write to, a missing one and
// a file where the directory should be are refused as unavailable.
func TestImportDirUnsafe(t *testing.T) {
	dir, _ := importFixture(t)
	if err := os.Chmod(string(dir), 0o770); err != nil {
		t.Fatal(err)
	}
	for _, d := range []importDir{dir, importDir(filepath.Join(t.TempDir(), "missing")), importDir(filepath.Join(string(dir), "disk.qcow2"))} {
		if _, err := d.list(); model.CodeOf(err) != model.CodeUnavailable {
			t.Errorf("list %s: %v, want unavailable", d, err)
		}
		if _, err := d.open("file", "disk.qcow2"); model.CodeOf(err) != model.CodeUnavailable {
			t.Errorf("open in %s: %v, want unavailable", d, err)
		}
	}
}

func TestDefaultImportDir(t *testing.T) {
	cfg, err := LoadConfig(writeConf(t, "[node]\ndata_dir = /srv/sded\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.ImageImportDir != "/srv/sded/import" {
		t.Errorf("image_import_dir = %q, want data_dir/import", cfg.Storage.ImageImportDir)
	}
	cfg, err = LoadConfig(writeConf(t, "[storage]\nimage_import_dir = /srv/images\n"))
	if err != nil || cfg.Storage.ImageImportDir != "/srv/images" {
		t.Errorf("image_import_dir = %q, %v", cfg.Storage.ImageImportDir, err)
	}
	if _, err := LoadConfig(writeConf(t, "[storage]\nimage_import_dir = images\n")); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("relative image_import_dir: %v, want refusal", err)
	}
}
