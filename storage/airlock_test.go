package storage

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/pseudonym"
	"github.com/sded/sded/storage/staged"
	"github.com/sded/sded/test/testenv"
)

// TestAirlockFlow wires the pieces the way the airlock does: an import is
// pseudonymised while it streams into the encrypted staged store, approved
// files are built into the project's data volume; an export is checked for
// disclosure straight from the store.
func TestAirlockFlow(t *testing.T) {
	requireQemu(t)
	testenv.RequireCommand(t, "mkfs.ext4")
	testenv.RequireCommand(t, "debugfs")
	ctx := context.Background()
	kek := testKEK(t)
	dek, _ := NewDEK()
	wrapped, _ := kek.Wrap("p1", dek)
	dek, err := kek.Unwrap("p1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	store, err := staged.New(staged.Config{Root: filepath.Join(t.TempDir(), "staged")})
	if err != nil {
		t.Fatal(err)
	}

	// Import: pseudonymise on the way in.
	upload := strings.NewReader("nhs_number,age\n9434765919,40\n9434765870,31\n")
	pr, pw := io.Pipe()
	go func() {
		_, err := pseudonym.Transform(ctx, dek.PseudonymKey(), upload, pw, pseudonym.Options{Columns: []string{"nhs_number"}})
		pw.CloseWithError(err)
	}()
	f, err := store.Put(ctx, "p1", dek.StagingKey(), "cohort.csv", pr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pseudonym.New(dek.PseudonymKey())
	want := "nhs_number,age\n" + p.Of("9434765919") + ",40\n" + p.Of("9434765870") + ",31\n"

	// Approved: build the data volume from the store.
	v := newTestVolumes(t)
	secret := dek.VolumeSecret(DataVolumeName)
	dv, err := v.BuildDataVolume(ctx, "p1", []DataFile{{Name: f.Name, Open: func(ctx context.Context) (io.ReadCloser, error) {
		return store.Open(ctx, "p1", dek.StagingKey(), f.ID)
	}}}, secret)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := decryptToRaw(ctx, t, secret, dv)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "fs.raw")
	os.WriteFile(raw, plain, 0o600)
	out, err := exec.Command("debugfs", "-R", "cat /cohort.csv", raw).Output()
	if err != nil || string(out) != want {
		t.Errorf("cohort.csv in the data volume = %q (%v), want %q", out, err, want)
	}
	if bytes.Contains(plain, []byte("9434765919")) {
		t.Error("identifier reached the data volume")
	}

	// Export: disclosure check read back from the encrypted store.
	e, err := store.Put(ctx, "p1", dek.StagingKey(), "table.csv", strings.NewReader("region,count\nNorth,12\nSouth,3\n"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := store.Open(ctx, "p1", dek.StagingKey(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	fr, err := disclosure.CheckFile(ctx, e.Name, rc, disclosure.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fr.SHA256 != e.SHA256 || fr.Status != disclosure.Fail || fr.Cells[1].Results.Threshold != disclosure.Fail {
		t.Errorf("disclosure record %+v (staged sha %s)", fr, e.SHA256)
	}

	// Crypto-shredding: without the wrapped key nothing can be read.
	other, _ := NewDEK()
	if _, err := decryptToRaw(ctx, t, other.VolumeSecret(DataVolumeName), dv); err == nil {
		t.Error("data volume opened without the project key")
	}
	if rc, err := store.Open(ctx, "p1", other.StagingKey(), e.ID); err == nil {
		if _, err := io.ReadAll(rc); err == nil {
			t.Error("staged file read without the project key")
		}
	}
}

func TestCleanTemp(t *testing.T) {
	v := newTestVolumes(t)
	os.WriteFile(filepath.Join(v.Root(), "tmp", "ws-123.qcow2"), []byte("half"), 0o600)
	if err := v.CleanTemp(); err != nil {
		t.Fatal(err)
	}
	assertTmpEmpty(t, v)
}
