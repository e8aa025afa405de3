package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

var (
	olly = model.User{ID: "u-olly", Username: "olly", DisplayName: "Olly Checker", TOTPEnrolled: true}
	dana = model.User{ID: "u-dana", Username: "dana", DisplayName: "Dana Manager", TOTPEnrolled: true}
)

var airlockNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// record is a disclosure record flagging one small cell of table1.csv.
const record = `{"version":1,"rules":{"threshold":10,"nk_n":2,"nk_k":0.9,"p_ratio":0.1,"zeros_disclosive":true,"check_missing":true},
"status":"fail","files":[{"name":"table1.csv","sha256":"` + sha + `","size":30,"kind":"frequency","status":"fail",
"summary":"fail; 1 cells pass, 1 fail","categories":["region"],"column":"count","rows":2,"cells_total":2,"rule_counts":{"threshold":1},
"cells":[{"key":["South"],"line":3,"n":3,"results":{"threshold":"fail","zeros":"pass"},"status":"fail"}],
"columns":[{"name":"count","role":"count","count":2,"missing":0,"non_numeric":0,"min":3,"max":12,"sum":15,"rounded":false}]}]}`

const sha = "44f0c283e697fefa0a5d8fae2fcb5c9fbecfdbf57d4e7fea6fa317b7df7a1981"

// airlockWorld is a project with a researcher (alice), an output checker
// (olly) and a data manager (dana), an export of alice's in review, a
// draft import of dana's and a released export of alice's.
func airlockWorld() (*fakeService, *fakeDirectory) {
	f := baseFake()
	auth := f.AuthenticateFn
	f.AuthenticateFn = func(ctx context.Context, token string) (model.Session, model.User, error) {
		switch token {
		case "full-olly":
			return model.Session{UserID: olly.ID}, olly, nil
		case "full-dana":
			return model.Session{UserID: dana.ID}, dana, nil
		}
		return auth(ctx, token)
	}
	pr := model.Project{ID: "p1", Name: "Diabetes", Slug: "diabetes", State: model.ProjectActive, Tier: 3}
	dir := &fakeDirectory{project: pr, admins: map[string]bool{admin.ID: true},
		roles: map[string]model.MemberRole{alice.ID: model.RoleResearcher, olly.ID: model.RoleOutputChecker, dana.ID: model.RoleDataManager}}
	f.ListProjectsFn = func(context.Context, model.Actor) ([]model.Project, error) { return []model.Project{pr}, nil }
	f.GetProjectFn = func(_ context.Context, _ model.Actor, id string) (model.Project, error) {
		if id != pr.ID {
			return model.Project{}, model.ErrNotFound
		}
		return pr, nil
	}
	f.ListMembersFn = func(context.Context, model.Actor, string) ([]model.Member, error) {
		var ms []model.Member
		for u, r := range dir.roles {
			ms = append(ms, model.Member{ProjectID: pr.ID, UserID: u, Role: r})
		}
		return ms, nil
	}
	file := model.AirlockFile{Name: "table1.csv", Size: 30, SHA256: sha, Disclosure: model.DisclosureFail, AddedAt: airlockNow}
	dir.reqs = []model.AirlockRequest{
		{ID: "a1", ProjectID: pr.ID, Direction: model.AirlockExport, CreatedBy: alice.ID, Title: "Table 1", Context: "Counts by region",
			DisclosureControls: "none", State: model.AirlockSubmitted, RequiredApprovals: 2, Files: []model.AirlockFile{file},
			DisclosureRecord: json.RawMessage(record), CreatedAt: airlockNow, UpdatedAt: airlockNow,
			History: []model.AirlockTransition{{From: model.AirlockDraft, To: model.AirlockSubmitted, By: "user:" + alice.ID, At: airlockNow}}},
		{ID: "i1", ProjectID: pr.ID, Direction: model.AirlockImport, CreatedBy: dana.ID, Title: "Cohort", State: model.AirlockDraft,
			RequiredApprovals: 2, Files: []model.AirlockFile{}, CreatedAt: airlockNow, UpdatedAt: airlockNow},
		{ID: "r1", ProjectID: pr.ID, Direction: model.AirlockExport, CreatedBy: alice.ID, Title: "Figures", State: model.AirlockReleased,
			RequiredApprovals: 2, Files: []model.AirlockFile{{Name: "fig.csv", Size: 5, SHA256: sha, Disclosure: model.DisclosurePass}},
			CreatedAt: airlockNow, UpdatedAt: airlockNow.Add(-time.Hour)},
	}
	return f, dir
}

func newAirlockServer(t *testing.T, f *fakeService, dir *fakeDirectory, eng *fakeAirlock, maxUpload int64) *testServer {
	t.Helper()
	return newTestServerCfg(t, Config{Version: "test", Airlock: eng, AirlockDirectory: dir, AirlockMaxUpload: maxUpload}, f, nil)
}

func has(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func hasNot(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			t.Errorf("%s has %q", what, w)
		}
	}
}

// TestAirlockNotConfigured: without an engine the airlock routes answer
// 503 with a clear message (and still refuse the unauthenticated first:
// TestRouteTable).
func TestAirlockNotConfigured(t *testing.T) {
	ts := newTestServer(t, baseFake(), nil)
	resp, body := ts.do(t, "GET", "/api/v1/airlock", "full-alice", "", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "airlock is not configured") {
		t.Errorf("status %d %s, want 503 saying the airlock is not configured", resp.StatusCode, body)
	}
}

// TestAirlockOutstanding: a checker sees a request waiting for review; the
// requester never sees their own as waiting for their review, only as
// theirs; someone without a review role sees nothing waiting.
func TestAirlockOutstanding(t *testing.T) {
	f, dir := airlockWorld()
	ts := newAirlockServer(t, f, dir, &fakeAirlock{}, 0)

	resp, body := ts.do(t, "GET", "/airlock", "full-olly", "", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("checker's airlock page: %d", resp.StatusCode)
	}
	out := body[strings.Index(body, "out-h"):strings.Index(body, "mine-h")]
	has(t, "checker's outstanding list", out, `data-testid="airlock-a1"`, "(you: review)", "Diabetes")
	hasNot(t, "checker's outstanding list", out, "airlock-i1", "airlock-r1")

	_, body = ts.do(t, "GET", "/airlock", "full-alice", "", nil, "")
	out, mine := body[strings.Index(body, "out-h"):strings.Index(body, "mine-h")], body[strings.Index(body, "mine-h"):]
	has(t, "requester's outstanding list", out, "Nothing is waiting for your review.")
	has(t, "requester's own list", mine, "airlock-a1", "airlock-r1", "(you: download)")

	type row struct {
		ID    string `json:"id"`
		ForMe string `json:"for_me"`
	}
	var got struct{ Outstanding, Mine []row }
	resp, body = ts.do(t, "GET", "/api/v1/airlock", "full-olly", "", nil, "")
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("API: %d %s %v", resp.StatusCode, body, err)
	}
	if diff := cmp.Diff([]row{{"a1", "review"}}, got.Outstanding); diff != "" {
		t.Errorf("API outstanding for the checker (-want +got):\n%s", diff)
	}
	if strings.Contains(body, "disclosure_record") {
		t.Error("API list carries the disclosure record")
	}
}

// TestAirlockRequestPageOffersOnlyPermitted: each viewer sees the actions
// the policy grants them on the request, and nothing else.
func TestAirlockRequestPageOffersOnlyPermitted(t *testing.T) {
	f, dir := airlockWorld()
	eng := &fakeAirlock{LinkFn: func(_ context.Context, a model.Actor, id, file string) (airlock.Link, error) {
		return airlock.Link{Token: "tok-" + id + "-" + file, Expires: airlockNow.Add(15 * time.Minute)}, nil
	}}
	ts := newAirlockServer(t, f, dir, eng, 0)
	tests := []struct {
		session, path string
		want, not     []string
	}{
		{"full-olly", "/airlock/a1", []string{"vote-form-table1.csv", "decide-form", "data-testid=\"return\"", "comment-form", "Threshold: 1 cell", "file-content"},
			[]string{"submit-form", "withdraw", "upload-form", "download"}},
		{"full-alice", "/airlock/a1", []string{"withdraw", "comment-form", "Threshold: 1 cell", `data-testid="airlock-requester">you<`},
			[]string{"vote-form", "decide-form", "submit-form", "upload-form", "file-content"}},
		{"full-dana", "/airlock/i1", []string{"upload-form", "submit-form", "cancel", `enctype="multipart/form-data"`},
			[]string{"vote-form", "decide-form", "withdraw\"", "disclosure_controls"}},
		{"full-alice", "/airlock/r1", []string{`name="token" value="tok-r1-fig.csv"`, "Download fig.csv"}, []string{"vote-form", "submit-form"}},
		{"full-olly", "/airlock/r1", []string{"revoke"}, []string{`name="token"`, "vote-form"}},
	}
	for _, tt := range tests {
		resp, body := ts.do(t, "GET", tt.path, tt.session, "", nil, "")
		if resp.StatusCode != 200 {
			t.Errorf("%s %s: status %d", tt.session, tt.path, resp.StatusCode)
			continue
		}
		has(t, tt.session+" "+tt.path, body, tt.want...)
		hasNot(t, tt.session+" "+tt.path, body, tt.not...)
	}
	// A checker may not read a draft import of a project they only check
	// exports for? They may (readers); but a user outside the project may not.
	dir.roles = map[string]model.MemberRole{}
	if resp, _ := ts.do(t, "GET", "/airlock/a1", "full-olly", "", nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-member: status %d, want 403", resp.StatusCode)
	}
}

// multipartBody builds an upload form: the pseudonymisation field first,
// then the files, as the page's form sends them.
func multipartBody(t *testing.T, columns string, files map[string]string) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if columns != "" {
		mw.WriteField("pseudonymise", columns)
	}
	for name, content := range files {
		w, err := mw.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// TestAirlockUpload: files stream into the engine with the columns to
// pseudonymise; bad input gets a 4xx and the error next to the field, with
// what was typed kept.
func TestAirlockUpload(t *testing.T) {
	f, dir := airlockWorld()
	type call struct {
		Name, Body string
		Columns    []string
	}
	var calls []call
	eng := &fakeAirlock{AddFileFn: func(_ context.Context, a model.Actor, id, name string, body io.Reader, opt airlock.FileOptions) (model.AirlockRequest, error) {
		b, err := io.ReadAll(body)
		if err != nil {
			return model.AirlockRequest{}, err // the body limit, as the store would report it
		}
		if strings.Contains(name, "..") {
			return model.AirlockRequest{}, model.FieldError("name", "%q is not a plain file name", name)
		}
		calls = append(calls, call{name, string(b), opt.Pseudonymise})
		return dir.reqs[1], nil
	}}
	ts := newAirlockServer(t, f, dir, eng, 4096)

	body, ct := multipartBody(t, "nhs_number, postcode", map[string]string{"cohort.csv": "nhs_number,postcode\n1,AB1\n"})
	resp, _ := ts.do(t, "POST", "/airlock/i1/files", "full-dana", "", body, ct)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: status %d, want 303", resp.StatusCode)
	}
	want := []call{{"cohort.csv", "nhs_number,postcode\n1,AB1\n", []string{"nhs_number", "postcode"}}}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("engine calls (-want +got):\n%s", diff)
	}

	tests := []struct {
		name, session, path, columns string
		files                        map[string]string
		status                       int
		msg                          string
	}{
		{"oversized", "full-dana", "/airlock/i1/files", "nhs_number", map[string]string{"big.csv": strings.Repeat("x", 8192)}, 413, "larger than the limit of 4.0 KiB"},
		{"traversal", "full-dana", "/airlock/i1/files", "nhs_number", map[string]string{"../etc.csv": "a"}, 400, "not a plain file name"},
		{"no file", "full-dana", "/airlock/i1/files", "nhs_number", nil, 400, "choose at least one file"},
		{"export from a browser", "full-alice", "/airlock/a1/files", "", map[string]string{"t.csv": "a"}, 409, "come from its workstation"},
	}
	for _, tt := range tests {
		calls = nil
		body, ct := multipartBody(t, tt.columns, tt.files)
		resp, page := ts.do(t, "POST", tt.path, tt.session, "", body, ct)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		has(t, tt.name, page, tt.msg)
		if tt.status != 409 {
			has(t, tt.name, page, `data-testid="error-file"`)
		}
		if tt.columns != "" {
			has(t, tt.name+" (kept values)", page, `value="`+tt.columns+`"`)
		}
		if len(calls) != 0 {
			t.Errorf("%s: stored %v", tt.name, calls)
		}
	}

	// The API streams a raw body the same way, with the same limits.
	calls = nil
	resp, _ = ts.do(t, "PUT", "/api/v1/airlock/i1/files/cohort.csv?pseudonymise=nhs_number", "full-dana", "", strings.NewReader("nhs_number\n1\n"), "text/csv")
	if resp.StatusCode != 200 || len(calls) != 1 || calls[0].Columns[0] != "nhs_number" {
		t.Errorf("API upload: status %d, calls %v", resp.StatusCode, calls)
	}
	resp, body2 := ts.do(t, "PUT", "/api/v1/airlock/i1/files/big.csv", "full-dana", "", strings.NewReader(strings.Repeat("x", 8192)), "text/csv")
	if resp.StatusCode != 413 || !strings.Contains(body2, `"field":"file"`) {
		t.Errorf("API oversized upload: status %d %s, want 413 on field file", resp.StatusCode, body2)
	}
}

// TestAirlockBadDecisions: a submit without the disclosure statement, a
// rejection without a reason and a return without a reason are refused at
// the boundary with the error next to the field; the engine is not asked.
func TestAirlockBadDecisions(t *testing.T) {
	f, dir := airlockWorld()
	dir.reqs[0].State = model.AirlockReturned
	called := []string{}
	note := func(s string) { called = append(called, s) }
	eng := &fakeAirlock{
		SubmitFn: func(context.Context, model.Actor, airlock.Submission) (model.AirlockRequest, error) {
			note("submit")
			return dir.reqs[0], nil
		},
		VoteFn: func(context.Context, model.Actor, string, string, model.VoteDecision) (model.AirlockRequest, error) {
			note("vote")
			return dir.reqs[0], nil
		},
		TransitionFn: func(context.Context, model.Actor, string, model.AirlockState, string) (model.AirlockRequest, error) {
			note("transition")
			return dir.reqs[0], nil
		},
	}
	ts := newAirlockServer(t, f, dir, eng, 0)
	resp, body := ts.post(t, "/airlock/a1/submit", "full-alice", url.Values{"context": {"suppressed the small cell"}, "disclosure_controls": {"  "}})
	if resp.StatusCode != 400 {
		t.Errorf("submit without statement: status %d, want 400", resp.StatusCode)
	}
	has(t, "submit without statement", body, `data-testid="error-submit-controls"`, "say which disclosure controls you applied", "suppressed the small cell</textarea>")

	dir.reqs[0].State = model.AirlockInReview
	resp, body = ts.post(t, "/airlock/a1/votes", "full-olly", url.Values{"file": {"table1.csv"}, "decision": {"reject"}})
	if resp.StatusCode != 400 {
		t.Errorf("reject without reason: status %d, want 400", resp.StatusCode)
	}
	has(t, "reject without reason", body, `data-testid="error-vote-reason-0"`, "is required to reject a file")

	resp, body = ts.post(t, "/airlock/a1/return", "full-olly", url.Values{"reason": {""}})
	if resp.StatusCode != 400 {
		t.Errorf("return without reason: status %d, want 400", resp.StatusCode)
	}
	has(t, "return without reason", body, `data-testid="error-decide-reason"`)

	resp, body = ts.do(t, "POST", "/api/v1/airlock/a1/votes", "full-olly", "", strings.NewReader(`{"file":"table1.csv","decision":"reject"}`), "application/json")
	if resp.StatusCode != 400 || !strings.Contains(body, `"field":"reason"`) {
		t.Errorf("API reject without reason: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/api/v1/airlock/a1/votes", "full-olly", "", strings.NewReader(`{"file":"table1.csv","decision":"maybe"}`), "application/json")
	if resp.StatusCode != 400 || !strings.Contains(body, `"field":"decision"`) {
		t.Errorf("API unknown decision: %d %s", resp.StatusCode, body)
	}
	if len(called) != 0 {
		t.Errorf("bad input reached the engine: %v", called)
	}
}

// TestAirlockReview: a rejection's reason becomes a comment after the
// vote; a return goes to the engine with its reason; an engine refusal
// (the state's policy) comes back as its status.
func TestAirlockReview(t *testing.T) {
	f, dir := airlockWorld()
	var got []string
	eng := &fakeAirlock{
		VoteFn: func(_ context.Context, a model.Actor, id, file string, d model.VoteDecision) (model.AirlockRequest, error) {
			if a.UserID == alice.ID {
				return model.AirlockRequest{}, model.Errorf(model.CodeForbidden, "no one may review their own request")
			}
			got = append(got, "vote "+a.UserID+" "+file+" "+string(d))
			return dir.reqs[0], nil
		},
		CommentFn: func(_ context.Context, a model.Actor, id, text string) (model.AirlockRequest, error) {
			got = append(got, "comment "+text)
			return dir.reqs[0], nil
		},
		TransitionFn: func(_ context.Context, a model.Actor, id string, to model.AirlockState, reason string) (model.AirlockRequest, error) {
			got = append(got, "move "+string(to)+" "+reason)
			return dir.reqs[0], nil
		},
	}
	ts := newAirlockServer(t, f, dir, eng, 0)
	if resp, _ := ts.post(t, "/airlock/a1/votes", "full-olly", url.Values{"file": {"table1.csv"}, "decision": {"reject"}, "reason": {"South is 3"}}); resp.StatusCode != 303 {
		t.Errorf("reject with reason: status %d", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/airlock/a1/return", "full-olly", url.Values{"reason": {"suppress South"}}); resp.StatusCode != 303 {
		t.Errorf("return: status %d", resp.StatusCode)
	}
	want := []string{"vote u-olly table1.csv reject", "comment Rejected table1.csv: South is 3", "move returned suppress South"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("engine calls (-want +got):\n%s", diff)
	}
	resp, body := ts.post(t, "/airlock/a1/votes", "full-alice", url.Values{"file": {"table1.csv"}, "decision": {"approve"}})
	if resp.StatusCode != 403 || !strings.Contains(body, "no one may review their own request") {
		t.Errorf("requester voting: status %d, want 403 with the reason", resp.StatusCode)
	}
}

// TestAirlockFileView renders the disclosure record as tables.
func TestAirlockFileView(t *testing.T) {
	f, dir := airlockWorld()
	eng := &fakeAirlock{ViewFn: func(_ context.Context, a model.Actor, id, file string) (airlock.FileView, error) {
		var rec struct {
			Rules json.RawMessage     `json:"rules"`
			Files []airlock.FileCheck `json:"files"`
		}
		if err := json.Unmarshal([]byte(record), &rec); err != nil {
			t.Fatal(err)
		}
		return airlock.FileView{RequestID: id, File: dir.reqs[0].Files[0], Check: &rec.Files[0], Rules: rec.Rules}, nil
	}}
	ts := newAirlockServer(t, f, dir, eng, 0)
	resp, body := ts.do(t, "GET", "/airlock/a1/files/table1.csv", "full-olly", "", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("file view: %d", resp.StatusCode)
	}
	has(t, "file view", body, `data-testid="cell-fail"`, "<th scope=\"row\">South</th>", `data-rule="threshold">fail<`,
		"every cell counts at least 10", "the largest 2 contributors make up at most 90% of a cell&#39;s total",
		`data-testid="column-count"`, "<td>3</td><td>12</td><td>15</td><td>not rounded</td>", "Threshold: 1 cell")
	resp, body = ts.do(t, "GET", "/api/v1/airlock/a1/files/table1.csv", "full-olly", "", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"cells"`) {
		t.Errorf("API file view: %d %.200s", resp.StatusCode, body)
	}
}

// TestAirlockDownload streams a released file as an attachment; a bad or
// expired link is a 403 that leaves the session alone; the token never
// travels in a URL.
func TestAirlockDownload(t *testing.T) {
	f, dir := airlockWorld()
	eng := &fakeAirlock{DownloadFn: func(_ context.Context, a model.Actor, token string) (airlock.Download, error) {
		if token != "good" || a.UserID != alice.ID {
			return airlock.Download{}, model.Errorf(model.CodeUnauthenticated, "the download link expired at 2026-11-22T10:15:00Z")
		}
		return airlock.Download{File: model.AirlockFile{Name: "fig ü.csv", Size: 5, SHA256: sha}, Body: io.NopCloser(strings.NewReader("a,b\n1"))}, nil
	}}
	ts := newAirlockServer(t, f, dir, eng, 0)
	resp, body := ts.post(t, "/airlock/download", "full-alice", url.Values{"token": {"good"}})
	if resp.StatusCode != 200 || body != "a,b\n1" {
		t.Fatalf("download: %d %q", resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "fig%20%C3%BC.csv") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	resp, body = ts.post(t, "/airlock/download", "full-alice", url.Values{"token": {"stale"}})
	if resp.StatusCode != 403 || !strings.Contains(body, "expired") || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("expired link: status %d, cookie %q, want 403 and the session kept", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	resp, body = ts.do(t, "POST", "/api/v1/airlock/download", "full-alice", "", strings.NewReader(`{"token":""}`), "application/json")
	if resp.StatusCode != 400 || !strings.Contains(body, `"field":"token"`) {
		t.Errorf("API download without token: %d %s", resp.StatusCode, body)
	}
}

// TestAirlockImportCreate: the import form keeps its values on an error.
func TestAirlockImportCreate(t *testing.T) {
	f, dir := airlockWorld()
	var got model.CreateAirlock
	eng := &fakeAirlock{CreateFn: func(_ context.Context, a model.Actor, p model.CreateAirlock) (model.AirlockRequest, error) {
		got = p
		return model.AirlockRequest{ID: "i2"}, nil
	}}
	ts := newAirlockServer(t, f, dir, eng, 0)
	resp, body := ts.do(t, "GET", "/projects/p1/airlock", "full-dana", "", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("project airlock page: %d", resp.StatusCode)
	}
	has(t, "data manager's project page", body, "import-form", "airlock-i1")
	_, body = ts.do(t, "GET", "/projects/p1/airlock", "full-alice", "", nil, "")
	hasNot(t, "researcher's project page", body, "import-form")

	resp, body = ts.post(t, "/projects/p1/airlock", "full-dana", url.Values{"title": {" "}, "context": {"GP extract"}})
	if resp.StatusCode != 400 {
		t.Errorf("import without title: status %d", resp.StatusCode)
	}
	has(t, "import without title", body, `data-testid="error-title"`, "GP extract</textarea>")
	resp, _ = ts.post(t, "/projects/p1/airlock", "full-dana", url.Values{"title": {"Cohort 2"}, "context": {"GP extract"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/airlock/i2" {
		t.Errorf("import: status %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if want := (model.CreateAirlock{ProjectID: "p1", Direction: model.AirlockImport, Title: "Cohort 2", Context: "GP extract"}); got != want {
		t.Errorf("created %+v, want %+v", got, want)
	}
}

// TestAirlockNamesAndScopes: file names with spaces and non-ASCII letters
// reach the engine decoded; an API token scoped for export reviews cannot
// vote on an import (the route names one action; the handler checks the
// import review scope too).
func TestAirlockNamesAndScopes(t *testing.T) {
	f, dir := airlockWorld()
	dir.reqs[1].State = model.AirlockSubmitted
	dir.reqs[1].Files = []model.AirlockFile{{Name: "cohort ü.csv", Size: 3, SHA256: sha}}
	auth := f.AuthenticateAPITokenFn
	f.AuthenticateAPITokenFn = func(ctx context.Context, raw string) (model.APIToken, model.User, error) {
		if raw == "tok-olly-export" {
			return model.APIToken{ID: "t2", UserID: olly.ID, Scopes: []model.Action{model.ActAirlockReviewExport}}, olly, nil
		}
		return auth(ctx, raw)
	}
	var viewed string
	voted := false
	eng := &fakeAirlock{
		ViewFn: func(_ context.Context, _ model.Actor, id, file string) (airlock.FileView, error) {
			viewed = file
			return airlock.FileView{RequestID: id, File: dir.reqs[1].Files[0]}, nil
		},
		VoteFn: func(context.Context, model.Actor, string, string, model.VoteDecision) (model.AirlockRequest, error) {
			voted = true
			return dir.reqs[1], nil
		},
	}
	ts := newAirlockServer(t, f, dir, eng, 0)
	_, body := ts.do(t, "GET", "/airlock/i1", "full-olly", "", nil, "")
	has(t, "request page", body, `href="/airlock/i1/files/cohort%20%C3%BC.csv"`)
	resp, body := ts.do(t, "GET", "/airlock/i1/files/cohort%20%C3%BC.csv", "full-olly", "", nil, "")
	if resp.StatusCode != 200 || viewed != "cohort ü.csv" {
		t.Errorf("file view: status %d, engine asked for %q", resp.StatusCode, viewed)
	}
	has(t, "unchecked import file view", body, `data-testid="not-checked"`)
	resp, body = ts.do(t, "POST", "/api/v1/airlock/i1/votes", "", "tok-olly-export", strings.NewReader(`{"file":"cohort ü.csv","decision":"approve"}`), "application/json")
	if resp.StatusCode != 403 || !strings.Contains(body, "airlock.review_import") || voted {
		t.Errorf("export-scoped token voting on an import: status %d %s (voted %v), want 403 naming the scope", resp.StatusCode, body, voted)
	}
}
