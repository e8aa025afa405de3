package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/model"
)

func TestServiceUIShapedLogin(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	e.user(t, "ann")
	tok, u, err := e.svc.Login(ctx, "ann", "ann password 123", "")
	if err != nil || u.Username != "ann" || u.PasswordHash != "" {
		t.Fatalf("Login = %+v %v", u, err)
	}
	// VerifyTOTP before enrolment is a conflict; ConfirmTOTP enrols.
	_, err = e.svc.VerifyTOTP(ctx, tok, "123456", "")
	wantCode(t, err, model.CodeConflict)
	secret, uri, err := e.svc.BeginTOTP(ctx, tok)
	if err != nil || !strings.Contains(uri, secret) {
		t.Fatalf("BeginTOTP = %q %q %v", secret, uri, err)
	}
	code, _ := auth.TOTPCode(secret, auth.TOTPStep(e.clock.Now()))
	full, recovery, err := e.svc.ConfirmTOTP(ctx, tok, code, "")
	if err != nil || len(recovery) != auth.RecoveryCodeCount {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if _, _, err := e.svc.Authenticate(ctx, full); err != nil {
		t.Fatal(err)
	}
	// Next login: a TOTP code, then a recovery code through VerifyTOTP.
	e.clock.Add(auth.TOTPPeriod)
	tok, _, _ = e.svc.Login(ctx, "ann", "ann password 123", "")
	_, _, err = e.svc.ConfirmTOTP(ctx, tok, code, "")
	wantCode(t, err, model.CodeConflict)
	code, _ = auth.TOTPCode(secret, auth.TOTPStep(e.clock.Now()))
	if _, err := e.svc.VerifyTOTP(ctx, tok, " "+code+" ", ""); err != nil {
		t.Fatal(err)
	}
	tok, _, _ = e.svc.Login(ctx, "ann", "ann password 123", "")
	if _, err := e.svc.VerifyTOTP(ctx, tok, recovery[3], ""); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
}

func TestServiceDesktopAccess(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann, bob, cat := e.user(t, "ann"), e.user(t, "bob"), e.user(t, "cat")
	p := e.project(t, "study", ann)
	for _, u := range []model.Actor{bob, cat} {
		if err := e.svc.AddMember(ctx, ann, model.AddMember{ProjectID: p.ID, UserID: u.UserID, Role: model.RoleResearcher}); err != nil {
			t.Fatal(err)
		}
	}
	img, _ := e.svc.RegisterImage(ctx, e.admin, model.Image{Name: "d", Format: model.FormatRaw, SHA256: strings.Repeat("e", 64), Size: 1, Path: "/images/d.raw"})
	w, err := e.svc.CreateWorkstation(ctx, bob, model.CreateWorkstation{ProjectID: p.ID, Name: "bob-1", ImageID: img.ID, Flavour: "small"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.OpenDesktop(ctx, bob, w.ID, "203.0.113.5")
	if err != nil || g.BreakGlass || g.AllowPaste || g.ProjectID != p.ID {
		t.Fatalf("OpenDesktop = %+v %v", g, err)
	}
	if err := e.svc.CloseDesktop(ctx, bob, g, 95*time.Second, "closed tab"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.OpenDesktop(ctx, ann, w.ID, ""); err != nil {
		t.Errorf("owner: %v", err)
	}
	_, err = e.svc.OpenDesktop(ctx, cat, w.ID, "")
	wantCode(t, err, model.CodeForbidden)
	_, err = e.svc.OpenDesktop(ctx, e.admin, w.ID, "")
	wantCode(t, err, model.CodeForbidden)
	// Break-glass: an admin setting, audited on every opening.
	if _, err := e.svc.PutSetting(ctx, e.admin, BreakGlassSetting, "true"); err != nil {
		t.Fatal(err)
	}
	g, err = e.svc.OpenDesktop(ctx, e.admin, w.ID, "")
	if err != nil || !g.BreakGlass {
		t.Fatalf("break-glass OpenDesktop = %+v %v", g, err)
	}
	_, err = e.svc.OpenDesktop(ctx, cat, w.ID, "")
	wantCode(t, err, model.CodeForbidden)
	evs, err := e.svc.ListAudit(ctx, e.admin, AuditFilter{ProjectID: p.ID, Action: "desktop.open"})
	if err != nil || len(evs) != 3 {
		t.Fatalf("ListAudit = %d events, %v", len(evs), err)
	}
	if evs[0].Details["break_glass"] != "true" || evs[0].Actor != e.admin || evs[2].Actor != bob {
		t.Errorf("newest first, break-glass recorded: %+v", evs)
	}
	denied, _ := e.svc.ListAudit(ctx, e.admin, AuditFilter{Action: "access.denied", Limit: 10})
	if len(denied) != 3 {
		t.Errorf("%d denied desktop attempts audited, want 3", len(denied))
	}
	_, err = e.svc.ListAudit(ctx, bob, AuditFilter{})
	wantCode(t, err, model.CodeForbidden)
}

func TestServiceListAuditPaging(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	for i := 0; i < 1100; i++ {
		if err := e.svc.RecordAudit(ctx, e.admin, model.RecordAudit{Action: "network.drift_repaired", Outcome: model.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := e.svc.ListAudit(ctx, e.admin, AuditFilter{Action: "network.drift_repaired", Limit: 1050})
	if err != nil || len(evs) != 1050 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq >= evs[i-1].Seq {
			t.Fatalf("not newest first at %d", i)
		}
	}
	_, err = e.svc.ListAudit(ctx, e.admin, AuditFilter{Limit: 10001})
	wantCode(t, err, model.CodeInvalid)
}

func TestServiceTokenListing(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann, bob := e.user(t, "ann"), e.user(t, "bob")
	raw, _, err := e.svc.CreateAPIToken(ctx, ann, "ci", []model.Action{model.ScopeAll}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateAPIToken(ctx, bob, "x", []model.Action{"no.such"}, time.Time{}); model.CodeOf(err) != model.CodeInvalid {
		t.Errorf("unknown scope: %v", err)
	}
	if _, _, err := e.svc.CreateAPIToken(ctx, bob, "x", []model.Action{model.ActProjectRead}, e.clock.Now().Add(-time.Hour)); model.CodeOf(err) != model.CodeInvalid {
		t.Errorf("expired at creation: %v", err)
	}
	toks, err := e.svc.ListAPITokens(ctx, ann)
	if err != nil || len(toks) != 1 || toks[0].Hash != "" {
		t.Fatalf("ListAPITokens = %+v %v", toks, err)
	}
	if toks, _ := e.svc.ListAPITokens(ctx, bob); len(toks) != 0 {
		t.Errorf("bob sees %d tokens", len(toks))
	}
	tok, u, err := e.svc.AuthenticateAPIToken(ctx, raw)
	if err != nil || u.ID != ann.UserID || tok.Hash != "" {
		t.Fatalf("AuthenticateAPIToken = %+v %+v %v", tok, u, err)
	}
	if err := e.svc.DeleteAPIToken(ctx, bob, tok.ID); model.CodeOf(err) != model.CodeForbidden {
		t.Errorf("bob revokes ann's token: %v", err)
	}
	if err := e.svc.DeleteAPIToken(ctx, ann, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.AuthenticateAPIToken(ctx, raw)
	wantCode(t, err, model.CodeUnauthenticated)
}

func TestServiceHousekeepAndBanner(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	if e.svc.LoginBanner(ctx) != "" {
		t.Error("banner before one is set")
	}
	if _, err := e.svc.PutSetting(ctx, e.admin, LoginBannerSetting, "Authorised use only"); err != nil {
		t.Fatal(err)
	}
	if got := e.svc.LoginBanner(ctx); got != "Authorised use only" {
		t.Errorf("banner %q", got)
	}
	ann := e.user(t, "ann")
	p := e.project(t, "study", ann)
	tok, _, _ := e.login(t, "ann")
	if err := e.svc.Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(91 * 24 * time.Hour)
	if err := e.svc.Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Session(auth.HashToken(tok)); model.CodeOf(err) != model.CodeNotFound {
		t.Error("expired session survived housekeeping")
	}
	if pr, _ := e.st.Project(p.ID); pr.State != model.ProjectSuspended || pr.StateReason != "expired" {
		t.Errorf("expired project is %s (%s)", pr.State, pr.StateReason)
	}
}

// TestServiceRefusesNodeActors: a caller passing a node actor (a UI bug, a
// forged actor) gets no system rights through the user-facing methods.
func TestServiceRefusesNodeActors(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann := e.user(t, "ann")
	p := e.project(t, "study", ann)
	for _, a := range []model.Actor{e.svc.SystemActor(), {NodeID: "other"}, {UserID: ann.UserID, NodeID: "node1"}, {}} {
		if _, err := e.svc.ListProjects(ctx, a); model.CodeOf(err) != model.CodeUnauthenticated {
			t.Errorf("ListProjects as %s: %v", a, err)
		}
		if err := e.svc.SuspendProject(ctx, a, p.ID, "x"); model.CodeOf(err) != model.CodeUnauthenticated {
			t.Errorf("SuspendProject as %s: %v", a, err)
		}
		if _, err := e.svc.TransitionAirlock(ctx, a, model.TransitionAirlock{RequestID: "r", To: model.AirlockReleased}); model.CodeOf(err) != model.CodeUnauthenticated {
			t.Errorf("TransitionAirlock as %s: %v", a, err)
		}
		if err := e.svc.RecordAudit(ctx, a, model.RecordAudit{Action: "desktop.open", Outcome: model.OutcomeSuccess}); model.CodeOf(err) != model.CodeUnauthenticated {
			t.Errorf("RecordAudit as %s: %v", a, err)
		}
	}
	if _, err := e.svc.CreateUser(ctx, model.Actor{NodeID: "other"}, model.CreateUser{Username: "x1", DisplayName: "X", Admin: true}, "long enough pw"); model.CodeOf(err) != model.CodeUnauthenticated {
		t.Errorf("CreateUser as a foreign node: %v", err)
	}
}

func TestServiceSystemAccess(t *testing.T) {
	e := newSvcEnv(t)
	ctx := context.Background()
	ann := e.user(t, "ann")
	p := e.project(t, "study", ann)
	r, err := e.svc.CreateAirlock(ctx, ann, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockExport, Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.AirlockRequest(ctx, r.ID); err != nil || got.ID != r.ID {
		t.Errorf("AirlockRequest = %v", err)
	}
	if rs, err := e.svc.ProjectAirlockRequests(ctx, p.ID); err != nil || len(rs) != 1 {
		t.Errorf("ProjectAirlockRequests = %d, %v", len(rs), err)
	}
	if ws, err := e.svc.ProjectWorkstations(ctx, p.ID); err != nil || len(ws) != 0 {
		t.Errorf("ProjectWorkstations = %d, %v", len(ws), err)
	}
	if err := e.svc.RecordRepair(ctx, "bridge/sdabc", map[string]string{"chain": "SDED-FWD-abc"}); err != nil {
		t.Fatal(err)
	}
	evs, _ := e.svc.ListAudit(ctx, e.admin, AuditFilter{Action: "network.drift_repaired"})
	if len(evs) != 1 || evs[0].Actor != e.svc.SystemActor() || evs[0].Details["chain"] != "SDED-FWD-abc" {
		t.Errorf("repair audit %+v", evs)
	}
	if err := e.svc.RecordSystemAudit(ctx, model.RecordAudit{Action: "not.a.kind", Outcome: model.OutcomeSuccess}); model.CodeOf(err) != model.CodeInvalid {
		t.Errorf("bad system audit: %v", err)
	}
}
