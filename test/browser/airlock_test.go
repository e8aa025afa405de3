package browser

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cmd/sded/wire"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/staged"
	"github.com/sded/sded/test/testenv"
	"github.com/sded/sded/ui"
)

// startAirlock builds the real airlock engine over the real Service: the
// encrypted staged store, the disclosure checker with the default tiers,
// the pseudonymiser and the data volumes.
func startAirlock(t *testing.T, svc *cluster.Service) *airlock.Engine {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	store, err := staged.New(staged.Config{Root: filepath.Join(dir, "staged"), MaxFileBytes: 1 << 20, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	keys := &projectKeys{}
	vols, err := storage.NewVolumes(storage.VolumesConfig{Root: filepath.Join(dir, "vol"), ScratchDir: t.TempDir(), AllowDiskScratch: true, IterTimeMS: 10, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	linkKey := make([]byte, 32)
	rand.Read(linkKey)
	eng, err := airlock.New(airlock.Config{Requests: svc, Commands: svc, System: svc, Files: wire.Staged{S: store}, Keys: keys,
		Checker: wire.Checker{Tiers: disclosure.DefaultTiers()}, Pseudonym: wire.Pseudonymiser{}, Volumes: wire.DataVolumes{V: vols, DEK: keys.dek},
		Dir: filepath.Join(dir, "airlock"), LinkKey: linkKey, LinkTTL: 5 * time.Minute, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// startAirlockServer serves the UI with the airlock over TLS, as
// startServer does.
func startAirlockServer(t *testing.T, svc *cluster.Service, eng *airlock.Engine, maxUpload int64) string {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := ui.EnsureSelfSigned(cert, key, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := ui.TLSConfig(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logw io.Writer = io.Discard
	if testing.Verbose() {
		logw = os.Stderr
	}
	srv := &http.Server{
		Handler:           ui.New(ui.Config{Version: "browser-test", Airlock: eng, AirlockMaxUpload: maxUpload}, svc, nil, slog.New(slog.NewTextHandler(logw, nil))),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// signIn logs a user in through the service (password, TOTP enrolment
// with a code from the new key) and returns the full session's token; the
// browser journey of the login pages is TestRealStackDesktop's.
func signIn(t *testing.T, svc *cluster.Service, username, password string) string {
	t.Helper()
	ctx := context.Background()
	pending, _, err := svc.Login(ctx, username, password, "127.0.0.1:1")
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	secret, _, err := svc.BeginTOTP(ctx, pending)
	if err != nil {
		t.Fatalf("TOTP enrolment of %s: %v", username, err)
	}
	full, _, err := svc.ConfirmTOTP(ctx, pending, totpCode(secret, stepAt(time.Now())), "127.0.0.1:1")
	if err != nil {
		t.Fatalf("TOTP confirmation of %s: %v", username, err)
	}
	return full
}

// as makes the browser act as the session's user (the session cookie, as
// the login pages set it).
func as(base, session string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		yes := true
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "__Host-sded_session", Value: session,
			URL: base + "/", Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict})
		return err
	})
}

// waitText polls an element's text until it contains want.
func waitText(ctx context.Context, sel, want string) (string, error) {
	for {
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil && strings.Contains(got, want) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestAirlockReviewInBrowser runs an export through the airlock in
// Chromium against the real stack (one-node raft, FSM, bbolt, the real
// airlock engine with the encrypted staged store and the disclosure
// checker): the researcher's export (made as the project gateway makes
// it, from the workstation) holds a table with a small cell; an output
// checker finds it waiting, opens the file view where the checks flag the
// cell, and returns it with a reason and a comment; the researcher puts a
// fixed table in from the workstation and resubmits in the browser; two
// checkers approve; the researcher downloads the released file through
// its expiring link. Views and the download are audited.
func TestAirlockReviewInBrowser(t *testing.T) {
	svc, node := startCluster(t)
	eng := startAirlock(t, svc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := svc.CreateUser(ctx, model.Actor{NodeID: node}, model.CreateUser{Username: "admin", DisplayName: "Ada Admin", Admin: true}, "admin password long")
	if err != nil {
		t.Fatal(err)
	}
	adminActor := model.Actor{UserID: admin.ID}
	users := map[string]model.User{}
	for _, name := range []string{"alice", "olly", "otto"} {
		u, err := svc.CreateUser(ctx, adminActor, model.CreateUser{Username: name, DisplayName: strings.ToUpper(name[:1]) + name[1:]}, name+" password long")
		if err != nil {
			t.Fatal(err)
		}
		users[name] = u
	}
	now := time.Now().UTC()
	p, err := svc.CreateProject(ctx, adminActor, model.CreateProject{Name: "Diabetes study", Slug: "diabetes", ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: now.AddDate(0, -1, 0), ExpiresAt: now.AddDate(1, 0, 0), Tier: 3,
		Quota: model.Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 100, Workstations: 4}})
	if err != nil {
		t.Fatal(err)
	}
	for name, role := range map[string]model.MemberRole{"alice": model.RoleResearcher, "olly": model.RoleOutputChecker, "otto": model.RoleOutputChecker} {
		if err := svc.AddMember(ctx, adminActor, model.AddMember{ProjectID: p.ID, UserID: users[name].ID, Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	alice := model.Actor{UserID: users["alice"].ID}

	// The researcher's export, as the gateway makes it from her workstation.
	req, err := eng.Create(ctx, alice, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockExport, Title: "Table 1: cases by region",
		Context: "Counts of cases by region from the 2025 extract"})
	if err != nil {
		t.Fatal(err)
	}
	const small, fixed = "region,count\nNorth,12\nSouth,3\n", "region,count\nNorth,12\nSouth and East,15\n"
	if _, err := eng.AddFile(ctx, alice, req.ID, "table1.csv", strings.NewReader(small), airlock.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	if req, err = eng.Submit(ctx, alice, airlock.Submission{RequestID: req.ID, DisclosureControls: "none needed, I think"}); err != nil {
		t.Fatal(err)
	}
	if f, _ := req.File("table1.csv"); f.Disclosure != model.DisclosureFail {
		t.Fatalf("automatic check of the small cell: %q, want fail", f.Disclosure)
	}

	base := startAirlockServer(t, svc, eng, 0)
	sessions := map[string]string{}
	for _, name := range []string{"alice", "olly", "otto"} {
		sessions[name] = signIn(t, svc, name, name+" password long")
	}
	bctx := newBrowser(t, 2*time.Minute)
	type css = chromedp.CSS
	row := `[data-testid="airlock-` + req.ID + `"]`
	reqURL := base + "/airlock/" + req.ID
	shot := func(name string) {
		if b, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
			saveArtifact(t, name, b)
		}
	}

	// 1. The checker finds the request waiting for them, opens the file
	// view: the South cell fails the threshold rule.
	if err := chromedp.Do(bctx,
		as(base, sessions["olly"]),
		chromedp.Navigate(base+"/"),
		chromedp.Click(css(`[data-testid=nav-airlock]`)),
		chromedp.WaitVisible(css(row+` [data-testid=for-me]`)),
		chromedp.Click(css(row+` [data-testid=airlock-open]`)),
		chromedp.WaitVisible(css(`[data-testid="file-table1.csv"] [data-testid=rules-fired]`)),
		chromedp.Click(css(`[data-testid="file-table1.csv"] [data-testid=file-view]`)),
		chromedp.WaitVisible(css(`[data-testid=cells] [data-testid=cell-fail]`)),
	); err != nil {
		shot("airlock-failure.png")
		t.Fatalf("checker opening the file view: %v", err)
	}
	cell, err := chromedp.Run(bctx, chromedp.Text(css(`[data-testid=cells] [data-testid=cell-fail]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cell, "South") || !strings.Contains(cell, "fail") {
		t.Errorf("flagged cell row %q, want South failing", cell)
	}
	shot("airlock-file-view.png")

	// 2. The checker returns the request with a reason and a comment.
	const reason = "South has 3 cases, below the threshold of 10: combine or suppress it."
	if err := chromedp.Do(bctx,
		chromedp.Navigate(reqURL),
		chromedp.WaitVisible(css(`[data-testid=decide-form]`)),
		chromedp.SendKeys(css(`[data-testid=input-decide-reason]`), reason),
		chromedp.Click(css(`[data-testid=return]`)),
	); err != nil {
		shot("airlock-failure.png")
		t.Fatalf("returning the request: %v", err)
	}
	if _, err := waitText(bctx, `[data-testid=airlock-state]`, "returned"); err != nil {
		t.Fatalf("state after return: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(css(`[data-testid=input-comment-text]`), "Totals look fine otherwise."),
		chromedp.Click(css(`[data-testid=comment-submit]`)),
		chromedp.WaitVisible(css(`[data-testid=activity] [data-testid=comment]`)),
	); err != nil {
		shot("airlock-failure.png")
		t.Fatalf("commenting: %v", err)
	}

	// 3. The researcher fixes the table in her workstation (the gateway
	// replaces the file) and resubmits in the browser; she is offered no
	// review of her own request.
	if _, err := eng.AddFile(ctx, alice, req.ID, "table1.csv", strings.NewReader(fixed), airlock.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		as(base, sessions["alice"]),
		chromedp.Navigate(reqURL),
		chromedp.WaitVisible(css(`[data-testid=submit-form]`)),
	); err != nil {
		t.Fatalf("requester's page: %v", err)
	}
	activity, _ := chromedp.Run(bctx, chromedp.Text(css(`[data-testid=activity]`)))
	if !strings.Contains(activity, reason) || !strings.Contains(activity, "Totals look fine otherwise.") {
		t.Errorf("the requester does not see the checker's reason and comment: %q", activity)
	}
	if n, _ := chromedp.Run(bctx, chromedp.Nodes(css(`[data-testid^=vote-form]`), chromedp.AtLeast(0))); len(n) != 0 {
		t.Error("the requester is offered a vote on her own request")
	}
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(css(`[data-testid=input-submit-context]`), "Combined South and East so every cell counts at least 10."),
		chromedp.SendKeys(css(`[data-testid=input-submit-controls]`), "Small cells combined with a neighbouring region; no cell below 10."),
		chromedp.Click(css(`[data-testid=submit]`)),
	); err != nil {
		shot("airlock-failure.png")
		t.Fatalf("resubmitting: %v", err)
	}
	if _, err := waitText(bctx, `[data-testid=airlock-state]`, "submitted"); err != nil {
		t.Fatalf("state after resubmission: %v", err)
	}

	// 4. Two checkers approve; the second approval releases the request.
	for _, step := range []struct{ checker, after string }{{"olly", "in_review"}, {"otto", "released"}} {
		checker := step.checker
		if err := chromedp.Do(bctx,
			as(base, sessions[checker]),
			chromedp.Navigate(base+"/airlock"),
			chromedp.WaitVisible(css(row+` [data-testid=for-me]`)),
			chromedp.Click(css(row+` [data-testid=airlock-open]`)),
			chromedp.WaitVisible(css(`[data-testid="vote-form-table1.csv"]`)),
			chromedp.Click(css(`[data-testid="vote-form-table1.csv"] [data-testid=vote-approve]`)),
		); err != nil {
			shot("airlock-failure.png")
			t.Fatalf("%s approving: %v", checker, err)
		}
		if st, err := waitText(bctx, `[data-testid=airlock-state]`, step.after); err != nil {
			t.Fatalf("state after %s's approval: %q (%v)", checker, st, err)
		}
	}

	// 5. The researcher downloads the released file through its link.
	dl := t.TempDir()
	yes := true
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl, EventsEnabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		as(base, sessions["alice"]),
		chromedp.Navigate(reqURL),
		chromedp.WaitVisible(css(`[data-testid="download-table1.csv"]`)),
	); err != nil {
		t.Fatalf("requester's released page: %v", err)
	}
	shot("airlock-released.png")
	if err := chromedp.Do(bctx, chromedp.Click(css(`[data-testid="download-table1.csv"] [data-testid=download]`))); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, err = os.ReadFile(filepath.Join(dl, "table1.csv")); err == nil && len(got) == len(fixed) {
			break
		}
	}
	if string(got) != fixed {
		ents, _ := os.ReadDir(dl)
		t.Fatalf("downloaded %q (dir %v), want the fixed table", got, ents)
	}

	// Views of the file and the download were audited.
	for action, who := range map[string]string{"airlock.file_view": users["olly"].ID, "airlock.file_download": users["alice"].ID} {
		evs, err := svc.ListAudit(ctx, adminActor, model.AuditQuery{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			found = found || (e.Actor.UserID == who && e.Outcome == model.OutcomeSuccess)
		}
		if !found {
			t.Errorf("no successful %s audited for %s (%d events)", action, who, len(evs))
		}
	}
}

// TestAirlockImportInBrowser: a data manager opens an import in the
// browser, an upload over the limit is refused with the error next to the
// file field and the typed columns kept, the real upload streams through
// the real engine with a column pseudonymised on the way in, and two
// checkers (never the uploader) approve it, which builds the project's
// data volume; the checker reading the file sees pseudonyms, not the
// identifiers.
func TestAirlockImportInBrowser(t *testing.T) {
	testenv.RequireCommand(t, "mkfs.ext4")
	testenv.RequireCommand(t, "qemu-img")
	svc, node := startCluster(t)
	eng := startAirlock(t, svc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := svc.CreateUser(ctx, model.Actor{NodeID: node}, model.CreateUser{Username: "admin", DisplayName: "Ada Admin", Admin: true}, "admin password long")
	if err != nil {
		t.Fatal(err)
	}
	adminActor := model.Actor{UserID: admin.ID}
	now := time.Now().UTC()
	p, err := svc.CreateProject(ctx, adminActor, model.CreateProject{Name: "Cohort study", Slug: "cohort", ApprovalRef: "DAC-2", DSARef: "DSA-2",
		StartsAt: now.AddDate(0, -1, 0), ExpiresAt: now.AddDate(1, 0, 0), Tier: 2,
		Quota: model.Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 100, Workstations: 4}})
	if err != nil {
		t.Fatal(err)
	}
	sessions := map[string]string{}
	for name, role := range map[string]model.MemberRole{"dana": model.RoleDataManager, "olly": model.RoleOutputChecker, "otto": model.RoleOutputChecker} {
		u, err := svc.CreateUser(ctx, adminActor, model.CreateUser{Username: name, DisplayName: name}, name+" password long")
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.AddMember(ctx, adminActor, model.AddMember{ProjectID: p.ID, UserID: u.ID, Role: role}); err != nil {
			t.Fatal(err)
		}
		sessions[name] = signIn(t, svc, name, name+" password long")
	}
	base := startAirlockServer(t, svc, eng, 64<<10)
	dir := t.TempDir()
	big, cohort := filepath.Join(dir, "big.csv"), filepath.Join(dir, "cohort.csv")
	os.WriteFile(big, []byte("nhs_number,age\n"+strings.Repeat("9434765919,54\n", 10000)), 0o600)
	os.WriteFile(cohort, []byte("nhs_number,age\n9434765919,54\n9434765870,61\n"), 0o600)
	bctx := newBrowser(t, 2*time.Minute)
	type css = chromedp.CSS
	shot := func(name string) {
		if b, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
			saveArtifact(t, name, b)
		}
	}

	// 1. Open the import, try an upload over the limit.
	if err := chromedp.Do(bctx,
		as(base, sessions["dana"]),
		chromedp.Navigate(base+"/projects/"+p.ID+"/airlock"),
		chromedp.SendKeys(css(`[data-testid=import-form] [data-testid=input-title]`), "GP cohort extract"),
		chromedp.SendKeys(css(`[data-testid=input-import-context]`), "Cohort from the GP extract, identifiers pseudonymised on the way in."),
		chromedp.Click(css(`[data-testid=import-submit]`)),
		chromedp.WaitVisible(css(`[data-testid=upload-form]`)),
		chromedp.SendKeys(css(`[data-testid=input-pseudonymise]`), "nhs_number"),
		chromedp.SetUploadFiles(css(`[data-testid=input-file]`), []string{big}),
		chromedp.Click(css(`[data-testid=upload-submit]`)),
		chromedp.WaitVisible(css(`[data-testid=error-file]`)),
	); err != nil {
		shot("airlock-import-failure.png")
		t.Fatalf("oversized upload: %v", err)
	}
	msg, _ := chromedp.Run(bctx, chromedp.Text(css(`[data-testid=error-file]`)))
	kept, _ := chromedp.Run(bctx, chromedp.Value(css(`[data-testid=input-pseudonymise]`)))
	if !strings.Contains(msg, "larger than the limit") || kept != "nhs_number" {
		t.Errorf("oversized upload: error %q, pseudonymise field %q; want the limit named and the columns kept", msg, kept)
	}
	shot("airlock-import-too-large.png")
	reqURL, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	reqURL = strings.TrimSuffix(reqURL, "/files")

	// 2. The real upload, pseudonymised, then submit.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(reqURL),
		chromedp.SetValue(css(`[data-testid=input-pseudonymise]`), "nhs_number"),
		chromedp.SetUploadFiles(css(`[data-testid=input-file]`), []string{cohort}),
		chromedp.Click(css(`[data-testid=upload-submit]`)),
		chromedp.WaitVisible(css(`[data-testid="file-cohort.csv"]`)),
		chromedp.Click(css(`[data-testid=submit]`)),
	); err != nil {
		shot("airlock-import-failure.png")
		t.Fatalf("upload and submit: %v", err)
	}
	if st, err := waitText(bctx, `[data-testid=airlock-state]`, "submitted"); err != nil {
		t.Fatalf("state after submit: %q (%v)", st, err)
	}
	if n, _ := chromedp.Run(bctx, chromedp.Nodes(css(`[data-testid^=vote-form]`), chromedp.AtLeast(0))); len(n) != 0 {
		t.Error("the uploader is offered a vote on her own import")
	}

	// 3. A checker reads the file: pseudonyms, not NHS numbers; two
	// checkers approve and the data volume is built.
	if err := chromedp.Do(bctx,
		as(base, sessions["olly"]),
		chromedp.Navigate(reqURL),
		chromedp.Click(css(`[data-testid="vote-form-cohort.csv"] [data-testid=file-content]`)),
		chromedp.WaitVisible(css(`pre`)),
	); err != nil {
		t.Fatalf("reading the file: %v", err)
	}
	content, _ := chromedp.Run(bctx, chromedp.Text(css(`pre`)))
	if !strings.HasPrefix(content, "nhs_number,age") || strings.Contains(content, "9434765919") || !strings.Contains(content, ",54") {
		t.Errorf("the staged file is not pseudonymised: %q", content)
	}
	for _, step := range []struct{ checker, after string }{{"olly", "in_review"}, {"otto", "released"}} {
		if err := chromedp.Do(bctx,
			as(base, sessions[step.checker]),
			chromedp.Navigate(reqURL),
			chromedp.Click(css(`[data-testid="vote-form-cohort.csv"] [data-testid=vote-approve]`)),
		); err != nil {
			t.Fatalf("%s approving: %v", step.checker, err)
		}
		if st, err := waitText(bctx, `[data-testid=airlock-state]`, step.after); err != nil {
			shot("airlock-import-failure.png")
			t.Fatalf("state after %s's approval: %q (%v)", step.checker, st, err)
		}
	}
	evs, err := svc.ListAudit(ctx, adminActor, model.AuditQuery{Action: "airlock.file_view"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Details["content"] != "true" {
		t.Errorf("reading the file was not audited: %v", evs)
	}
}
