package airlocktest

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

func zipBomb(t *testing.T) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create("zeros.csv")
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for i := 0; i < 64; i++ { // 64 MiB expanding from ~64 KiB: ratio ~1000
		w.Write(zero)
	}
	zw.Close()
	return b.Bytes()
}

// TestBadInputThroughGateway sends each kind of bad input a guest could
// send. Each gets a clear error with the right status, nothing is stored
// (neither in the staged store nor on the request) and the refusal is in
// the audit log.
func TestBadInputThroughGateway(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rita := e.user("rita")
	p := e.project("study", map[model.MemberRole][]model.Actor{model.RoleResearcher: {rita}})
	ws := e.workstation(p, rita, "rita-1")
	g := e.gateway(p)
	guest := g.guest(ws.IP)
	_, body := postForm(t, guest, g.url(p, "/requests"), "title", "T", "context", "c")
	id := decode(t, body).ID
	files := "/requests/" + id + "/files/"

	manyColumns := strings.Repeat("c,", 1500) + "count\n" + strings.Repeat("x,", 1500) + "12\n"
	cases := []struct {
		name   string
		path   string // raw, already escaped
		body   []byte
		status int
		says   string
	}{
		{"traversal", files + "..%2F..%2Fetc%2Fpasswd", []byte("x"), http.StatusBadRequest, "plain file name"},
		{"absolute", files + "%2Fetc%2Fshadow", []byte("x"), http.StatusBadRequest, "plain file name"},
		{"backslash traversal", files + "..%5Cwin.ini", []byte("x"), http.StatusBadRequest, "plain file name"},
		{"hidden", files + ".bashrc", []byte("x"), http.StatusBadRequest, "plain file name"},
		{"bidi override", files + url.PathEscape("report\u202ecsv.exe"), []byte("x"), http.StatusBadRequest, "control character"},
		{"zero width", files + url.PathEscape("tab\u200ble.csv"), []byte("x"), http.StatusBadRequest, "non-printing"},
		{"NUL", files + "a%00b.csv", []byte("x"), http.StatusBadRequest, "control character"},
		{"not NFC", files + url.PathEscape("cafe\u0301.csv"), []byte("x"), http.StatusBadRequest, "refused"},
		{"invalid UTF-8", files + "%ff%fe.csv", []byte("x"), http.StatusBadRequest, "UTF-8"},
		{"blocked type", files + "run.exe", []byte("MZ"), http.StatusBadRequest, "not allowed"},
		{"oversized", files + "big.csv", bytes.Repeat([]byte("a,1\n"), int(e.maxFile/4)+1), http.StatusRequestEntityTooLarge, "too large"},
		{"malformed CSV", files + "bad.csv", []byte("region,count\n\"North,12\n"), http.StatusBadRequest, "cannot be checked"},
		{"CSV without a count column", files + "odd.csv", []byte("a,b\n1,2\n"), http.StatusBadRequest, "cannot be checked"},
		{"huge CSV (columns)", files + "wide.csv", []byte(manyColumns), http.StatusBadRequest, "cannot be checked"},
		{"archive bomb", files + "data.zip", zipBomb(t), http.StatusBadRequest, "archive refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.audit("api.denied"))
			code, body := call(t, guest, "PUT", g.url(p, c.path), bytes.NewReader(c.body))
			if code != c.status || !strings.Contains(body, c.says) {
				t.Errorf("status %d %q, want %d saying %q", code, body, c.status, c.says)
			}
			if n := e.stagedFiles(p.ID); n != 0 {
				t.Errorf("%d files left in the staged store", n)
			}
			if r, _ := e.svc.Airlock(ctx, rita, id); len(r.Files) != 0 {
				t.Errorf("request lists %+v", r.Files)
			}
			if len(e.audit("api.denied")) != before+1 {
				t.Errorf("refusal not audited")
			}
		})
	}

	// Multipart names are taken as sent, not reduced to a base name.
	ct, mp := multipartBody(t, map[string]string{"../../outside.csv": "region,count\nA,12\n"})
	if code, body := call(t, guest, "POST", g.url(p, "/requests/"+id+"/files"), mp, "Content-Type", ct); code != http.StatusBadRequest || !strings.Contains(body, "plain file name") {
		t.Errorf("multipart traversal = %d %s", code, body)
	}
	// Not multipart at all.
	if code, _ := call(t, guest, "POST", g.url(p, "/requests/"+id+"/files"), strings.NewReader("x")); code != http.StatusBadRequest {
		t.Errorf("non-multipart upload = %d", code)
	}
	// A form that is too large or not a form.
	if code, _ := call(t, guest, "POST", g.url(p, "/requests"), strings.NewReader(strings.Repeat("a", 70<<10)), "Content-Type", "application/x-www-form-urlencoded"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form = %d", code)
	}
	if code, _ := call(t, guest, "POST", g.url(p, "/requests"), strings.NewReader("[1]"), "Content-Type", "application/json"); code != http.StatusBadRequest {
		t.Errorf("JSON array form = %d", code)
	}
	// An unknown endpoint and an unknown request.
	if code, _ := call(t, guest, "DELETE", g.url(p, "/requests/"+id), nil); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE = %d", code)
	}
	if code, _ := call(t, guest, "GET", g.url(p, "/requests/0123456789abcdef0123456789abcdef"), nil); code != http.StatusNotFound {
		t.Errorf("unknown request = %d", code)
	}
	// Submitting an empty request.
	if code, body := postForm(t, guest, g.url(p, "/requests/"+id+"/submit"), "disclosure_controls", "x"); code != http.StatusBadRequest || !strings.Contains(body, "at least one file") {
		t.Errorf("empty submit = %d %s", code, body)
	}
	if n := e.stagedFiles(p.ID); n != 0 {
		t.Errorf("%d files staged after all that", n)
	}
}

// TestBadInputEngine covers refusals that do not come through the gateway:
// an import naming a column that is not there, pseudonymising an export,
// a user of another project adding a file, uploads to a submitted request.
func TestBadInputEngine(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dm, rita, mallory := e.user("dora"), e.user("rita"), e.user("mallory")
	p := e.project("study", map[model.MemberRole][]model.Actor{model.RoleDataManager: {dm}, model.RoleResearcher: {rita}})
	e.project("theirs", map[model.MemberRole][]model.Actor{model.RoleResearcher: {mallory}})
	imp, err := e.eng.Create(ctx, dm, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockImport, Title: "cohort"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.eng.AddFile(ctx, dm, imp.ID, "c.csv", strings.NewReader("id,age\n1,2\n"), airlock.FileOptions{Pseudonymise: []string{"nhs_number"}})
	wantCode(t, err, model.CodeInvalid)
	_, err = e.eng.AddFile(ctx, dm, imp.ID, "c.txt", strings.NewReader("x"), airlock.FileOptions{Pseudonymise: []string{"id"}})
	wantCode(t, err, model.CodeInvalid)
	_, err = e.eng.AddFile(ctx, dm, imp.ID, "c.csv", strings.NewReader("id,age\n\"1,2\n"), airlock.FileOptions{Pseudonymise: []string{"id"}})
	wantCode(t, err, model.CodeInvalid)
	exp, _ := e.eng.Create(ctx, rita, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockExport, Title: "t", Context: "c"})
	_, err = e.eng.AddFile(ctx, rita, exp.ID, "c.csv", strings.NewReader("id,count\n1,20\n"), airlock.FileOptions{Pseudonymise: []string{"id"}})
	wantCode(t, err, model.CodeInvalid)
	// A request of another project: refused before a byte is read.
	_, err = e.eng.AddFile(ctx, mallory, exp.ID, "c.csv", strings.NewReader("id,count\n1,20\n"), airlock.FileOptions{})
	wantCode(t, err, model.CodeForbidden)
	// Someone else's request in the same project.
	_, err = e.eng.AddFile(ctx, dm, exp.ID, "c.csv", strings.NewReader("id,count\n1,20\n"), airlock.FileOptions{})
	wantCode(t, err, model.CodeForbidden)
	if n := e.stagedFiles(p.ID); n != 0 {
		t.Errorf("%d files staged", n)
	}
	// Files cannot be added after submit.
	if _, err := e.eng.AddFile(ctx, rita, exp.ID, "c.csv", strings.NewReader("id,count\n1,20\n"), airlock.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Submit(ctx, rita, airlock.Submission{RequestID: exp.ID, DisclosureControls: "none"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.eng.AddFile(ctx, rita, exp.ID, "d.csv", strings.NewReader("id,count\n1,20\n"), airlock.FileOptions{})
	wantCode(t, err, model.CodeConflict)
	if n := e.stagedFiles(p.ID); n != 1 {
		t.Errorf("%d files staged, want 1", n)
	}
	// Every refusal is on record: input refusals as api.denied, policy
	// refusals as access.denied.
	if n := len(e.audit("api.denied")); n != 4 {
		t.Errorf("%d input refusals audited, want 4", n)
	}
	if n := len(e.audit("access.denied")); n < 2 {
		t.Errorf("%d access refusals audited, want at least 2", n)
	}
}
