package airlocktest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// TestGuestImportE2E: an import reaches the researcher's workstation through
// the project's read-only data volume, on the whole daemon (`sded serve`)
// with a real guest (libvirt, QEMU under TCG).
//
// A data manager signs in to the web UI (password, TOTP enrolment), makes an
// API token and, through /api/v1, opens an import into the project, uploads
// a cohort CSV whose nhs_number column is pseudonymised on the way in, and
// submits it. The uploader's own approval is refused; the project owner
// (API) and an output checker (CLI) approve it. The product releases an
// import at the last approval, synchronously: the engine rebuilds the data
// volume from every released import (storage.Volumes.BuildDataVolume, a new
// encrypted qcow2 renamed over the old one) and only then marks the request
// released. A running workstation keeps the volume it was started with
// (QEMU holds the old file open): the test shows the running guest still
// sees the empty volume after the release, then stops and starts the
// workstation (`sded workstation stop/start`) and, inside the guest, finds
// the disk with serial sded-data (label sded-data), mounts it read-only and
// reads the file: its SHA-256 is the one the reviewers approved, the raw
// identifiers are nowhere on the disk, and nothing can write to it.
//
// Bad input on this path, each refused with a clear error and nothing
// stored: a file name with path traversal (400; the staged store and the
// request are unchanged), an import into a project the data manager is not
// assigned to (403; no request exists there), the uploader approving their
// own import (403; no vote recorded).
//
// The guest is driven through its serial console (lossless), not VNC keys.
func TestGuestImportE2E(t *testing.T) {
	testenv.RequireLibvirt(t)
	gf := guest.Require(t)
	testenv.RequireCommand(t, "virsh")
	bin := sdedBin(t)
	d := startDaemon(t, bin)
	start := time.Now()
	const password = "e2e password 123456"
	pw := password + "\n"
	d.must(pw, "user", "add", "--admin", "--password-file", "-", "admin")
	for _, u := range []string{"dora", "owen", "olly", "rita", "bob"} {
		d.must(pw, "user", "add", "--as", "admin", "--password-file", "-", u)
	}
	exp := time.Now().AddDate(1, 0, 0).Format("2006-01-02")
	d.must("", "project", "add", "--as", "admin", "--name", "Cohort study", "--approval", "DAC-1", "--dsa", "DSA-1", "--expires", exp, "--owner", "owen", "cohort")
	d.must("", "project", "add", "--as", "admin", "--name", "Other study", "--approval", "DAC-2", "--dsa", "DSA-2", "--expires", exp, "--owner", "bob", "other")
	d.must("", "project", "member-add", "--as", "admin", "cohort", "dora", "data_manager")
	d.must("", "project", "member-add", "--as", "admin", "cohort", "olly", "output_checker")
	d.must("", "project", "member-add", "--as", "admin", "cohort", "rita", "researcher")
	d.must("", "image", "add", "--as", "admin", "--kernel", gf.Kernel, "--initrd", gf.Initrd, "--cmdline", guest.Cmdline, "test-guest", gf.Base)
	cohortID, otherID := d.projectID("cohort"), d.projectID("other")
	ws := d.workstation("rita", "cohort", "rita-1")
	sh := openSerialShell(t, ws)
	t.Logf("guest at its shell after %s", time.Since(start).Round(time.Second))

	// Before any import the data volume is empty (mkfs's lost+found only).
	out := sh.run(`. /lib/sded/probe-lib.sh; dev=$(disk_by_serial sded-data); echo "dev=$dev label=$(findfs LABEL=sded-data) ro=$(blockdev --getro $dev)"; mkdir -p /mnt/data; mount -t ext4 -o ro $dev /mnt/data; echo mount=$?; ls -A /mnt/data`)
	m := regexp.MustCompile(`dev=(/dev/vd[a-z]+) label=(\S*) ro=(\d)`).FindStringSubmatch(out)
	if m == nil || m[2] != m[1] || m[3] != "1" || !strings.Contains(out, "mount=0") || strings.TrimSpace(out[strings.Index(out, "mount=0")+len("mount=0"):]) != "lost+found" {
		t.Fatalf("the guest's data disk before the import (want the disk with serial sded-data, labelled sded-data, read-only, empty):\n%s", out)
	}
	dev := m[1]

	// The data manager signs in and works through the API with a token.
	dora, owen := d.webLogin("dora", password), d.webLogin("owen", password)
	var req model.AirlockRequest
	dora.must("POST", "/api/v1/projects/"+cohortID+"/airlock", map[string]string{"title": "Cohort extract", "context": "GP cohort, extract of 2026-11-01"}, &req)
	if req.Direction != model.AirlockImport || req.State != model.AirlockDraft || req.ProjectID != cohortID {
		t.Fatalf("created: %s %s in %s", req.Direction, req.State, req.ProjectID)
	}
	const cohort = "nhs_number,age,region\n9434765919,40,North\n9434765870,31,South\n9434765919,40,North\n"
	raw := []string{"9434765919", "9434765870"}
	if _, e := dora.send("PUT", "/api/v1/airlock/"+req.ID+"/files/cohort.csv?pseudonymise=nhs_number", "text/csv", strings.NewReader(cohort), &req); e != nil {
		t.Fatalf("upload: %v", e)
	}
	uploaded := fileOf(t, req, "cohort.csv")
	staged := d.stagedFiles(cohortID)

	// Bad input 1: a file name with path traversal (escaped, so that it
	// reaches the handler as one path segment). Refused, nothing stored.
	for _, name := range []string{"..%2Fcohort.csv", "..%2F..%2Fetc%2Fcron.d%2Fx", "%2E%2E"} {
		st, e := dora.send("PUT", "/api/v1/airlock/"+req.ID+"/files/"+name, "text/csv", strings.NewReader(cohort), nil)
		if e == nil || st != http.StatusBadRequest || e.Err.Code != model.CodeInvalid || !strings.Contains(e.Err.Message, "plain file name") {
			t.Errorf("upload as %q: %d %v; want 400 invalid, not a plain file name", name, st, e)
		} else {
			t.Logf("upload as %q: %v", name, e)
		}
	}
	var again model.AirlockRequest
	dora.must("GET", "/api/v1/airlock/"+req.ID, nil, &again)
	if len(again.Files) != 1 || again.Files[0] != uploaded || d.stagedFiles(cohortID) != staged {
		t.Errorf("after the refused uploads: files %+v (want only cohort.csv), %d staged files (want %d)", again.Files, d.stagedFiles(cohortID), staged)
	}
	refused := map[string]bool{}
	for _, ev := range d.audit("api.denied") {
		if ev.Object == "airlock/"+req.ID && ev.Details["action"] == "airlock.upload" {
			refused[ev.Details["file"]] = true
		}
	}
	if len(refused) != 3 {
		t.Errorf("the audit log records %d refused uploads (%v); want the 3 bad names", len(refused), refused)
	}

	// Bad input 2: an import into a project the data manager is not
	// assigned to. Refused; the other project has no request.
	st, e := dora.call("POST", "/api/v1/projects/"+otherID+"/airlock", map[string]string{"title": "Wrong project"}, nil)
	if e == nil || st != http.StatusForbidden || e.Err.Code != model.CodeForbidden {
		t.Errorf("an import into a project dora is not in: %d %v; want 403 forbidden", st, e)
	} else {
		t.Logf("an import into a project dora is not in: %v", e)
	}
	if out := d.must("", "airlock", "list", "--as", "bob", "--json", "other"); strings.TrimSpace(out) != "[]" {
		t.Errorf("the other project has requests after the refusal: %s", out)
	}

	// Submit; the uploader's own approval is refused (bad input 3).
	dora.must("POST", "/api/v1/airlock/"+req.ID+"/submit", map[string]string{}, &req)
	if req.State != model.AirlockSubmitted {
		t.Fatalf("after submit: %s", req.State)
	}
	st, e = dora.call("POST", "/api/v1/airlock/"+req.ID+"/votes", map[string]string{"file": "cohort.csv", "decision": "approve"}, nil)
	if e == nil || st != http.StatusForbidden || e.Err.Code != model.CodeForbidden {
		t.Fatalf("the uploader approving their own import: %d %v; want 403 forbidden", st, e)
	}
	t.Logf("the uploader approving their own import: %v", e)
	if out, err := d.cli("", "airlock", "vote", "--as", "dora", req.ID, "cohort.csv", "approve"); err == nil {
		t.Fatalf("the uploader approved their own import through the CLI: %s", out)
	}
	owen.must("GET", "/api/v1/airlock/"+req.ID, nil, &again)
	if again.State != model.AirlockSubmitted || len(again.Votes) != 0 {
		t.Fatalf("after the uploader's refused votes: %s with votes %+v", again.State, again.Votes)
	}

	// The reviewer reads what was stored: pseudonymised, same SHA-256 as
	// recorded on the request.
	var approved bytes.Buffer
	if _, e := owen.send("GET", "/api/v1/airlock/"+req.ID+"/files/cohort.csv/content", "", nil, &approved); e != nil {
		t.Fatalf("the reviewer reading cohort.csv: %v", e)
	}
	sum := sha256.Sum256(approved.Bytes())
	wantSum := hex.EncodeToString(sum[:])
	if wantSum != uploaded.SHA256 || int64(approved.Len()) != uploaded.Size {
		t.Fatalf("the reviewer's copy has sha256 %s, %d bytes; the request records %s, %d bytes", wantSum, approved.Len(), uploaded.SHA256, uploaded.Size)
	}
	rows := strings.Split(strings.TrimSuffix(approved.String(), "\n"), "\n")
	pseudo := regexp.MustCompile(`^[0-9a-f]{32},(40,North|31,South)$`)
	if len(rows) != 4 || rows[0] != "nhs_number,age,region" || !pseudo.MatchString(rows[1]) || !pseudo.MatchString(rows[2]) || rows[1] != rows[3] || rows[1] == rows[2] {
		t.Fatalf("the stored file is not the pseudonymised cohort:\n%s", approved.String())
	}
	for _, id := range raw {
		if strings.Contains(approved.String(), id) {
			t.Fatalf("the stored file holds the raw identifier %s", id)
		}
	}
	p1, p2 := strings.Split(rows[1], ",")[0], strings.Split(rows[2], ",")[0]

	// Two independent approvals: the owner through the API, an output
	// checker through the CLI. The second releases the import.
	owen.must("POST", "/api/v1/airlock/"+req.ID+"/votes", map[string]string{"file": "cohort.csv", "decision": "approve"}, &req)
	if req.State != model.AirlockInReview {
		t.Fatalf("after one approval of two: %s", req.State)
	}
	released := time.Now()
	if out := d.must("", "airlock", "vote", "--as", "olly", req.ID, "cohort.csv", "approve"); !strings.Contains(out, "is released") {
		t.Fatalf("second approval: %s", out)
	}
	t.Logf("the last approval, with the data volume rebuilt, took %s", time.Since(released).Round(time.Millisecond))
	if r := d.airlockRequest("olly", "cohort", req.ID); r.State != model.AirlockReleased {
		t.Fatalf("after two approvals: %s", r.State)
	}

	// The running guest still has the volume it started with.
	out = sh.run("umount /mnt/data; echo 3 >/proc/sys/vm/drop_caches; mount -t ext4 -o ro " + dev + " /mnt/data; echo mount=$?; ls -A /mnt/data")
	if !strings.Contains(out, "mount=0") || strings.Contains(out, "cohort.csv") {
		t.Fatalf("the running guest's data disk after the release (want the old, empty volume until a restart):\n%s", out)
	}

	// Restart the workstation: it attaches the rebuilt volume.
	restart := time.Now()
	d.must("", "workstation", "stop", "--as", "rita", ws.ID)
	d.waitWorkstation("rita", "cohort", "rita-1", model.ObservedStopped, 2*time.Minute)
	d.must("", "workstation", "start", "--as", "rita", ws.ID)
	ws = d.waitWorkstation("rita", "cohort", "rita-1", model.ObservedRunning, 4*time.Minute)
	sh = openSerialShell(t, ws)
	t.Logf("workstation restarted and at its shell in %s", time.Since(restart).Round(time.Second))

	out = sh.run(`. /lib/sded/probe-lib.sh; dev=$(disk_by_serial sded-data); echo "dev=$dev label=$(findfs LABEL=sded-data) ro=$(blockdev --getro $dev)"; mkdir -p /mnt/data; mount -t ext4 -o ro $dev /mnt/data; echo mount=$?; ls -A /mnt/data`)
	m = regexp.MustCompile(`dev=(/dev/vd[a-z]+) label=(\S*) ro=(\d)`).FindStringSubmatch(out)
	if m == nil || m[2] != m[1] || m[3] != "1" || !strings.Contains(out, "mount=0") || !strings.Contains(out, "cohort.csv") {
		t.Fatalf("the guest's data disk after the restart (want serial and label sded-data, read-only, holding cohort.csv):\n%s", out)
	}
	dev = m[1]
	out = sh.run("sha256sum /mnt/data/cohort.csv; cut -d, -f1 /mnt/data/cohort.csv")
	t.Logf("inside the guest:\n%s", out)
	if !strings.Contains(out, wantSum+"  /mnt/data/cohort.csv") {
		t.Errorf("the guest's cohort.csv does not have the approved file's sha256 %s:\n%s", wantSum, out)
	}
	if !strings.Contains(out, "nhs_number\n"+p1+"\n"+p2+"\n"+p1+"\n") {
		t.Errorf("the guest's pseudonym column is not %s, %s, %s:\n%s", p1, p2, p1, out)
	}
	// The raw identifiers are nowhere on the disk (grep the whole device).
	out = sh.run("grep -c -e " + raw[0] + " -e " + raw[1] + " " + dev + "; echo rc=$?")
	if !strings.Contains(out, "0\nrc=1") {
		t.Errorf("a raw identifier is on the guest's data disk:\n%s", out)
	}
	// Nothing writes to it: not a file, not a remount, not the device.
	out = sh.run("touch /mnt/data/x; echo touch=$?; echo y >>/mnt/data/cohort.csv; echo append=$?; mount -o remount,rw /mnt/data; echo remount=$?; dd if=/dev/zero of=" + dev + " bs=512 count=1; echo dd=$?")
	t.Logf("writes inside the guest:\n%s", out)
	for _, w := range []string{"touch=0", "append=0", "remount=0", "dd=0"} {
		if strings.Contains(out, w+"\n") {
			t.Errorf("a write to the data disk succeeded (%s):\n%s", w, out)
		}
	}
	if !strings.Contains(out, "Read-only file system") {
		t.Errorf("writes to the data mount did not fail as read-only:\n%s", out)
	}
	if out := sh.run("sha256sum /mnt/data/cohort.csv"); !strings.Contains(out, wantSum) {
		t.Errorf("cohort.csv changed after the write attempts:\n%s", out)
	}
	t.Logf("whole flow in %s", time.Since(start).Round(time.Second))
}
