package cluster

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// This file shapes Service after the interface the ui package declares
// (ui.Service): the same names and signatures, with the shared structs in
// package model (model.AuditQuery, model.DesktopGrant), so that
// *cluster.Service satisfies ui.Service once ui aliases them.

// Login is the password step (VerifyPassword) returning the raw token of an
// MFA-pending session and the redacted user.
func (s *Service) Login(ctx context.Context, username, password, remote string) (string, model.User, error) {
	res, err := s.VerifyPassword(ctx, username, password, remote)
	return res.Token, res.User, err
}

// Authenticate returns the session and redacted user of a raw session token
// (LookupSession).
func (s *Service) Authenticate(ctx context.Context, token string) (model.Session, model.User, error) {
	info, err := s.LookupSession(ctx, token)
	return info.Session, info.User, err
}

// BeginTOTP starts the enrolment of an MFA-pending session's user and
// returns the secret (the manual key) and its otpauth:// URI.
func (s *Service) BeginTOTP(ctx context.Context, token string) (string, string, error) {
	e, err := s.BeginTOTPEnrolment(ctx, token)
	return e.Secret, e.URI, err
}

// ConfirmTOTP checks the first code of an enrolment, replaces the pending
// session by a full one and returns its raw token and the recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, token, code, remote string) (string, []string, error) {
	info, err := s.pending(ctx, token)
	if err != nil {
		return "", nil, err
	}
	if info.User.TOTPEnrolled {
		return "", nil, model.Errorf(model.CodeConflict, "two-factor authentication is already enrolled")
	}
	res, err := s.SecondFactor(ctx, token, code, remote)
	return res.Token, res.RecoveryCodes, err
}

// VerifyTOTP checks a TOTP code, or a recovery code (anything that is not
// six digits), for an enrolled user's pending session and returns the raw
// token of the full session that replaces it.
func (s *Service) VerifyTOTP(ctx context.Context, token, code, remote string) (string, error) {
	info, err := s.pending(ctx, token)
	if err != nil {
		return "", err
	}
	if !info.User.TOTPEnrolled {
		return "", model.Errorf(model.CodeConflict, "enrol two-factor authentication first")
	}
	code = strings.TrimSpace(code)
	var res LoginResult
	if len(code) == auth.TOTPDigits && strings.Trim(code, "0123456789") == "" {
		res, err = s.SecondFactor(ctx, token, code, remote)
	} else {
		res, err = s.LoginWithRecoveryCode(ctx, token, code, remote)
	}
	return res.Token, err
}

// AuthenticateAPIToken returns the token (redacted) and its redacted user
// for a raw bearer token.
func (s *Service) AuthenticateAPIToken(ctx context.Context, raw string) (model.APIToken, model.User, error) {
	a, err := s.LookupAPIToken(ctx, raw)
	if err != nil {
		return model.APIToken{}, model.User{}, err
	}
	t, err := s.st.APITokenByHash(auth.HashToken(raw))
	if err != nil {
		return model.APIToken{}, model.User{}, model.Errorf(model.CodeUnauthenticated, "invalid API token")
	}
	u, err := s.st.User(a.UserID)
	if err != nil {
		return model.APIToken{}, model.User{}, model.Errorf(model.CodeUnauthenticated, "invalid API token")
	}
	return t.Redacted(), u.Redacted(), nil
}

// ListAPITokens lists the actor's own tokens (redacted).
func (s *Service) ListAPITokens(ctx context.Context, actor model.Actor) ([]model.APIToken, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	if err := model.Can(p, model.ActTokenManage, model.Object{Kind: model.KindToken, OwnerID: actor.UserID}); err != nil {
		return nil, err
	}
	var out []model.APIToken
	err = s.st.View(func(tx *state.Tx) error {
		all, err := tx.APITokens()
		for _, t := range all {
			if t.UserID == actor.UserID {
				out = append(out, t.Redacted())
			}
		}
		return err
	})
	return out, err
}

// ListNodes returns the cluster members the state records (admin).
func (s *Service) ListNodes(ctx context.Context, actor model.Actor) ([]model.Node, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	if err := model.Can(p, model.ActNodeManage, model.Object{Kind: model.KindNode}); err != nil {
		return nil, err
	}
	return s.st.Nodes()
}

// AuditFilter is the audit query (an alias kept for existing callers).
type AuditFilter = model.AuditQuery

// ListAudit returns the newest events matching f, newest first (admin).
func (s *Service) ListAudit(ctx context.Context, actor model.Actor, f model.AuditQuery) ([]model.AuditEvent, error) {
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 0 || f.Limit > 10000 {
		return nil, model.FieldError("limit", "must be 1-10000")
	}
	if err := s.check(ctx, actor, model.ActAuditRead, model.Object{Kind: model.KindAudit}); err != nil {
		return nil, err
	}
	var out []model.AuditEvent
	err := s.st.View(func(tx *state.Tx) error {
		last, ok, err := tx.LastAudit()
		if err != nil || !ok {
			return err
		}
		const page = 512
		for end := last.Seq + 1; end > 1 && len(out) < f.Limit; {
			from := uint64(1)
			if end > page {
				from = end - page
			}
			evs, err := tx.AuditEvents(from, int(end-from))
			if err != nil {
				return err
			}
			for i := len(evs) - 1; i >= 0 && len(out) < f.Limit; i-- {
				if e := evs[i]; f.Matches(e) {
					out = append(out, e)
				}
			}
			if len(evs) > 0 && !f.Since.IsZero() && evs[0].Time.Before(f.Since) {
				break
			}
			end = from
		}
		return nil
	})
	return out, err
}

// BreakGlassSetting, set to "true" by an admin, lets admins open any
// desktop; every such opening is audited as break-glass.
const BreakGlassSetting = "desktop.break_glass"

// DesktopAccess is the desktop grant (an alias kept for existing callers).
type DesktopAccess = model.DesktopGrant

// OpenDesktop checks that actor may open a workstation's desktop (its
// researcher, the project's owners; an admin only with break-glass on),
// audits the opening (or the refusal) and returns what the proxy enforces.
func (s *Service) OpenDesktop(ctx context.Context, actor model.Actor, workstationID, remote string) (model.DesktopGrant, error) {
	if err := s.fresh(ctx); err != nil {
		return model.DesktopGrant{}, err
	}
	w, o, err := s.workstationObject(workstationID)
	if err != nil {
		return model.DesktopGrant{}, err
	}
	p, err := s.principal(actor)
	if err != nil {
		return model.DesktopGrant{}, err
	}
	g := model.DesktopGrant{WorkstationID: w.ID, ProjectID: w.ProjectID}
	if err := model.Can(p, model.ActWorkstationConnect, o); err != nil {
		bg, _ := s.st.GetSetting(BreakGlassSetting)
		if !p.Admin || p.Token || bg.Value != "true" || o.ProjectState == model.ProjectArchived {
			s.auditDenied(ctx, actor, model.ActWorkstationConnect, o, err)
			return model.DesktopGrant{}, err
		}
		g.BreakGlass = true
	}
	pr, err := s.st.Project(w.ProjectID)
	if err != nil {
		return model.DesktopGrant{}, err
	}
	g.AllowPaste = pr.Tier <= 1
	g.SessionID = newID()
	details := map[string]string{"remote": clipText(remote, 128), "break_glass": strconv.FormatBool(g.BreakGlass), "allow_paste": strconv.FormatBool(g.AllowPaste)}
	// One entry records the session on the workstation (its idle clock,
	// see Schedule) and audits desktop.open; the FSM re-checks the grant.
	act := model.DesktopActivity{WorkstationID: w.ID, SessionID: g.SessionID, Open: true, Node: s.cfg.NodeID, Details: details}
	if err := s.propose(ctx, model.CmdDesktopActivity, actor, act, nil); err != nil {
		return model.DesktopGrant{}, err // no audit record, no desktop
	}
	return g, nil
}

// CloseDesktop audits the end of a desktop session and takes it off the
// workstation's record (its idle clock starts). If the user may no longer
// act (disabled, removed meanwhile), the node closes it instead, so that a
// lost close never keeps a workstation awake.
func (s *Service) CloseDesktop(ctx context.Context, actor model.Actor, g model.DesktopGrant, d time.Duration, reason string) error {
	details := map[string]string{"duration": d.Round(time.Second).String(), "reason": clipText(reason, 256), "break_glass": strconv.FormatBool(g.BreakGlass)}
	if g.SessionID == "" {
		rec := model.RecordAudit{Action: "desktop.close", Object: "workstation/" + g.WorkstationID, ProjectID: g.ProjectID, Outcome: model.OutcomeSuccess, Details: details}
		return s.propose(ctx, model.CmdRecordAudit, actor, rec, nil)
	}
	act := model.DesktopActivity{WorkstationID: g.WorkstationID, SessionID: g.SessionID, Details: details}
	err := s.propose(ctx, model.CmdDesktopActivity, actor, act, nil)
	switch model.CodeOf(err) {
	case model.CodeForbidden, model.CodeUnauthenticated:
		act.Details["user_id"] = actor.UserID
		return s.propose(WithRequestID(ctx, ""), model.CmdDesktopActivity, s.system(), act, nil)
	case model.CodeNotFound: // the workstation is gone, and its sessions with it
		rec := model.RecordAudit{Action: "desktop.close", Object: "workstation/" + g.WorkstationID, ProjectID: g.ProjectID, Outcome: model.OutcomeSuccess, Details: details}
		return s.propose(WithRequestID(ctx, ""), model.CmdRecordAudit, actor, rec, nil)
	}
	return err
}
