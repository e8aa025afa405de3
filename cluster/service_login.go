package cluster

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/model"
)

// errBadLogin is the one answer for every failed first step, so the reply
// does not tell which of username and password was wrong.
var errBadLogin = model.Errorf(model.CodeUnauthenticated, "invalid username or password")

// LoginResult is what a login step returns. Token is the raw session token
// to set as the cookie: it is returned once and only its SHA-256 is stored.
type LoginResult struct {
	Token         string     `json:"-"`
	User          model.User `json:"user"` // redacted
	MFAPending    bool       `json:"mfa_pending"`
	NeedsEnrol    bool       `json:"needs_enrol"`              // no TOTP yet: enrol before anything else
	RecoveryCodes []string   `json:"recovery_codes,omitempty"` // shown once, after enrolment
	ExpiresAt     time.Time  `json:"expires_at"`
}

// dummyVerify makes a login for an unknown user cost as much as a real one.
func (s *Service) dummyVerify(pw string) {
	s.dummyOnce.Do(func() { s.dummyHash, _ = auth.HashPassword("dummy password for timing", s.cfg.Argon2) })
	_, _ = auth.VerifyPassword(pw, s.dummyHash, s.cfg.Argon2)
}

// loginFailed counts a failure (locking the account per model.LockoutFor).
func (s *Service) loginFailed(ctx context.Context, userID, username, reason, remote string) {
	p := model.LoginFailed{UserID: userID, Reason: reason, Remote: remote}
	if userID == "" {
		p.Username = clipText(username, 64)
	}
	if err := s.propose(context.WithoutCancel(ctx), model.CmdLoginFailed, s.system(), p, nil); err != nil {
		s.log.Error("recording a failed login", "user_id", userID, "err", err)
	}
}

func clipText(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	return s
}

// VerifyPassword is the first login step: it checks the password (argon2id,
// outside the FSM) against the latest state and, if it matches, opens a
// short session that may do nothing but complete the second factor.
// Unknown users, wrong passwords, disabled and locked accounts all count as
// failures and are audited.
func (s *Service) VerifyPassword(ctx context.Context, username, password, remote string) (LoginResult, error) {
	if len(username) > 64 || len(password) > auth.MaxPasswordLen {
		return LoginResult{}, errBadLogin
	}
	if err := s.fresh(ctx); err != nil {
		return LoginResult{}, err
	}
	now := s.now()
	u, err := s.st.UserByUsername(username)
	if err != nil {
		if model.CodeOf(err) != model.CodeNotFound {
			return LoginResult{}, err
		}
		s.dummyVerify(password)
		s.loginFailed(ctx, "", username, "unknown user", remote)
		return LoginResult{}, errBadLogin
	}
	if u.Locked(now) {
		s.dummyVerify(password)
		rec := model.RecordAudit{Action: "login.failure", Object: "user/" + u.ID, Outcome: model.OutcomeDenied,
			Details: map[string]string{"reason": "account locked", "remote": clipText(remote, 128)}}
		_ = s.propose(context.WithoutCancel(ctx), model.CmdRecordAudit, s.system(), rec, nil)
		return LoginResult{}, model.Errorf(model.CodeForbidden, "too many failed logins: try again after %s", u.LockedUntil.Format(time.RFC3339))
	}
	if u.PasswordHash == "" {
		s.dummyVerify(password)
		s.loginFailed(ctx, u.ID, "", "no password set", remote)
		return LoginResult{}, errBadLogin
	}
	rehash, err := auth.VerifyPassword(password, u.PasswordHash, s.cfg.Argon2)
	if err != nil {
		reason := "bad password"
		if !errors.Is(err, auth.ErrMismatch) {
			reason = "stored hash unusable"
			s.log.Error("stored password hash is unusable", "user_id", u.ID, "err", err)
		}
		s.loginFailed(ctx, u.ID, "", reason, remote)
		return LoginResult{}, errBadLogin
	}
	if u.Disabled {
		s.loginFailed(ctx, u.ID, "", "account disabled", remote)
		return LoginResult{}, errBadLogin
	}
	if rehash {
		// The hash predates the current parameters: upgrade it while the
		// password is at hand. A failure here does not fail the login.
		if h, err := auth.HashPassword(password, s.cfg.Argon2); err == nil {
			if err := s.propose(ctx, model.CmdSetPassword, model.Actor{UserID: u.ID}, model.SetPassword{ID: u.ID, PasswordHash: h}, nil); err != nil {
				s.log.Warn("upgrading a password hash", "user_id", u.ID, "err", err)
			}
		}
	}
	raw, hash, err := auth.NewToken(auth.SessionPrefix)
	if err != nil {
		return LoginResult{}, err
	}
	sess := model.Session{Hash: hash, UserID: u.ID, MFAPending: true, IdleTimeout: s.cfg.MFAPendingTTL, ExpiresAt: now.Add(s.cfg.MFAPendingTTL), Remote: clipText(remote, 128)}
	if err := s.propose(ctx, model.CmdCreateSession, s.system(), model.CreateSession{Session: sess}, nil); err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: raw, User: u.Redacted(), MFAPending: true, NeedsEnrol: !u.TOTPEnrolled, ExpiresAt: sess.ExpiresAt}, nil
}

// Enrolment is what a user needs to add sded to an authenticator app.
type Enrolment struct {
	Secret string `json:"secret"` // the manual key
	URI    string `json:"uri"`    // otpauth://
	QRPNG  []byte `json:"qr_png"`
}

// BeginTOTPEnrolment generates and stores a new TOTP secret for the user of
// a pending (password-only) session who has none confirmed yet.
func (s *Service) BeginTOTPEnrolment(ctx context.Context, token string) (Enrolment, error) {
	info, err := s.LookupSession(ctx, token)
	if err != nil {
		return Enrolment{}, err
	}
	if info.User.TOTPEnrolled {
		return Enrolment{}, model.Errorf(model.CodeConflict, "two-factor authentication is already enrolled")
	}
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.propose(ctx, model.CmdEnrolTOTP, model.Actor{UserID: info.User.ID}, model.EnrolTOTP{ID: info.User.ID, Secret: secret}, nil); err != nil {
		return Enrolment{}, err
	}
	uri := auth.TOTPURI(s.cfg.Issuer, info.User.Username, secret)
	png, err := auth.QRPNG(uri)
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: secret, URI: uri, QRPNG: png}, nil
}

// SecondFactor is the second login step. It checks the code of a pending
// session (confirming the enrolment if there is none yet), records the
// code's step through raft so it cannot be used again on any node, and
// replaces the pending session by a full one with a new token.
func (s *Service) SecondFactor(ctx context.Context, token, code, remote string) (LoginResult, error) {
	info, err := s.pending(ctx, token)
	if err != nil {
		return LoginResult{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return LoginResult{}, err
	}
	u, err := s.st.User(info.User.ID)
	if err != nil {
		return LoginResult{}, err
	}
	now := s.now()
	if u.Locked(now) {
		return LoginResult{}, model.Errorf(model.CodeForbidden, "too many failed attempts: try again after %s", u.LockedUntil.Format(time.RFC3339))
	}
	if u.TOTPSecret == "" {
		return LoginResult{}, model.Errorf(model.CodeConflict, "enrol two-factor authentication first")
	}
	step, ok := auth.VerifyTOTP(u.TOTPSecret, code, now, u.TOTPLastStep)
	if !ok {
		s.loginFailed(ctx, u.ID, "", "bad two-factor code", remote)
		return LoginResult{}, model.Errorf(model.CodeUnauthenticated, "invalid or already used code")
	}
	var codes []string
	if !u.TOTPEnrolled {
		var hashes []string
		if codes, hashes, err = auth.NewRecoveryCodes(auth.RecoveryCodeCount); err != nil {
			return LoginResult{}, err
		}
		err = s.propose(ctx, model.CmdConfirmTOTP, model.Actor{UserID: u.ID}, model.ConfirmTOTP{ID: u.ID, Step: step, RecoveryCodeHashes: hashes}, nil)
	} else {
		err = s.propose(ctx, model.CmdUseTOTPStep, s.system(), model.UseTOTPStep{ID: u.ID, Step: step}, nil)
	}
	if err != nil {
		if model.CodeOf(err) == model.CodeUnauthenticated {
			s.loginFailed(ctx, u.ID, "", "two-factor code replayed", remote)
		}
		return LoginResult{}, err
	}
	res, err := s.completeLogin(ctx, u, info.Session.Hash, remote)
	res.RecoveryCodes = codes
	return res, err
}

// LoginWithRecoveryCode completes the second step with a single-use
// recovery code instead of a TOTP code.
func (s *Service) LoginWithRecoveryCode(ctx context.Context, token, code, remote string) (LoginResult, error) {
	info, err := s.pending(ctx, token)
	if err != nil {
		return LoginResult{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return LoginResult{}, err
	}
	if u, err := s.st.User(info.User.ID); err != nil || u.Locked(s.now()) {
		return LoginResult{}, model.Errorf(model.CodeForbidden, "too many failed attempts: try again later")
	}
	if err := s.propose(ctx, model.CmdUseRecoveryCode, s.system(), model.UseRecoveryCode{ID: info.User.ID, Hash: auth.HashRecoveryCode(code)}, nil); err != nil {
		if model.CodeOf(err) == model.CodeUnauthenticated {
			s.loginFailed(ctx, info.User.ID, "", "bad recovery code", remote)
		}
		return LoginResult{}, err
	}
	u, err := s.st.User(info.User.ID)
	if err != nil {
		return LoginResult{}, err
	}
	return s.completeLogin(ctx, u, info.Session.Hash, remote)
}

func (s *Service) pending(ctx context.Context, token string) (SessionInfo, error) {
	info, err := s.LookupSession(ctx, token)
	if err != nil {
		return info, err
	}
	if !info.Session.MFAPending {
		return info, model.Errorf(model.CodeConflict, "this session is already logged in")
	}
	return info, nil
}

func (s *Service) completeLogin(ctx context.Context, u model.User, pendingHash, remote string) (LoginResult, error) {
	if err := s.propose(ctx, model.CmdLoginSucceeded, s.system(), model.LoginSucceeded{UserID: u.ID, Remote: clipText(remote, 128)}, nil); err != nil {
		return LoginResult{}, err
	}
	raw, hash, err := auth.NewToken(auth.SessionPrefix)
	if err != nil {
		return LoginResult{}, err
	}
	now := s.now()
	sess := model.Session{Hash: hash, UserID: u.ID, IdleTimeout: s.cfg.SessionIdle, ExpiresAt: now.Add(s.cfg.SessionAbsolute), Remote: clipText(remote, 128)}
	if err := s.propose(ctx, model.CmdCreateSession, s.system(), model.CreateSession{Session: sess, ReplacesHash: pendingHash}, nil); err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: raw, User: u.Redacted(), ExpiresAt: sess.ExpiresAt}, nil
}

// SessionInfo is a valid session and its user (redacted). A session with
// MFAPending proves only the password: callers must treat it as logged out
// for everything but the second factor.
type SessionInfo struct {
	Session model.Session
	User    model.User
	Actor   model.Actor
}

// LookupSession finds the session of a raw token on the local replica and
// checks its idle and absolute timeouts and its user. An expired session is
// deleted (audited as session.expired); a stale last-seen is touched.
func (s *Service) LookupSession(ctx context.Context, token string) (SessionInfo, error) {
	if token == "" || len(token) > 256 {
		return SessionInfo{}, model.Errorf(model.CodeUnauthenticated, "not logged in")
	}
	hash := auth.HashToken(token)
	sess, err := s.st.Session(hash)
	if model.CodeOf(err) == model.CodeNotFound && strings.HasPrefix(token, auth.SessionPrefix) && len(token) == len(auth.SessionPrefix)+43 {
		// Perhaps created through another node a moment ago.
		if err := s.fresh(ctx); err != nil {
			return SessionInfo{}, err
		}
		sess, err = s.st.Session(hash)
	}
	if err != nil {
		if model.CodeOf(err) == model.CodeNotFound {
			return SessionInfo{}, model.Errorf(model.CodeUnauthenticated, "not logged in")
		}
		return SessionInfo{}, err
	}
	now := s.now()
	if sess.Expired(now) {
		if err := s.propose(context.WithoutCancel(ctx), model.CmdDeleteSession, s.system(), model.DeleteSession{Hash: hash, Reason: "expired"}, nil); err != nil && model.CodeOf(err) != model.CodeNotFound {
			s.log.Warn("deleting an expired session", "user_id", sess.UserID, "err", err)
		}
		return SessionInfo{}, model.Errorf(model.CodeUnauthenticated, "session has expired: log in again")
	}
	u, err := s.st.User(sess.UserID)
	if err != nil || u.Disabled {
		return SessionInfo{}, model.Errorf(model.CodeUnauthenticated, "not logged in")
	}
	if now.Sub(sess.LastSeenAt) >= s.cfg.TouchInterval {
		if err := s.propose(ctx, model.CmdTouchSession, s.system(), model.TouchSession{Hash: hash}, nil); err != nil {
			if model.CodeOf(err) == model.CodeUnauthenticated || model.CodeOf(err) == model.CodeNotFound {
				return SessionInfo{}, model.Errorf(model.CodeUnauthenticated, "not logged in")
			}
			s.log.Warn("touching a session", "user_id", sess.UserID, "err", err)
		}
		sess.LastSeenAt = now
	}
	return SessionInfo{Session: sess, User: u.Redacted(), Actor: model.Actor{UserID: u.ID}}, nil
}

// Logout ends the session of a raw token.
func (s *Service) Logout(ctx context.Context, token string) error {
	sess, err := s.st.Session(auth.HashToken(token))
	if err != nil {
		return model.Errorf(model.CodeUnauthenticated, "not logged in")
	}
	return s.propose(ctx, model.CmdDeleteSession, model.Actor{UserID: sess.UserID}, model.DeleteSession{Hash: sess.Hash, Reason: "logout"}, nil)
}

// ExpireSessions deletes every expired session (run periodically).
func (s *Service) ExpireSessions(ctx context.Context) (int, error) {
	var out map[string]int
	err := s.propose(ctx, model.CmdExpireSessions, s.system(), model.ExpireSessions{}, &out)
	return out["expired"], err
}

// CreateAPIToken issues a scoped token for actor's own automation. The raw
// token is returned once; only its SHA-256 is stored.
func (s *Service) CreateAPIToken(ctx context.Context, actor model.Actor, name string, scopes []model.Action, expires time.Time) (string, model.APIToken, error) {
	raw, hash, err := auth.NewToken(auth.APITokenPrefix)
	if err != nil {
		return "", model.APIToken{}, err
	}
	t := model.APIToken{ID: newID(), UserID: actor.UserID, Name: name, Hash: hash, Scopes: scopes, ExpiresAt: expires.UTC()}
	p := model.CreateAPIToken{Token: t}
	if err := p.Validate(); err != nil {
		return "", model.APIToken{}, err
	}
	if err := s.check(ctx, actor, model.ActTokenManage, model.Object{Kind: model.KindToken, ID: t.ID, OwnerID: t.UserID}); err != nil {
		return "", model.APIToken{}, err
	}
	var out model.APIToken
	if err := s.propose(ctx, model.CmdCreateAPIToken, actor, p, &out); err != nil {
		return "", model.APIToken{}, err
	}
	return raw, out, nil
}

// DeleteAPIToken revokes a token (its owner or an admin).
func (s *Service) DeleteAPIToken(ctx context.Context, actor model.Actor, id string) error {
	if err := userOnly(actor); err != nil {
		return err
	}
	return s.propose(ctx, model.CmdDeleteAPIToken, actor, model.DeleteAPIToken{ID: id}, nil)
}

// LookupAPIToken returns the actor a raw API token acts as.
func (s *Service) LookupAPIToken(ctx context.Context, raw string) (model.Actor, error) {
	if raw == "" || len(raw) > 256 {
		return model.Actor{}, model.Errorf(model.CodeUnauthenticated, "invalid API token")
	}
	t, err := s.st.APITokenByHash(auth.HashToken(raw))
	if err != nil {
		return model.Actor{}, model.Errorf(model.CodeUnauthenticated, "invalid API token")
	}
	a := model.Actor{UserID: t.UserID, TokenID: t.ID}
	if _, err := s.principal(a); err != nil {
		return model.Actor{}, err
	}
	return a, nil
}
