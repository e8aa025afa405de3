package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sded/sded/test/testenv"
)

func TestEnsureProjectAndRemoveWorkstation(t *testing.T) {
	requireQemu(t)
	testenv.RequireCommand(t, "mkfs.ext4")
	ctx := context.Background()
	v := newTestVolumes(t)
	d, _ := NewDEK()
	data, err := v.EnsureProject(ctx, "p1", d.VolumeSecret(DataVolumeName))
	if err != nil {
		t.Fatal(err)
	}
	if data != v.DataPath("p1") {
		t.Errorf("path %s", data)
	}
	info, err := qemuInfo(ctx, data, "qcow2")
	if err != nil || !info.Encrypted {
		t.Errorf("empty data volume: %+v %v", info, err)
	}
	st1, _ := os.Stat(data)
	if _, err := v.EnsureProject(ctx, "p1", d.VolumeSecret(DataVolumeName)); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(data); !os.SameFile(st1, st2) {
		t.Error("second EnsureProject rebuilt the data volume")
	}

	raw := filepath.Join(t.TempDir(), "b.raw")
	qemuImg(t, "create", "-q", "-f", "raw", raw, "4M")
	ov, err := v.CreateOverlay(ctx, "p1", "w9", Image{Path: raw, Format: "raw"}, 0, d.VolumeSecret(OverlayVolumeName("w9")))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveWorkstation(ctx, "w9"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ov); !errors.Is(err, os.ErrNotExist) {
		t.Error("overlay still there")
	}
	if err := v.RemoveWorkstation(ctx, "w9"); err != nil {
		t.Errorf("removing twice: %v", err)
	}
	if err := v.RemoveWorkstation(ctx, "*"); err == nil {
		t.Error("glob pattern accepted as a workstation id")
	}
}
