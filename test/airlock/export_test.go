package airlocktest

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// TestExportThroughGateway: a guest (a socket bound to its workstation's
// address) creates an export request on its project's gateway, uploads a
// CSV with a small cell and submits; the automatic checks flag it; the
// requester can neither vote nor download; a checker views the per-column
// summary and returns it; the guest uploads a fixed file and resubmits; two
// checkers approve; the requester downloads it through a link that expires.
// Another project's listener refuses the same guest, and so does the gateway
// for a request of another workstation.
func TestExportThroughGateway(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rita, olly, otto, bob := e.user("rita"), e.user("olly"), e.user("otto"), e.user("bob")
	p := e.project("study", map[model.MemberRole][]model.Actor{model.RoleResearcher: {rita}, model.RoleOutputChecker: {olly, otto}})
	q := e.project("elsewhere", map[model.MemberRole][]model.Actor{model.RoleResearcher: {bob}})
	ws := e.workstation(p, rita, "rita-1")
	wq := e.workstation(q, bob, "bob-1")
	g := e.gateway(p, q)
	guest := g.guest(ws.IP)

	// Usage text on the root.
	if code, body := call(t, guest, "GET", g.url(p, "/"), nil); code != 200 || !strings.Contains(body, "curl -T") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	code, body := postForm(t, guest, g.url(p, "/requests"), "title", "Table 1", "context", "Counts of admissions by region, from cohort v3")
	if code != http.StatusCreated {
		t.Fatalf("create = %d %s", code, body)
	}
	id := decode(t, body).ID
	r, err := e.svc.Airlock(ctx, rita, id)
	if err != nil || r.WorkstationID != ws.ID || r.CreatedBy != rita.UserID || r.Direction != model.AirlockExport {
		t.Fatalf("request bound to %q by %q (%v), want workstation %s and rita", r.WorkstationID, r.CreatedBy, err, ws.ID)
	}
	small := "region,count\nNorth,12\nSouth,3\n"
	if code, body := call(t, guest, "PUT", g.url(p, "/requests/"+id+"/files/table1.csv"), strings.NewReader(small)); code != 200 || !strings.Contains(body, "stored table1.csv") {
		t.Fatalf("PUT = %d %s", code, body)
	}
	// The disclosure statement is required.
	if code, body := postForm(t, guest, g.url(p, "/requests/"+id+"/submit")); code != http.StatusBadRequest || !strings.Contains(body, "disclosure_controls") {
		t.Fatalf("submit without controls = %d %s", code, body)
	}
	code, body = postForm(t, guest, g.url(p, "/requests/"+id+"/submit"), "disclosure_controls", "none yet")
	if code != 200 {
		t.Fatalf("submit = %d %s", code, body)
	}
	if got := decode(t, body); got.State != model.AirlockSubmitted || got.Files[0].Disclosure != model.DisclosureFail {
		t.Fatalf("after submit: %+v", got)
	}

	// The requester can never review or fetch before release.
	_, err = e.eng.Vote(ctx, rita, id, "table1.csv", model.VoteApprove)
	wantCode(t, err, model.CodeForbidden)
	_, err = e.eng.Link(ctx, rita, id, "table1.csv")
	wantCode(t, err, model.CodeConflict)
	_, err = e.eng.OpenForReview(ctx, rita, id, "table1.csv")
	wantCode(t, err, model.CodeForbidden)

	// A checker sees the automatic result and per-column summaries, and the
	// bytes; both views are audited.
	v, err := e.eng.View(ctx, olly, id, "table1.csv")
	if err != nil || v.Check == nil || v.Check.Status != airlock.StatusFail || len(v.Check.Columns) != 2 {
		t.Fatalf("view = %+v, %v", v, err)
	}
	var count *airlock.ColumnSummary
	for i := range v.Check.Columns {
		if v.Check.Columns[i].Name == "count" {
			count = &v.Check.Columns[i]
		}
	}
	if count == nil || count.Min == nil || *count.Min != 3 || *count.Max != 12 || *count.Sum != 15 {
		t.Fatalf("count column summary %+v", count)
	}
	d, err := e.eng.OpenForReview(ctx, olly, id, "table1.csv")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(d.Body); string(b) != small {
		t.Fatalf("checker read %q", b)
	}
	d.Body.Close()
	if n := len(e.audit("airlock.file_view")); n != 2 {
		t.Errorf("%d file views audited, want 2", n)
	}
	if _, err := e.eng.Comment(ctx, olly, id, "South has 3: suppress or merge cells under 10"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Transition(ctx, olly, id, model.AirlockReturned, "small cell"); err != nil {
		t.Fatal(err)
	}

	// The guest sees why, fixes the file and resubmits.
	if code, body := call(t, guest, "GET", g.url(p, "/requests/"+id), nil); code != 200 || !strings.Contains(body, "returned") || !strings.Contains(body, "South has 3") {
		t.Fatalf("status = %d %s", code, body)
	}
	fixed := "region,count\nNorth,12\nSouth+East,15\n"
	ct, mp := multipartBody(t, map[string]string{"table1.csv": fixed})
	if code, body := call(t, guest, "POST", g.url(p, "/requests/"+id+"/files"), mp, "Content-Type", ct); code != 200 {
		t.Fatalf("multipart upload = %d %s", code, body)
	}
	code, body = postForm(t, guest, g.url(p, "/requests/"+id+"/submit"), "disclosure_controls", "South and East merged; every cell at least 10",
		"context", "merged the small regions")
	if got := decode(t, body); code != 200 || got.State != model.AirlockSubmitted || got.Files[0].Disclosure != model.DisclosurePass {
		t.Fatalf("resubmit = %d %s", code, body)
	}
	if n := e.stagedFiles(p.ID); n != 1 {
		t.Errorf("%d staged files after replacing the only file, want 1", n)
	}

	// Two independent checkers approve: released.
	if r, err = e.eng.Vote(ctx, olly, id, "table1.csv", model.VoteApprove); err != nil || r.State != model.AirlockInReview {
		t.Fatalf("first vote: %s %v", r.State, err)
	}
	if r, err = e.eng.Vote(ctx, otto, id, "table1.csv", model.VoteApprove); err != nil || r.State != model.AirlockReleased {
		t.Fatalf("second vote: %s %v", r.State, err)
	}

	// Only the requester gets a link; it works until it expires.
	_, err = e.eng.Link(ctx, olly, id, "table1.csv")
	wantCode(t, err, model.CodeForbidden)
	l, err := e.eng.Link(ctx, rita, id, "table1.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.eng.Download(ctx, olly, l.Token)
	wantCode(t, err, model.CodeForbidden)
	dl, err := e.eng.Download(ctx, model.Actor{}, l.Token)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(dl.Body); string(b) != fixed {
		t.Fatalf("downloaded %q", b)
	}
	dl.Body.Close()
	_, err = e.eng.Download(ctx, rita, l.Token[:len(l.Token)-2]+"AA")
	wantCode(t, err, model.CodeUnauthenticated)
	e.clock.Add(11 * time.Minute)
	_, err = e.eng.Download(ctx, rita, l.Token)
	wantCode(t, err, model.CodeUnauthenticated)
	var ok, denied int
	for _, ev := range e.audit("airlock.file_download") {
		switch ev.Outcome {
		case model.OutcomeSuccess:
			ok++
		case model.OutcomeDenied:
			denied++
		}
		for k, v := range ev.Details {
			if strings.Contains(v, l.Token[:20]) {
				t.Errorf("audit detail %s holds the link token", k)
			}
		}
	}
	if ok != 1 || denied != 2 {
		t.Errorf("downloads audited: %d ok, %d denied; want 1 and 2", ok, denied)
	}
	// A revoked export cannot be fetched, even with a fresh link.
	l, _ = e.eng.Link(ctx, rita, id, "table1.csv")
	if _, err := e.eng.Transition(ctx, olly, id, model.AirlockRevoked, "published by mistake"); err != nil {
		t.Fatal(err)
	}
	_, err = e.eng.Download(ctx, rita, l.Token)
	wantCode(t, err, model.CodeConflict)

	// Another project's listener refuses this guest, and the refusal is audited.
	before := len(e.audit("access.denied"))
	if code, body := call(t, guest, "GET", g.url(q, "/requests"), nil); code != http.StatusForbidden || !strings.Contains(body, "not a workstation of this project") {
		t.Fatalf("other project's listener = %d %s", code, body)
	}
	// A guest of the other project cannot touch this request through its
	// own listener either.
	other := g.guest(wq.IP)
	if code, _ := call(t, other, "GET", g.url(q, "/requests/"+id), nil); code != http.StatusForbidden {
		t.Fatalf("other guest on a foreign request = %d", code)
	}
	// Nor can an unknown address (the host, a stale lease).
	if code, _ := call(t, g.guest(netip.MustParseAddr(ws.IP).Next().Next().Next().String()), "GET", g.url(p, "/requests"), nil); code != http.StatusForbidden {
		t.Fatalf("unknown address = %d", code)
	}
	if got := len(e.audit("access.denied")) - before; got < 3 {
		t.Errorf("%d refusals audited, want at least 3", got)
	}
}
