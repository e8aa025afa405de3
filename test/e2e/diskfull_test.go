package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// TestWorkstationDiskFull is the "disk full during create" case of issue 6
// item 8: sded's volume directory is a small file system (a 96 MiB tmpfs on
// the test host) that fills up before a workstation is created. The
// workstation fails with a status that says why, nothing half-made is left
// (no temporary volume, no domain, no secrets), and once space is freed it
// converges to running without anyone touching it.
func TestWorkstationDiskFull(t *testing.T) {
	h := newHost(t)
	small := filepath.Join(h.dir, "small")
	if err := os.Mkdir(small, 0o711); err != nil {
		t.Fatal(err)
	}
	h.in("mount", "-t", "tmpfs", "-o", "size=96m,mode=0711", "tmpfs", small)
	d := newDaemonWith(t, h, "[storage]\ndir = "+small+"\n")
	d.setup()
	p := d.addProject("delta")
	// Fill the volume file system (dd stops at "no space left").
	filler := filepath.Join(small, "filler")
	_, _ = h.try("dd", "if=/dev/zero", "of="+filler, "bs=1M")
	t.Logf("volume file system full:\n%s", h.in("df", "-h", small))

	w := d.addWorkstation(p.Slug, "ws-full")
	var cur model.Workstation
	waitFor(t, 60*time.Second, "a failed status", func() error {
		var err error
		if cur, _, err = d.workstation(p.Slug, w.ID); err != nil {
			return err
		}
		if cur.Status.State != model.ObservedFailed {
			return errString("status " + string(cur.Status.State) + ": " + cur.Status.Reason)
		}
		return nil
	})
	t.Logf("disk full: status %s: %s", cur.Status.State, cur.Status.Reason)
	if !strings.Contains(strings.ToLower(cur.Status.Reason), "no space left") {
		t.Errorf("the reason does not say the disk is full: %q", cur.Status.Reason)
	}
	if doms := h.domains(); len(doms) != 0 {
		t.Errorf("domains defined although the disks could not be made: %v", doms)
	}
	if out := h.mustVirsh("secret-list"); strings.Contains(out, "sded-") {
		t.Errorf("secrets set although the disks could not be made:\n%s", out)
	}
	if tmp := h.in("ls", "-A", filepath.Join(small, "tmp")); strings.TrimSpace(tmp) != "" {
		t.Errorf("half-made volumes left in %s/tmp: %s", small, tmp)
	}

	h.in("rm", "-f", filler)
	t.Log("space freed")
	d.waitStatus(p.Slug, w.ID, model.ObservedRunning, 120*time.Second)
	t.Log("the workstation converged to running")
}

type errString string

func (e errString) Error() string { return string(e) }
