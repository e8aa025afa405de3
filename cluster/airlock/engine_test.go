package airlock

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
)

var (
	ann  = model.Actor{UserID: "ann"}
	olly = model.Actor{UserID: "olly"}
	otto = model.Actor{UserID: "otto"}
	dora = model.Actor{UserID: "dora"}
	eve  = model.Actor{UserID: "eve"}
)

func wantCode(t *testing.T, err error, code model.ErrorCode) {
	t.Helper()
	if model.CodeOf(err) != code {
		t.Fatalf("error %v (code %q), want code %s", err, model.CodeOf(err), code)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	g := newRig(t, nil)
	full := g.e.cfg
	for name, mut := range map[string]func(c *Config){
		"no requests": func(c *Config) { c.Requests = nil },
		"no system":   func(c *Config) { c.System = nil },
		"no files":    func(c *Config) { c.Files = nil },
		"no dir":      func(c *Config) { c.Dir = "" },
		"short key":   func(c *Config) { c.LinkKey = []byte("short") },
	} {
		c := full
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func (g *rig) export(t *testing.T, files map[string]string) model.AirlockRequest {
	t.Helper()
	ctx := context.Background()
	r, err := g.e.Create(ctx, ann, model.CreateAirlock{ProjectID: "p1", Direction: model.AirlockExport, Title: "t", Context: "c"})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if r, err = g.e.AddFile(ctx, ann, r.ID, name, strings.NewReader(body), FileOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestSubmitMapsCheckerStatuses(t *testing.T) {
	g := newRig(t, statusByName(map[string]string{"a.csv": StatusPass, "b.csv": StatusFail, "c.csv": StatusReview}))
	r := g.export(t, map[string]string{"a.csv": "x", "b.csv": "y", "c.csv": "z", "d.png": "png"})
	r, err := g.e.Submit(context.Background(), ann, Submission{RequestID: r.ID, DisclosureControls: "rounded to 5"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]model.DisclosureResult{}
	for _, f := range r.Files {
		got[f.Name] = f.Disclosure
	}
	want := map[string]model.DisclosureResult{"a.csv": model.DisclosurePass, "b.csv": model.DisclosureFail, "c.csv": model.DisclosureReview, "d.png": model.DisclosureReview}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	if r.State != model.AirlockSubmitted || string(r.DisclosureRecord) == "" {
		t.Errorf("state %s, record %q", r.State, r.DisclosureRecord)
	}
}

func TestSubmitRequiresStatementAndContext(t *testing.T) {
	g := newRig(t, nil)
	ctx := context.Background()
	r := g.export(t, map[string]string{"a.txt": "x"})
	_, err := g.e.Submit(ctx, ann, Submission{RequestID: r.ID, DisclosureControls: "  \n "})
	wantCode(t, err, model.CodeInvalid)
	// Someone else cannot submit the requester's request.
	_, err = g.e.Submit(ctx, olly, Submission{RequestID: r.ID, DisclosureControls: "x"})
	wantCode(t, err, model.CodeForbidden)
	// An export without context anywhere.
	r2, _ := g.e.Create(ctx, ann, model.CreateAirlock{ProjectID: "p1", Direction: model.AirlockExport, Title: "t"})
	g.e.AddFile(ctx, ann, r2.ID, "a.txt", strings.NewReader("x"), FileOptions{})
	_, err = g.e.Submit(ctx, ann, Submission{RequestID: r2.ID, DisclosureControls: "x"})
	wantCode(t, err, model.CodeInvalid)
	// Given at submit, it is recorded as a comment.
	r2, err = g.e.Submit(ctx, ann, Submission{RequestID: r2.ID, DisclosureControls: "x", Context: "Table 2 of the paper"})
	if err != nil || len(r2.Comments) != 1 || r2.Comments[0].Text != "Context: Table 2 of the paper" {
		t.Fatalf("%v %+v", err, r2.Comments)
	}
}

// A table the checker cannot read is refused at upload (nothing stored); if
// it still reaches submit, the request is blocked.
func TestUncheckableTable(t *testing.T) {
	g := newRig(t, statusByName(map[string]string{"bad.csv": StatusError}))
	ctx := context.Background()
	r := g.export(t, nil)
	_, err := g.e.AddFile(ctx, ann, r.ID, "bad.csv", strings.NewReader("\"x"), FileOptions{})
	wantCode(t, err, model.CodeInvalid)
	if !strings.Contains(err.Error(), "unterminated quote") || g.files.count() != 0 {
		t.Fatalf("%v; %d files stored", err, g.files.count())
	}
	if got := result(StatusError); got != model.DisclosureBlocked {
		t.Errorf("result(error) = %s", got)
	}
	if got := result("something new"); got != model.DisclosureReview {
		t.Errorf("unknown status maps to %s, want review", got)
	}
}

func TestAddFileFailuresLeaveNothing(t *testing.T) {
	ctx := context.Background()
	t.Run("state refuses the metadata", func(t *testing.T) {
		g := newRig(t, nil)
		r := g.export(t, map[string]string{"a.txt": "x"})
		g.e.Submit(ctx, ann, Submission{RequestID: r.ID, DisclosureControls: "x"})
		n := g.files.count()
		_, err := g.e.AddFile(ctx, ann, r.ID, "b.txt", strings.NewReader("y"), FileOptions{})
		wantCode(t, err, model.CodeConflict)
		if g.files.count() != n {
			t.Errorf("a file was stored")
		}
	})
	t.Run("refused before reading", func(t *testing.T) {
		g := newRig(t, nil)
		r := g.export(t, nil)
		g.st.denyEdit = true
		body := &countingReader{r: strings.NewReader("secret")}
		_, err := g.e.AddFile(ctx, ann, r.ID, "a.txt", body, FileOptions{})
		wantCode(t, err, model.CodeForbidden)
		if body.n != 0 {
			t.Errorf("%d bytes read from a refused upload", body.n)
		}
	})
	t.Run("bad names", func(t *testing.T) {
		g := newRig(t, nil)
		r := g.export(t, nil)
		for _, name := range []string{"../x", "a/b", ".hidden", "bad.exe", "a\u202eb", ""} {
			_, err := g.e.AddFile(ctx, ann, r.ID, name, strings.NewReader("x"), FileOptions{})
			wantCode(t, err, model.CodeInvalid)
		}
		if g.files.count() != 0 {
			t.Errorf("files stored")
		}
		if n := len(g.st.audits); n != 6 {
			t.Errorf("%d refusals audited, want 6", n)
		}
		for _, a := range g.st.audits {
			if a.Action != "api.denied" || a.Details["action"] != "airlock.upload" {
				t.Errorf("audit %+v", a)
			}
		}
	})
	t.Run("too large", func(t *testing.T) {
		g := newRig(t, nil)
		g.files.max = 4
		r := g.export(t, nil)
		for _, name := range []string{"a.txt", "a.csv"} { // a table streams through the checker too
			_, err := g.e.AddFile(ctx, ann, r.ID, name, strings.NewReader(strings.Repeat("1,2\n", 1<<16)), FileOptions{})
			wantCode(t, err, model.CodeTooLarge)
		}
		if g.files.count() != 0 {
			t.Errorf("files stored")
		}
	})
	t.Run("store failure is not a refusal", func(t *testing.T) {
		g := newRig(t, nil)
		g.files.PutErr = errors.New("disk full")
		r := g.export(t, nil)
		_, err := g.e.AddFile(ctx, ann, r.ID, "a.txt", strings.NewReader("x"), FileOptions{})
		wantCode(t, err, model.CodeInternal)
		if len(g.st.audits) != 0 {
			t.Errorf("an internal failure was audited as a refusal: %+v", g.st.audits)
		}
	})
	t.Run("replacing a file removes the old copy", func(t *testing.T) {
		g := newRig(t, nil)
		r := g.export(t, map[string]string{"a.txt": "one"})
		if _, err := g.e.AddFile(ctx, ann, r.ID, "a.txt", strings.NewReader("two"), FileOptions{}); err != nil {
			t.Fatal(err)
		}
		if g.files.count() != 1 {
			t.Errorf("%d staged copies, want 1", g.files.count())
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestImportPseudonymisedAndReleased(t *testing.T) {
	g := newRig(t, nil)
	ctx := context.Background()
	r, _ := g.e.Create(ctx, dora, model.CreateAirlock{ProjectID: "p1", Direction: model.AirlockImport, Title: "cohort"})
	// An unknown column is refused and nothing is kept.
	_, err := g.e.AddFile(ctx, dora, r.ID, "c.csv", strings.NewReader("id,age\n9434765919,40\n"), FileOptions{Pseudonymise: []string{"nhs"}})
	wantCode(t, err, model.CodeInvalid)
	if g.files.count() != 0 {
		t.Fatalf("%d files kept after a failed pseudonymisation", g.files.count())
	}
	if _, err := g.e.AddFile(ctx, dora, r.ID, "c.csv", strings.NewReader("nhs,age\n9434765919,40\n"), FileOptions{Pseudonymise: []string{"nhs"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.e.Submit(ctx, dora, Submission{RequestID: r.ID}); err != nil {
		t.Fatal(err)
	}
	g.e.Vote(ctx, olly, r.ID, "c.csv", model.VoteApprove)
	r, err = g.e.Vote(ctx, otto, r.ID, "c.csv", model.VoteApprove)
	if err != nil || r.State != model.AirlockReleased {
		t.Fatalf("%s %v", r.State, err)
	}
	if len(g.built) != 1 || len(g.built[0]) != 1 {
		t.Fatalf("built %v", g.built)
	}
	rc, err := g.built[0][0].Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	if string(b) != "nhs,age\nPSEUDO,40\n" {
		t.Errorf("data volume file %q", b)
	}
}

func TestImportBuildFailureFailsTheRequest(t *testing.T) {
	g := newRig(t, nil)
	g.vErr = errors.New("mkfs.ext4: no space left")
	ctx := context.Background()
	r, _ := g.e.Create(ctx, dora, model.CreateAirlock{ProjectID: "p1", Direction: model.AirlockImport, Title: "cohort"})
	g.e.AddFile(ctx, dora, r.ID, "a.txt", strings.NewReader("x"), FileOptions{})
	g.e.Submit(ctx, dora, Submission{RequestID: r.ID})
	g.e.Vote(ctx, olly, r.ID, "a.txt", model.VoteApprove)
	_, err := g.e.Vote(ctx, otto, r.ID, "a.txt", model.VoteApprove)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("vote error %v", err)
	}
	r, _ = g.st.AirlockRequest(ctx, r.ID)
	if r.State != model.AirlockFailed || !strings.Contains(r.History[len(r.History)-1].Reason, "no space left") {
		t.Fatalf("state %s, history %+v", r.State, r.History)
	}
}

func TestLinks(t *testing.T) {
	g := newRig(t, nil)
	ctx := context.Background()
	r := g.export(t, map[string]string{"t.csv": "region,count\nA,12\n"})
	g.e.Submit(ctx, ann, Submission{RequestID: r.ID, DisclosureControls: "x"})
	_, err := g.e.Link(ctx, ann, r.ID, "t.csv")
	wantCode(t, err, model.CodeConflict) // not released
	g.e.Vote(ctx, olly, r.ID, "t.csv", model.VoteApprove)
	if r, err = g.e.Vote(ctx, otto, r.ID, "t.csv", model.VoteApprove); err != nil || r.State != model.AirlockReleased {
		t.Fatalf("%s %v", r.State, err)
	}
	_, err = g.e.Link(ctx, ann, r.ID, "other.csv")
	wantCode(t, err, model.CodeNotFound)
	l, err := g.e.Link(ctx, ann, r.ID, "t.csv")
	if err != nil || !l.Expires.Equal(g.now.Add(time.Minute)) {
		t.Fatalf("%+v %v", l, err)
	}
	d, err := g.e.Download(ctx, ann, l.Token)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(d.Body)
	if string(b) != "region,count\nA,12\n" || d.File.Name != "t.csv" {
		t.Errorf("downloaded %q as %q", b, d.File.Name)
	}
	payload, sig, _ := strings.Cut(l.Token, ".")
	for name, tok := range map[string]string{
		"empty": "", "no signature": payload, "bad signature": payload + ".AAAA", "swapped": sig + "." + payload,
		"huge": strings.Repeat("a", 5000), "not base64": "!!." + sig,
	} {
		_, err := g.e.Download(ctx, model.Actor{}, tok)
		if model.CodeOf(err) != model.CodeUnauthenticated {
			t.Errorf("%s token: %v", name, err)
		}
	}
	// Signed with another key: refused.
	cfg := g.e.cfg
	cfg.LinkKey = []byte(strings.Repeat("k", 32))
	other, _ := New(cfg)
	if _, err := other.Download(ctx, model.Actor{}, l.Token); model.CodeOf(err) != model.CodeUnauthenticated {
		t.Errorf("foreign key: %v", err)
	}
	// Someone else's session with the requester's link.
	_, err = g.e.Download(ctx, olly, l.Token)
	wantCode(t, err, model.CodeForbidden)
	g.now = g.now.Add(time.Minute)
	_, err = g.e.Download(ctx, ann, l.Token)
	wantCode(t, err, model.CodeUnauthenticated)
	var success, denied int
	for _, a := range g.st.audits {
		if a.Action == "airlock.file_download" && a.Outcome == model.OutcomeSuccess {
			success++
		}
		if a.Outcome == model.OutcomeDenied {
			denied++
		}
		for k, v := range a.Details {
			if strings.Contains(v, sig) {
				t.Errorf("audit detail %s carries the token", k)
			}
		}
	}
	if success != 1 || denied != 9 {
		t.Errorf("audited %d downloads, %d denials; want 1 and 9", success, denied)
	}
}

func TestTransitionStartsReview(t *testing.T) {
	g := newRig(t, nil)
	ctx := context.Background()
	r := g.export(t, map[string]string{"a.txt": "x"})
	g.e.Submit(ctx, ann, Submission{RequestID: r.ID, DisclosureControls: "x"})
	r, err := g.e.Transition(ctx, olly, r.ID, model.AirlockReturned, "fix it")
	if err != nil || r.State != model.AirlockReturned {
		t.Fatalf("%s %v", r.State, err)
	}
	var path []model.AirlockState
	for _, h := range r.History {
		path = append(path, h.To)
	}
	if d := cmp.Diff([]model.AirlockState{model.AirlockSubmitted, model.AirlockInReview, model.AirlockReturned}, path); d != "" {
		t.Errorf("path (-want +got):\n%s", d)
	}
}

func TestQuoteAndTruncate(t *testing.T) {
	for in, want := range map[string]string{
		"a.csv": `"a.csv"`, "a\u202eb": `"a\u202eb"`, "é": `"\u00e9"`, strings.Repeat("é", 150): `"` + strings.Repeat(`\u00e9`, 100) + `..."`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := truncate("aé", 2); got != "a" {
		t.Errorf("truncate cut a rune: %q", got)
	}
}

func TestViewReadsTheRecord(t *testing.T) {
	rec := `{"version":1,"rules":{"threshold":10},"status":"fail","files":[{"name":"t.csv","sha256":"SHA","size":3,"kind":"frequency","status":"fail",
	"summary":"1 of 2 cells fail","rows":2,"cells_total":2,"cells":[{"key":["South"],"n":3,"results":{"threshold":"fail"},"status":"fail"}],
	"columns":[{"name":"count","role":"count","count":2,"missing":0,"non_numeric":0,"min":3,"max":12,"sum":15,"rounded":false}]}]}`
	g := newRig(t, checkerFunc(func(ctx context.Context, requestID string, tier int, files []CheckInput, max int) (CheckResult, error) {
		return CheckResult{Status: map[string]string{"t.csv": StatusFail}, Record: []byte(rec)}, nil
	}))
	ctx := context.Background()
	r := g.export(t, map[string]string{"t.csv": "abc"})
	g.e.Submit(ctx, ann, Submission{RequestID: r.ID, DisclosureControls: "x"})
	// The record names the file by the hash the state holds.
	f, _ := r.File("t.csv")
	g.st.update(r.ID, func(r *model.AirlockRequest) error {
		r.DisclosureRecord = []byte(strings.ReplaceAll(rec, "SHA", f.SHA256))
		return nil
	})
	v, err := g.e.View(ctx, olly, r.ID, "t.csv")
	if err != nil || v.Check == nil {
		t.Fatalf("%+v %v", v, err)
	}
	c := v.Check.Columns[0]
	if v.Check.Status != "fail" || len(v.Check.Cells) != 1 || *c.Min != 3 || *c.Max != 12 || *c.Sum != 15 {
		t.Errorf("view %+v", v.Check)
	}
	if _, err := g.e.View(ctx, eve, r.ID, "t.csv"); model.CodeOf(err) != model.CodeForbidden {
		t.Errorf("outsider view: %v", err)
	}
	// The requester may view the summary but not read the bytes before release.
	if _, err := g.e.View(ctx, ann, r.ID, "t.csv"); err != nil {
		t.Error(err)
	}
	_, err = g.e.OpenForReview(ctx, ann, r.ID, "t.csv")
	wantCode(t, err, model.CodeForbidden)
	views := 0
	for _, a := range g.st.audits {
		if a.Action == "airlock.file_view" {
			views++
		}
	}
	if views != 2 {
		t.Errorf("%d views audited, want 2", views)
	}
}

// A request left approved (a crash between the last vote and its release)
// is released by ReleaseApproved; Release is idempotent.
func TestReleaseApproved(t *testing.T) {
	g := newRig(t, nil)
	ctx := context.Background()
	r := g.export(t, map[string]string{"a.txt": "x"})
	g.e.Submit(ctx, ann, Submission{RequestID: r.ID, DisclosureControls: "x"})
	g.st.update(r.ID, func(r *model.AirlockRequest) error {
		if err := move(r, model.AirlockInReview, "olly"); err != nil {
			return err
		}
		r.Votes = []model.AirlockVote{{Reviewer: "olly", File: "a.txt", Decision: model.VoteApprove}, {Reviewer: "otto", File: "a.txt", Decision: model.VoteApprove}}
		return move(r, model.AirlockApproved, "otto")
	})
	if err := g.e.ReleaseApproved(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	r, _ = g.st.AirlockRequest(ctx, r.ID)
	if r.State != model.AirlockReleased {
		t.Fatalf("state %s", r.State)
	}
	if r2, err := g.e.Release(ctx, r.ID); err != nil || r2.State != model.AirlockReleased || len(r2.History) != len(r.History) {
		t.Errorf("second release: %s %v", r2.State, err)
	}
	r3 := g.export(t, map[string]string{"b.txt": "y"})
	_, err := g.e.Release(ctx, r3.ID)
	wantCode(t, err, model.CodeConflict)
}

func TestIndexFilesArePrivate(t *testing.T) {
	g := newRig(t, nil)
	r := g.export(t, map[string]string{"a.txt": "x"})
	for _, p := range []string{g.e.cfg.Dir, filepath.Join(g.e.cfg.Dir, "p1"), filepath.Join(g.e.cfg.Dir, "p1", r.ID+".json")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v", p, fi.Mode().Perm())
		}
	}
}
