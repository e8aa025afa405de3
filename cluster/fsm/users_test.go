package fsm

import (
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

func TestBootstrapAdmin(t *testing.T) {
	h := newHarness(t)
	// The system may not create a plain user, even on an empty cluster.
	h.fail(model.CodeForbidden, model.CmdCreateUser, sys, model.CreateUser{ID: "u", Username: "u1", DisplayName: "U"})
	h.ok(model.CmdCreateUser, sys, model.CreateUser{ID: "root", Username: "root", DisplayName: "Root", Admin: true})
	h.fail(model.CodeForbidden, model.CmdCreateUser, sys, model.CreateUser{ID: "root2", Username: "root2", DisplayName: "Root", Admin: true})
	// Once the only admin is disabled... it cannot be: it is the last one.
	h.fail(model.CodeConflict, model.CmdSetUserDisabled, user("root"), model.SetUserDisabled{ID: "root", Disabled: true})
	h.fail(model.CodeConflict, model.CmdUpdateUser, user("root"), model.UpdateUser{ID: "root", Admin: new(false)})
}

func TestDisableEndsSessionsAndTokens(t *testing.T) {
	h := newHarness(t)
	h.world()
	for i, hash := range []string{sha("s1"), sha("s2")} {
		h.ok(model.CmdCreateSession, sys, model.CreateSession{Session: model.Session{Hash: hash, UserID: "bob", IdleTimeout: time.Hour, ExpiresAt: t0.Add(8 * time.Hour)}})
		_ = i
	}
	h.ok(model.CmdCreateAPIToken, user("bob"), model.CreateAPIToken{Token: model.APIToken{ID: "t1", UserID: "bob", Name: "ci", Hash: sha("tok"), Scopes: []model.Action{model.ActWorkstationRead}}})
	// Bob's token acts as bob, within its scope.
	h.fail(model.CodeForbidden, model.CmdCreateWorkstation, model.Actor{UserID: "bob", TokenID: "t1"}, ws("w1", "p1", "x"))
	h.ok(model.CmdSetUserDisabled, user("root"), model.SetUserDisabled{ID: "bob", Disabled: true})
	if e := h.lastAudit(); e.Details["sessions_ended"] != "2" || e.Details["tokens_revoked"] != "1" {
		t.Errorf("disable audit %+v", e)
	}
	if _, err := h.st.Session(sha("s1")); model.CodeOf(err) != model.CodeNotFound {
		t.Error("session survived disabling")
	}
	if _, err := h.st.APITokenByHash(sha("tok")); model.CodeOf(err) != model.CodeNotFound {
		t.Error("token survived disabling")
	}
	// A disabled user can do nothing, even with an old command in flight.
	h.fail(model.CodeUnauthenticated, model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "x"))
	h.fail(model.CodeUnauthenticated, model.CmdCreateSession, sys, model.CreateSession{Session: model.Session{Hash: sha("s3"), UserID: "bob", ExpiresAt: t0.Add(8 * time.Hour)}})
	h.ok(model.CmdSetUserDisabled, user("root"), model.SetUserDisabled{ID: "bob", Disabled: false})
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "x"))
}

func TestLockoutWithBackoff(t *testing.T) {
	h := newHarness(t)
	h.world()
	var st LoginState
	for i := 1; i <= 7; i++ {
		h.ok(model.CmdLoginFailed, sys, model.LoginFailed{UserID: "bob", Reason: "bad password", Remote: "192.0.2.1"}, &st)
	}
	u, _ := h.st.User("bob")
	if u.FailedLogins != 7 || !u.LockedUntil.Equal(h.now.Add(2*time.Minute)) {
		t.Errorf("after 7 failures: %d, locked until %v (now %v)", u.FailedLogins, u.LockedUntil, h.now)
	}
	if e := h.lastAudit(); e.Action != "login.lockout" || e.Outcome != model.OutcomeDenied || e.Details["locked_for"] != "2m0s" {
		t.Errorf("lockout audit %+v", e)
	}
	// No session opens for a locked account, even if the password step raced the lockout.
	h.fail(model.CodeForbidden, model.CmdCreateSession, sys, model.CreateSession{Session: model.Session{Hash: sha("late"), UserID: "bob", MFAPending: true, ExpiresAt: h.now.Add(time.Hour)}})
	// A success while locked is refused by the FSM too.
	h.fail(model.CodeUnauthenticated, model.CmdLoginSucceeded, sys, model.LoginSucceeded{UserID: "bob"})
	h.now = h.now.Add(3 * time.Minute)
	h.ok(model.CmdLoginSucceeded, sys, model.LoginSucceeded{UserID: "bob"})
	if u, _ := h.st.User("bob"); u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Errorf("success did not reset: %+v", u)
	}
	// Failures for unknown usernames are audited without a user.
	h.ok(model.CmdLoginFailed, sys, model.LoginFailed{Username: "mallory", Reason: "unknown user"})
	if e := h.lastAudit(); e.Details["username"] != "mallory" || e.Outcome != model.OutcomeFailure {
		t.Errorf("unknown-user failure audit %+v", e)
	}
	// Users cannot forge login bookkeeping.
	h.fail(model.CodeForbidden, model.CmdLoginSucceeded, user("bob"), model.LoginSucceeded{UserID: "bob"})
	h.fail(model.CodeForbidden, model.CmdLoginFailed, user("bob"), model.LoginFailed{UserID: "cat", Reason: "x"})
}

func TestTOTPEnrolmentAndReplay(t *testing.T) {
	h := newHarness(t)
	h.world()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	codes := []string{sha("r1"), sha("r2")}
	// Only the user enrols themselves; not an admin for them.
	h.fail(model.CodeForbidden, model.CmdEnrolTOTP, user("root"), model.EnrolTOTP{ID: "bob", Secret: secret})
	h.fail(model.CodeConflict, model.CmdConfirmTOTP, user("bob"), model.ConfirmTOTP{ID: "bob", Step: 100, RecoveryCodeHashes: codes})
	h.ok(model.CmdEnrolTOTP, user("bob"), model.EnrolTOTP{ID: "bob", Secret: secret})
	h.ok(model.CmdConfirmTOTP, user("bob"), model.ConfirmTOTP{ID: "bob", Step: 100, RecoveryCodeHashes: codes})
	h.fail(model.CodeConflict, model.CmdEnrolTOTP, user("bob"), model.EnrolTOTP{ID: "bob", Secret: secret})
	// The confirming code cannot be replayed, nor an older one.
	h.fail(model.CodeUnauthenticated, model.CmdUseTOTPStep, sys, model.UseTOTPStep{ID: "bob", Step: 100})
	h.fail(model.CodeUnauthenticated, model.CmdUseTOTPStep, sys, model.UseTOTPStep{ID: "bob", Step: 99})
	h.ok(model.CmdUseTOTPStep, sys, model.UseTOTPStep{ID: "bob", Step: 101})
	h.fail(model.CodeUnauthenticated, model.CmdUseTOTPStep, sys, model.UseTOTPStep{ID: "bob", Step: 101})
	// Recovery codes work once each.
	h.ok(model.CmdUseRecoveryCode, sys, model.UseRecoveryCode{ID: "bob", Hash: codes[0]})
	h.fail(model.CodeUnauthenticated, model.CmdUseRecoveryCode, sys, model.UseRecoveryCode{ID: "bob", Hash: codes[0]})
	h.fail(model.CodeUnauthenticated, model.CmdUseRecoveryCode, sys, model.UseRecoveryCode{ID: "bob", Hash: sha("guess")})
	// Secrets never reach the audit log or results.
	evs, _ := h.st.AuditEvents(0, 1<<20)
	for _, e := range evs {
		for k, v := range e.Details {
			if strings.Contains(v, secret) || strings.Contains(v, codes[1]) || strings.Contains(v, "$argon2id$") {
				t.Errorf("audit event %d leaks a secret in %s", e.Seq, k)
			}
		}
	}
	// An admin reset lets the user enrol again.
	h.ok(model.CmdUpdateUser, user("root"), model.UpdateUser{ID: "bob", ResetTOTP: true})
	h.ok(model.CmdEnrolTOTP, user("bob"), model.EnrolTOTP{ID: "bob", Secret: secret})
}

func TestSessions(t *testing.T) {
	h := newHarness(t)
	h.world()
	s := model.Session{Hash: sha("pending"), UserID: "bob", MFAPending: true, IdleTimeout: 5 * time.Minute, ExpiresAt: t0.Add(10 * time.Minute)}
	h.ok(model.CmdCreateSession, sys, model.CreateSession{Session: s})
	h.fail(model.CodeAlreadyExists, model.CmdCreateSession, sys, model.CreateSession{Session: s})
	h.fail(model.CodeForbidden, model.CmdCreateSession, user("bob"), model.CreateSession{Session: model.Session{Hash: sha("x"), UserID: "bob", ExpiresAt: t0.Add(time.Hour)}})
	// Login completes: the pending session is replaced by a new ID.
	full := model.Session{Hash: sha("full"), UserID: "bob", IdleTimeout: 30 * time.Minute, ExpiresAt: t0.Add(8 * time.Hour)}
	h.ok(model.CmdCreateSession, sys, model.CreateSession{Session: full, ReplacesHash: s.Hash})
	if _, err := h.st.Session(s.Hash); model.CodeOf(err) != model.CodeNotFound {
		t.Error("pending session survived login")
	}
	// Someone else's session cannot be replaced or ended.
	h.fail(model.CodeForbidden, model.CmdCreateSession, sys, model.CreateSession{Session: model.Session{Hash: sha("c"), UserID: "cat", ExpiresAt: t0.Add(time.Hour)}, ReplacesHash: full.Hash})
	h.fail(model.CodeForbidden, model.CmdDeleteSession, user("cat"), model.DeleteSession{Hash: full.Hash, Reason: "logout"})
	h.ok(model.CmdTouchSession, sys, model.TouchSession{Hash: full.Hash})
	// Expiry: idle timeout passes.
	h.now = h.now.Add(31 * time.Minute)
	h.fail(model.CodeUnauthenticated, model.CmdTouchSession, sys, model.TouchSession{Hash: full.Hash})
	var out map[string]int
	h.ok(model.CmdExpireSessions, sys, model.ExpireSessions{}, &out)
	if out["expired"] != 1 || h.lastAudit().Action != "session.expired" || h.lastAudit().Details["timeout"] != "idle" {
		t.Errorf("expire: %v %+v", out, h.lastAudit())
	}
	// Logout is audited as such.
	h.ok(model.CmdCreateSession, sys, model.CreateSession{Session: model.Session{Hash: sha("n"), UserID: "bob", ExpiresAt: h.now.Add(time.Hour)}})
	h.ok(model.CmdDeleteSession, user("bob"), model.DeleteSession{Hash: sha("n"), Reason: "logout"})
	if e := h.lastAudit(); e.Action != "logout" || strings.Contains(e.Object, sha("n")) {
		t.Errorf("logout audit %+v", e)
	}
}

func TestTokens(t *testing.T) {
	h := newHarness(t)
	h.world()
	tok := model.APIToken{ID: "t1", UserID: "bob", Name: "ci", Hash: sha("t"), Scopes: []model.Action{model.ActWorkstationCreate}, ExpiresAt: t0.Add(time.Hour)}
	h.fail(model.CodeForbidden, model.CmdCreateAPIToken, user("cat"), model.CreateAPIToken{Token: tok})
	var got model.APIToken
	h.ok(model.CmdCreateAPIToken, user("bob"), model.CreateAPIToken{Token: tok}, &got)
	if got.Hash != "" {
		t.Error("token result carries its hash")
	}
	h.fail(model.CodeAlreadyExists, model.CmdCreateAPIToken, user("bob"), model.CreateAPIToken{Token: model.APIToken{ID: "t2", UserID: "bob", Name: "x", Hash: sha("t"), Scopes: []model.Action{"*"}}})
	viaToken := model.Actor{UserID: "bob", TokenID: "t1"}
	h.ok(model.CmdCreateWorkstation, viaToken, ws("w1", "p1", "a"))
	// A token cannot be used by another user, nor after expiry.
	h.fail(model.CodeUnauthenticated, model.CmdCreateWorkstation, model.Actor{UserID: "cat", TokenID: "t1"}, ws("w2", "p1", "b"))
	h.now = h.now.Add(2 * time.Hour)
	h.fail(model.CodeUnauthenticated, model.CmdCreateWorkstation, viaToken, ws("w2", "p1", "b"))
	h.ok(model.CmdDeleteAPIToken, user("root"), model.DeleteAPIToken{ID: "t1"})
}
