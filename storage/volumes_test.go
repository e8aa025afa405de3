package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sded/sded/test/testenv"
)

func requireQemu(t testing.TB) {
	t.Helper()
	testenv.RequireCommand(t, "qemu-img")
	testenv.RequireCommand(t, "qemu-io")
}

func newTestVolumes(t testing.TB) *Volumes {
	t.Helper()
	v, err := NewVolumes(VolumesConfig{Root: filepath.Join(t.TempDir(), "vol"), ScratchDir: t.TempDir(), AllowDiskScratch: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func qemuImg(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v: %s", args, err, out)
	}
}

func fileSHA(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// assertTmpEmpty checks that nothing half-made is left under root/tmp.
func assertTmpEmpty(t *testing.T, v *Volumes) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(v.Root(), "tmp"))
	if len(ents) != 0 {
		t.Errorf("leftover temporary files: %v", ents)
	}
}

func TestRegisterImage(t *testing.T) {
	requireQemu(t)
	ctx := context.Background()
	v := newTestVolumes(t)
	src := t.TempDir()
	raw := filepath.Join(src, "base.raw")
	qemuImg(t, "create", "-q", "-f", "raw", raw, "16M")
	qcow := filepath.Join(src, "base.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", qcow, "32M")
	withBacking := filepath.Join(src, "child.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-b", qcow, "-F", "qcow2", withBacking)
	corruptBit := filepath.Join(src, "corrupt.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", corruptBit, "32M")
	setCorruptBit(t, corruptBit)
	truncated := filepath.Join(src, "trunc.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", truncated, "32M")
	b, _ := os.ReadFile(truncated)
	os.WriteFile(truncated, b[:300], 0o600)
	luks := filepath.Join(src, "luks.qcow2")
	if _, err := runQemu(ctx, []byte("pw"), "qemu-img", "create", "-q", "-f", "qcow2", "--object", secretArg, "-o", luksOpts(10), luks, "16M"); err != nil {
		t.Fatal(err)
	}

	t.Run("raw copy with checksum", func(t *testing.T) {
		img, err := v.RegisterImage(ctx, RegisterImageRequest{Name: "deb12", Source: raw, ExpectedSHA256: strings.ToUpper(fileSHA(t, raw))})
		if err != nil {
			t.Fatal(err)
		}
		want := Image{Name: "deb12", Path: v.ImagePath("deb12", "raw"), Format: "raw", VirtualSize: 16 << 20, SHA256: fileSHA(t, raw)}
		if img != want {
			t.Errorf("got %+v, want %+v", img, want)
		}
		if fileSHA(t, img.Path) != img.SHA256 {
			t.Error("copied file differs")
		}
		// The same name again is refused, not overwritten.
		if _, err := v.RegisterImage(ctx, RegisterImageRequest{Name: "deb12", Source: raw}); err == nil {
			t.Error("registering a name twice succeeded")
		}
	})
	t.Run("qcow2 by reference", func(t *testing.T) {
		img, err := v.RegisterImage(ctx, RegisterImageRequest{Name: "ref", Source: qcow, Format: "qcow2", Reference: true})
		if err != nil {
			t.Fatal(err)
		}
		if img.Path != qcow || img.Format != "qcow2" || img.VirtualSize != 32<<20 {
			t.Errorf("got %+v", img)
		}
	})

	bad := []struct {
		name    string
		req     RegisterImageRequest
		wantIs  error
		wantMsg string
	}{
		{"checksum mismatch", RegisterImageRequest{Name: "a", Source: raw, ExpectedSHA256: strings.Repeat("0", 64)}, ErrChecksumMismatch, "expected 0000"},
		{"checksum not hex", RegisterImageRequest{Name: "a", Source: raw, ExpectedSHA256: "xyz"}, nil, "not a hex SHA-256"},
		{"missing file", RegisterImageRequest{Name: "a", Source: filepath.Join(src, "nope")}, os.ErrNotExist, "no such file"},
		{"directory", RegisterImageRequest{Name: "a", Source: src}, ErrInvalidImage, "not a regular file"},
		{"backing file", RegisterImageRequest{Name: "a", Source: withBacking}, ErrInvalidImage, "backing file"},
		{"corrupt bit", RegisterImageRequest{Name: "a", Source: corruptBit}, ErrInvalidImage, "corrupt"},
		{"truncated qcow2", RegisterImageRequest{Name: "a", Source: truncated}, ErrInvalidImage, "qemu-img"},
		{"encrypted base", RegisterImageRequest{Name: "a", Source: luks}, ErrInvalidImage, "encrypted"},
		{"format mismatch", RegisterImageRequest{Name: "a", Source: raw, Format: "qcow2"}, ErrInvalidImage, "not qcow2"},
		{"unsupported format", RegisterImageRequest{Name: "a", Source: raw, Format: "vmdk"}, ErrInvalidImage, "want qcow2 or raw"},
		{"bad name", RegisterImageRequest{Name: "../etc", Source: raw}, nil, "invalid image id"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.RegisterImage(ctx, tt.req)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want containing %q", err, tt.wantMsg)
			}
			if _, err := os.Stat(v.ImagePath("a", "raw")); err == nil {
				t.Error("image file left behind")
			}
			assertTmpEmpty(t, v)
		})
	}
}

// setCorruptBit sets qcow2's "corrupt" incompatible feature bit (bit 1 of the
// 8-byte big-endian field at offset 72).
func setCorruptBit(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{2}, 79); err != nil {
		t.Fatal(err)
	}
}

// qemuIO runs qemu-io on an encrypted qcow2 with the secret on fd 3.
func qemuIO(ctx context.Context, secret []byte, path string, cmds ...string) (string, error) {
	args := []string{"--object", secretArg, "--image-opts", "driver=qcow2,file.filename=" + path + ",encrypt.key-secret=sec0"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := runQemu(ctx, secret, "qemu-io", args...)
	return string(out), err
}

// writeMarker writes a 64 KiB run of the marker at offset and returns it.
func writeMarker(t *testing.T, secret []byte, path string, offset int64) []byte {
	t.Helper()
	marker := []byte(fmt.Sprintf("SDED-MARKER-%s|", rand.Text()))
	pat := filepath.Join(t.TempDir(), "pattern")
	os.WriteFile(pat, marker, 0o600)
	if out, err := qemuIO(context.Background(), secret, path, fmt.Sprintf("write -s %s %d 64k", pat, offset)); err != nil || strings.Contains(out, "failed") {
		t.Fatalf("qemu-io write: %v %s", err, out)
	}
	return marker
}

// decryptToRaw converts an encrypted qcow2 (and its backing chain) to raw bytes.
func decryptToRaw(ctx context.Context, t *testing.T, secret []byte, path string) ([]byte, error) {
	out := filepath.Join(t.TempDir(), "plain.raw")
	_, err := runQemu(ctx, secret, "qemu-img", "convert", "--object", secretArg, "--image-opts",
		"driver=qcow2,file.filename="+path+",encrypt.key-secret=sec0", "-O", "raw", out)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

func TestOverlayEncryptsAtRest(t *testing.T) {
	requireQemu(t)
	ctx := context.Background()
	v := newTestVolumes(t)
	raw := filepath.Join(t.TempDir(), "base.raw")
	qemuImg(t, "create", "-q", "-f", "raw", raw, "8M")
	img, err := v.RegisterImage(ctx, RegisterImageRequest{Name: "base", Source: raw})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDEK()
	secret := d.VolumeSecret(OverlayVolumeName("w1"))
	p, err := v.CreateOverlay(ctx, "p1", "w1", img, 16<<20, secret)
	if err != nil {
		t.Fatal(err)
	}
	info, err := qemuInfo(ctx, p, "qcow2")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Encrypted || info.FullBacking != img.Path || info.BackingFormat != "raw" || info.VirtualSize != 16<<20 {
		t.Errorf("overlay info %+v", info)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("overlay mode %v", fi.Mode().Perm())
	}

	marker := writeMarker(t, secret, p, 1<<20)
	host, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(host, marker[:16]) {
		t.Fatal("host-side overlay file contains the plaintext marker")
	}
	plain, err := decryptToRaw(ctx, t, secret, p)
	if err != nil {
		t.Fatalf("reading back with the key: %v", err)
	}
	if !bytes.Contains(plain, marker) {
		t.Error("marker not readable with the key")
	}
	if _, err := qemuIO(ctx, d.VolumeSecret("ws-other"), p, "read 0 4k"); err == nil || !strings.Contains(err.Error(), "Invalid password") {
		t.Errorf("opening with a wrong key: err = %v, want Invalid password", err)
	}

	// Idempotent; a second workstation gets its own file.
	if p2, err := v.CreateOverlay(ctx, "p1", "w1", img, 16<<20, secret); err != nil || p2 != p {
		t.Errorf("second create: %v %v", p2, err)
	}
	bad := []struct {
		name, project, ws, base string
		size                    int64
		want                    string
	}{
		{"missing base", "p1", "w2", filepath.Join(t.TempDir(), "gone.raw"), 0, "No such file"},
		{"smaller than base", "p1", "w2", img.Path, 1 << 20, "smaller than the base"},
		{"traversal in workstation", "p1", "../w", img.Path, 0, "invalid workstation id"},
		{"traversal in project", "..", "w2", img.Path, 0, "invalid project id"},
		{"relative base", "p1", "w2", "base.raw", 0, "must be absolute"},
		{"json pseudo-path base", "p1", "w2", `json:{"file.driver":"file","file.filename":"/etc/shadow"}`, 0, "must be absolute"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.CreateOverlay(ctx, tt.project, tt.ws, Image{Path: tt.base, Format: "raw"}, tt.size, secret)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want containing %q", err, tt.want)
			}
			if _, err := os.Stat(v.OverlayPath("p1", "w2")); err == nil {
				t.Error("overlay left behind")
			}
			assertTmpEmpty(t, v)
		})
	}

	if err := v.RemoveOverlay(ctx, "p1", "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Error("overlay still there after RemoveOverlay")
	}
}

func TestRemoveProject(t *testing.T) {
	requireQemu(t)
	testenv.RequireCommand(t, "mkfs.ext4")
	ctx := context.Background()
	v := newTestVolumes(t)
	d, _ := NewDEK()
	p, err := v.EnsureProject(ctx, "p1", d.VolumeSecret(DataVolumeName))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveProject(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(p)); !errors.Is(err, os.ErrNotExist) {
		t.Error("project directory still there")
	}
}

// TestDiskFull fills a tiny tmpfs: registration fails with ENOSPC and leaves
// nothing behind.
func TestDiskFull(t *testing.T) {
	requireQemu(t)
	testenv.RequireRoot(t)
	ctx := context.Background()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "sded-test", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mounting tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	v, err := NewVolumes(VolumesConfig{Root: filepath.Join(mnt, "vol")})
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.raw")
	f, _ := os.Create(big)
	f.Write(bytes.Repeat([]byte{1}, 4<<20)) // not sparse: really needs 4 MiB
	f.Close()
	_, err = v.RegisterImage(ctx, RegisterImageRequest{Name: "big", Source: big})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err = %v, want no space left on device", err)
	}
	assertTmpEmpty(t, v)
	ents, _ := os.ReadDir(filepath.Join(v.Root(), "images"))
	if len(ents) != 0 {
		t.Errorf("images left: %v", ents)
	}

	// Fill the file system, then creating volumes fails cleanly too.
	fill, _ := os.Create(filepath.Join(mnt, "fill"))
	io.Copy(fill, io.LimitReader(zeroes{}, 4<<20))
	fill.Close()
	d, _ := NewDEK()
	if _, err := v.CreateOverlay(ctx, "p1", "w1", Image{Path: big, Format: "raw"}, 0, d.VolumeSecret(OverlayVolumeName("w1"))); err == nil {
		t.Error("CreateOverlay on a full disk succeeded")
	} else {
		t.Logf("full disk: %v", err)
	}
	assertTmpEmpty(t, v)
	if _, err := os.Stat(v.OverlayPath("p1", "w1")); !errors.Is(err, os.ErrNotExist) {
		t.Error("overlay left behind")
	}
}

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestBuildDataVolume(t *testing.T) {
	requireQemu(t)
	testenv.RequireCommand(t, "mkfs.ext4")
	testenv.RequireCommand(t, "debugfs")
	ctx := context.Background()
	v := newTestVolumes(t)
	d, _ := NewDEK()
	secret := d.VolumeSecret(DataVolumeName)
	marker := []byte("SDED-DATA-MARKER-" + rand.Text())
	big := bytes.Repeat(marker, 20000)
	files := []DataFile{
		{Name: "cohort.csv", Open: openBytes([]byte("id,age\n1,40\n"))},
		{Name: "big données.bin", Open: openBytes(big)},
	}
	p, err := v.BuildDataVolume(ctx, "p1", files, secret)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(p)
	if bytes.Contains(host, marker) {
		t.Fatal("host-side data volume contains plaintext")
	}
	plain, err := decryptToRaw(ctx, t, secret, p)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "fs.raw")
	os.WriteFile(raw, plain, 0o600)
	for _, f := range []struct {
		name string
		want []byte
	}{{"cohort.csv", []byte("id,age\n1,40\n")}, {"big données.bin", big}} {
		out, err := exec.Command("debugfs", "-R", "cat \"/"+f.name+"\"", raw).Output()
		if err != nil || !bytes.Equal(out, f.want) {
			t.Errorf("%s inside the volume: %d bytes, err %v", f.name, len(out), err)
		}
	}
	if out, _ := exec.Command("debugfs", "-R", "stats", raw).Output(); !bytes.Contains(out, []byte("Filesystem volume name:   "+DataVolumeLabel)) {
		t.Errorf("label missing")
	}
	if _, err := decryptToRaw(ctx, t, d.VolumeSecret("other"), p); err == nil {
		t.Error("opened with the wrong key")
	}

	// Rebuild with one more file replaces the volume atomically.
	files = append(files, DataFile{Name: "new.csv", Open: openBytes([]byte("x\n"))})
	if _, err := v.BuildDataVolume(ctx, "p1", files, secret); err != nil {
		t.Fatal(err)
	}
	prev, _ := os.ReadFile(p)

	bad := []struct {
		name  string
		files []DataFile
		want  string
	}{
		{"duplicate names", []DataFile{{Name: "a.csv", Open: openBytes(nil)}, {Name: "a.csv", Open: openBytes(nil)}}, "two files named"},
		{"traversal name", []DataFile{{Name: "../a.csv", Open: openBytes(nil)}}, "path separator"},
		{"open fails", []DataFile{{Name: "a.csv", Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("staged file gone") }}}, "staged file gone"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.BuildDataVolume(ctx, "p1", tt.files, secret)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if now, _ := os.ReadFile(p); !bytes.Equal(now, prev) {
				t.Error("previous data volume changed")
			}
			assertTmpEmpty(t, v)
		})
	}
	ents, _ := os.ReadDir(v.scratch)
	if len(ents) != 0 {
		t.Errorf("scratch not cleaned: %v", ents)
	}

	disk, err := NewVolumes(VolumesConfig{Root: filepath.Join(t.TempDir(), "v2"), ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if st := new(syscall.Statfs_t); syscall.Statfs(disk.scratch, st) == nil && st.Type != tmpfsMagic {
		if _, err := disk.BuildDataVolume(ctx, "p1", nil, secret); err == nil || !strings.Contains(err.Error(), "not a tmpfs") {
			t.Errorf("disk scratch: err = %v", err)
		}
	}
}

func openBytes(b []byte) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
