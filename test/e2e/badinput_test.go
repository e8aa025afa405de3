package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sded/sded/cluster/model"
)

// TestWorkstationBadInput is issue 6 item 8 through the command line of the
// real daemon: every kind of bad input gets a clear error and leaves nothing
// half-created, and a libvirtd that dies (SIGKILL) and comes back
// (`libvirtd -d`) in the middle of creating, stopping and starting a
// workstation costs only time: each converges.
func TestWorkstationBadInput(t *testing.T) {
	h := newHost(t)
	d := newDaemon(t, h)
	d.setup()
	imagesDir := filepath.Join(d.data, "volumes", "images")

	// Images: each refused with a clear error, nothing copied or registered.
	corrupt := filepath.Join(h.dir, "corrupt.qcow2")
	base, err := os.ReadFile(h.guest.Base)
	if err != nil {
		t.Fatal(err)
	}
	// A qcow2 header whose L1 table points far beyond the file.
	bad := append([]byte(nil), base[:512]...)
	copy(bad[40:48], []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0})
	if err := os.WriteFile(corrupt, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(h.dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a disk image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imagesBefore := dirNames(t, imagesDir)
	listBefore := d.must("image", "list", "--as", "admin", "--json")
	for _, c := range []struct {
		name string
		args []string
		want string // in the error, case-insensitive
	}{
		{"image file missing", []string{"img-missing", filepath.Join(h.dir, "nope.qcow2")}, "no such file"},
		{"image file corrupt", []string{"img-corrupt", corrupt}, corrupt},
		// (Without --format, any file is a valid raw image to qemu: a text
		// file registers as a tiny raw image.)
		{"text file as qcow2", []string{"--format", "qcow2", "img-text", text}, "qcow2"},
		{"checksum mismatch", []string{"--sha256", strings.Repeat("ab", 32), "img-sum", h.guest.Base}, "sha"},
		{"checksum malformed", []string{"--sha256", "xyz", "img-sum2", h.guest.Base}, "sha"},
		{"name taken", []string{"test-guest", h.guest.Base}, "exists"},
		{"kernel missing", []string{"--kernel", filepath.Join(h.dir, "nokernel"), "img-kernel", h.guest.Base}, "kernel"},
	} {
		_, err := d.cli("image", "add", append([]string{"--as", "admin"}, c.args...)...)
		if err == nil {
			t.Errorf("%s: image add succeeded", c.name)
			continue
		}
		msg := errLine(err)
		t.Logf("%-24s -> %s", c.name, msg)
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.want)) {
			t.Errorf("%s: error %q does not mention %q", c.name, msg, c.want)
		}
		if got := dirNames(t, imagesDir); !slices.Equal(got, imagesBefore) {
			t.Errorf("%s: image directory changed: %s", c.name, cmp.Diff(imagesBefore, got))
		}
		if got := d.must("image", "list", "--as", "admin", "--json"); got != listBefore {
			t.Errorf("%s: image list changed:\n%s", c.name, cmp.Diff(listBefore, got))
		}
	}

	// Workstations: unknown names and quota, each refused, nothing created.
	p := d.addProject("gamma", "--workstations", "1")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flavour", []string{"--image", "test-guest", "--flavour", "huge", p.Slug, "ws-x"}, "flavour"},
		{"unknown image", []string{"--image", "no-such-image", "--flavour", flavour, p.Slug, "ws-x"}, "image"},
		{"unknown project", []string{"--image", "test-guest", "--flavour", flavour, "no-such-project", "ws-x"}, "not_found"},
	} {
		_, err := d.cli("workstation", "add", append([]string{"--as", "alice"}, c.args...)...)
		if err == nil {
			t.Errorf("%s: workstation add succeeded", c.name)
			continue
		}
		msg := errLine(err)
		t.Logf("%-24s -> %s", c.name, msg)
		if !strings.Contains(strings.ToLower(msg), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, msg, c.want)
		}
	}
	if ws, err := d.workstations(p.Slug); err != nil || len(ws) != 0 {
		t.Errorf("refused workstations were created: %v %v", ws, err)
	}

	// libvirtd down while a workstation is created: a clear status, then it
	// converges when libvirtd is back.
	h.killLibvirtd()
	t.Log("libvirtd killed (SIGKILL)")
	w := d.addWorkstation(p.Slug, "ws-1")
	var cur model.Workstation
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if cur, _, err = d.workstation(p.Slug, w.ID); err == nil && cur.Status.Reason != "" {
			break
		}
	}
	if cur.Status.Reason == "" {
		t.Errorf("with libvirtd down, the new workstation's status is %q with no reason: the user is not told why it does not start", cur.Status.State)
	} else {
		t.Logf("while libvirtd is down: status %s: %s", cur.Status.State, cur.Status.Reason)
	}

	// Quota: the second workstation is refused and nothing of it appears.
	_, err = d.cli("workstation", "add", "--as", "alice", "--image", "test-guest", "--flavour", flavour, p.Slug, "ws-2")
	if err == nil || !strings.Contains(strings.ToLower(errLine(err)), "quota") {
		t.Errorf("second workstation over a quota of 1: want a quota error, got %v", err)
	} else {
		t.Logf("%-24s -> %s", "quota exceeded", errLine(err))
	}
	if ws, _ := d.workstations(p.Slug); len(ws) != 1 {
		t.Errorf("after the refused second workstation the project has %d", len(ws))
	}

	h.startLibvirtd()
	t.Log("libvirtd started again (libvirtd -d)")
	d.waitStatus(p.Slug, w.ID, model.ObservedRunning, 120*time.Second)
	t.Log("the workstation converged to running")

	// libvirtd killed in the middle of a stop, then of a start.
	for _, c := range []struct {
		op   string
		want model.ObservedState
	}{{"stop", model.ObservedStopped}, {"start", model.ObservedRunning}} {
		d.must("workstation", c.op, "--as", "alice", w.ID)
		time.Sleep(300 * time.Millisecond)
		h.killLibvirtd()
		time.Sleep(2 * time.Second)
		h.startLibvirtd()
		d.waitStatus(p.Slug, w.ID, c.want, 120*time.Second)
		t.Logf("libvirtd killed 300 ms into %q and restarted: the workstation converged to %s", c.op, c.want)
	}

	// Nothing half-created: one domain, its two secrets, one overlay.
	if doms := h.domains(); !slices.Equal(doms, []string{"sded-" + w.ID}) {
		t.Errorf("domains: %v, want only sded-%s", doms, w.ID)
	}
	if n := strings.Count(h.mustVirsh("secret-list"), "sded-"+w.ID+"-"); n != 2 {
		t.Errorf("%d libvirt secrets of the workstation, want 2 (disk, data)", n)
	}
	overlays, _ := filepath.Glob(filepath.Join(d.projectDir(p.ID), "ws-*"))
	if len(overlays) != 1 {
		t.Errorf("overlays in the project directory: %v", overlays)
	}
	if tmp, _ := filepath.Glob(filepath.Join(d.data, "volumes", "tmp", "*")); len(tmp) != 0 {
		t.Errorf("half-made volumes left behind: %v", tmp)
	}
}

// dirNames lists a directory's entries.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// errLine is the part of a CLI error the user sees (sded's stderr).
func errLine(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": sded: "); i >= 0 {
		return s[i+2:]
	}
	return s
}
