package airlocktest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/pseudonym"
	"github.com/sded/sded/test/testenv"
)

// readDataVolume decrypts a project's data volume and returns the contents
// of the named files, read with debugfs (nothing is mounted).
func (e *env) readDataVolume(project string, names ...string) map[string]string {
	e.t.Helper()
	dek, _ := e.keys.dek(context.Background(), project)
	secret := filepath.Join(e.t.TempDir(), "secret")
	if err := os.WriteFile(secret, dek.VolumeSecret(storage.DataVolumeName), 0o600); err != nil {
		e.t.Fatal(err)
	}
	raw := filepath.Join(e.t.TempDir(), "data.raw")
	out, err := exec.Command("qemu-img", "convert", "--object", "secret,id=sec0,format=raw,file="+secret, "--image-opts",
		"driver=qcow2,file.filename="+e.vols.DataPath(project)+",encrypt.key-secret=sec0", "-O", "raw", raw).CombinedOutput()
	if err != nil {
		e.t.Fatalf("decrypting the data volume: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, n := range names {
		b, err := exec.Command("debugfs", "-R", "cat /"+n, raw).Output()
		if err != nil {
			e.t.Fatalf("debugfs cat %s: %v", n, err)
		}
		got[n] = string(b)
	}
	if b, err := os.ReadFile(raw); err == nil && strings.Contains(string(b), "9434765919") {
		e.t.Error("a raw identifier reached the data volume")
	}
	return got
}

// TestImportPseudonymisedReviewedIntoDataVolume: a data manager uploads a
// cohort CSV with the NHS number pseudonymised on the way in; the uploader
// cannot approve it; another reviewer can, and the file appears in the
// project's encrypted data volume (read back with debugfs). The same
// identifier gets the same pseudonym within a project and a different one in
// another project.
func TestImportPseudonymisedReviewedIntoDataVolume(t *testing.T) {
	testenv.RequireCommand(t, "qemu-img")
	testenv.RequireCommand(t, "mkfs.ext4")
	testenv.RequireCommand(t, "debugfs")
	e := newEnv(t)
	ctx := context.Background()
	dm, owner, olly := e.user("dora"), e.user("owen"), e.user("olly")
	p := e.project("cohort", map[model.MemberRole][]model.Actor{model.RoleDataManager: {dm}, model.RoleOwner: {owner}, model.RoleOutputChecker: {olly}})
	q := e.project("other", map[model.MemberRole][]model.Actor{model.RoleDataManager: {dm}, model.RoleOwner: {owner}})

	cohort := "nhs_number,age\n9434765919,40\n9434765870,31\n9434765919,40\n"
	importFile := func(p model.Project, name, body string) model.AirlockRequest {
		r, err := e.eng.Create(ctx, dm, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockImport, Title: "Cohort extract"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.AddFile(ctx, dm, r.ID, name, strings.NewReader(body), airlock.FileOptions{Pseudonymise: []string{"nhs_number"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.AddFile(ctx, dm, r.ID, "README.txt", strings.NewReader("extract of 2026-11-01\n"), airlock.FileOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err = e.eng.Submit(ctx, dm, airlock.Submission{RequestID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := importFile(p, "cohort.csv", cohort)
	if r.State != model.AirlockSubmitted || len(r.Files) != 2 {
		t.Fatalf("after submit: %s with %d files", r.State, len(r.Files))
	}
	// The uploader may not review their own import.
	_, err := e.eng.Vote(ctx, dm, r.ID, "cohort.csv", model.VoteApprove)
	wantCode(t, err, model.CodeForbidden)
	// Import needs two independent approvals (the configured default).
	for _, f := range []string{"cohort.csv", "README.txt"} {
		if r, err = e.eng.Vote(ctx, owner, r.ID, f, model.VoteApprove); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != model.AirlockInReview {
		t.Fatalf("after one reviewer: %s", r.State)
	}
	for _, f := range []string{"cohort.csv", "README.txt"} {
		if r, err = e.eng.Vote(ctx, olly, r.ID, f, model.VoteApprove); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != model.AirlockReleased {
		t.Fatalf("after two approvals: %s (%+v)", r.State, r.History)
	}
	dek, _ := e.keys.dek(ctx, p.ID)
	ps, _ := pseudonym.New(dek.PseudonymKey())
	want := "nhs_number,age\n" + ps.Of("9434765919") + ",40\n" + ps.Of("9434765870") + ",31\n" + ps.Of("9434765919") + ",40\n"
	got := e.readDataVolume(p.ID, "cohort.csv", "README.txt")
	if got["cohort.csv"] != want || got["README.txt"] != "extract of 2026-11-01\n" {
		t.Fatalf("data volume holds %q", got)
	}

	// The same identifier in another project gets another pseudonym.
	r2 := importFile(q, "cohort.csv", cohort)
	for _, f := range []string{"cohort.csv", "README.txt"} {
		e.eng.Vote(ctx, owner, r2.ID, f, model.VoteApprove)
	}
	e.svc.AddMember(ctx, e.admin, model.AddMember{ProjectID: q.ID, UserID: olly.UserID, Role: model.RoleOutputChecker})
	for _, f := range []string{"cohort.csv", "README.txt"} {
		if r2, err = e.eng.Vote(ctx, olly, r2.ID, f, model.VoteApprove); err != nil {
			t.Fatal(err)
		}
	}
	other := e.readDataVolume(q.ID, "cohort.csv")["cohort.csv"]
	if other == want || !strings.HasPrefix(other, "nhs_number,age\n") || strings.Contains(other, ps.Of("9434765919")) {
		t.Errorf("project %s's pseudonyms are linkable to project %s's: %q", q.Slug, p.Slug, other)
	}

	// A second import adds to the volume; the first import's files stay.
	r3, _ := e.eng.Create(ctx, dm, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockImport, Title: "Lookup"})
	e.eng.AddFile(ctx, dm, r3.ID, "lookup.csv", strings.NewReader("code,label\n1,a\n"), airlock.FileOptions{})
	e.eng.Submit(ctx, dm, airlock.Submission{RequestID: r3.ID})
	e.eng.Vote(ctx, owner, r3.ID, "lookup.csv", model.VoteApprove)
	if r3, err = e.eng.Vote(ctx, olly, r3.ID, "lookup.csv", model.VoteApprove); err != nil || r3.State != model.AirlockReleased {
		t.Fatalf("second import: %s %v", r3.State, err)
	}
	got = e.readDataVolume(p.ID, "cohort.csv", "lookup.csv")
	if got["cohort.csv"] != want || got["lookup.csv"] != "code,label\n1,a\n" {
		t.Fatalf("after the second import: %q", got)
	}
	// Revoking the first import rebuilds the volume without its files.
	if _, err := e.eng.Transition(ctx, olly, r.ID, model.AirlockRevoked, "wrong extract"); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("debugfs", "-R", "ls -l /", decrypted(t, e, p.ID)).CombinedOutput(); strings.Contains(string(out), "cohort.csv") || !strings.Contains(string(out), "lookup.csv") {
		t.Errorf("after revoking, the volume lists:\n%s", out)
	}
}

// decrypted returns the path of a decrypted copy of a project's data volume.
func decrypted(t *testing.T, e *env, project string) string {
	dek, _ := e.keys.dek(context.Background(), project)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, dek.VolumeSecret(storage.DataVolumeName), 0o600)
	raw := filepath.Join(t.TempDir(), "data.raw")
	if out, err := exec.Command("qemu-img", "convert", "--object", "secret,id=sec0,format=raw,file="+secret, "--image-opts",
		"driver=qcow2,file.filename="+e.vols.DataPath(project)+",encrypt.key-secret=sec0", "-O", "raw", raw).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return raw
}
