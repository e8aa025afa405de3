package fsm

import (
	"strconv"

	"github.com/sded/sded/cluster/model"
)

// Session objects name the user, never the token hash.
func sessionObj(s model.Session) model.Object {
	return model.Object{Kind: model.KindSession, ID: s.UserID, OwnerID: s.UserID}
}

func createSession(c *applyCtx) (any, error) {
	p, err := decodePayload[model.CreateSession](c.cmd)
	if err != nil {
		return nil, err
	}
	s := p.Session
	if err := c.can(model.ActSessionManage, sessionObj(s)); err != nil {
		return nil, err
	}
	u, err := c.tx.User(s.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, model.Errorf(model.CodeUnauthenticated, "account is disabled")
	}
	// Password guesses racing the lockout may pass the proposer's check; no
	// session (not even a pending one) is opened for a locked account.
	if u.Locked(c.cmd.Time) {
		return nil, model.Errorf(model.CodeForbidden, "too many failed logins: try again after %s", u.LockedUntil.Format("2006-01-02T15:04:05Z07:00"))
	}
	if _, err := c.tx.Session(s.Hash); exists(err, "session", "…") != nil {
		return nil, exists(err, "session", "…")
	}
	if !s.ExpiresAt.After(c.cmd.Time) {
		return nil, model.FieldError("expires_at", "is not in the future")
	}
	if p.ReplacesHash != "" {
		old, err := c.tx.Session(p.ReplacesHash)
		if err != nil {
			return nil, err
		}
		if old.UserID != s.UserID {
			return nil, model.Errorf(model.CodeForbidden, "replaced session belongs to someone else")
		}
		if err := c.tx.DeleteSession(p.ReplacesHash); err != nil {
			return nil, err
		}
	}
	s.CreatedAt, s.LastSeenAt = c.cmd.Time, c.cmd.Time
	if err := c.tx.PutSession(s); err != nil {
		return nil, err
	}
	c.audit(sessionObj(s), map[string]string{"mfa_pending": strconv.FormatBool(s.MFAPending), "expires_at": s.ExpiresAt.Format("2006-01-02T15:04:05Z")})
	return nil, nil
}

// touchSession is the one change not audited: it moves last-seen only, and
// the service proposes it at most once a minute per session.
func touchSession(c *applyCtx) (any, error) {
	p, err := decodePayload[model.TouchSession](c.cmd)
	if err != nil {
		return nil, err
	}
	s, err := c.tx.Session(p.Hash)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActSessionManage, sessionObj(s)); err != nil {
		return nil, err
	}
	if s.Expired(c.cmd.Time) {
		return nil, model.Errorf(model.CodeUnauthenticated, "session has expired")
	}
	if c.cmd.Time.After(s.LastSeenAt) {
		s.LastSeenAt = c.cmd.Time
	}
	return nil, c.tx.PutSession(s)
}

func deleteSession(c *applyCtx) (any, error) {
	p, err := decodePayload[model.DeleteSession](c.cmd)
	if err != nil {
		return nil, err
	}
	s, err := c.tx.Session(p.Hash)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActSessionEnd, sessionObj(s)); err != nil {
		return nil, err
	}
	if err := c.tx.DeleteSession(p.Hash); err != nil {
		return nil, err
	}
	action := "session.delete"
	switch p.Reason {
	case "logout":
		action = "logout"
	case "expired":
		action = "session.expired"
	}
	c.auditAs(action, model.OutcomeSuccess, sessionObj(s), map[string]string{"reason": p.Reason})
	return nil, nil
}

func expireSessions(c *applyCtx) (any, error) {
	if _, err := decodePayload[model.ExpireSessions](c.cmd); err != nil {
		return nil, err
	}
	if err := c.can(model.ActSessionManage, model.Object{Kind: model.KindSession}); err != nil {
		return nil, err
	}
	all, err := c.tx.Sessions()
	if err != nil {
		return nil, err
	}
	n := 0
	for _, s := range all {
		if !s.Expired(c.cmd.Time) {
			continue
		}
		if err := c.tx.DeleteSession(s.Hash); err != nil {
			return nil, err
		}
		reason := "idle"
		if !c.cmd.Time.Before(s.ExpiresAt) {
			reason = "absolute"
		}
		c.auditAs("session.expired", model.OutcomeSuccess, sessionObj(s), map[string]string{"timeout": reason})
		n++
	}
	return map[string]int{"expired": n}, nil
}

func tokenObj(t model.APIToken) model.Object {
	return model.Object{Kind: model.KindToken, ID: t.ID, OwnerID: t.UserID}
}

func createAPIToken(c *applyCtx) (any, error) {
	p, err := decodePayload[model.CreateAPIToken](c.cmd)
	if err != nil {
		return nil, err
	}
	t := p.Token
	if err := c.can(model.ActTokenManage, tokenObj(t)); err != nil {
		return nil, err
	}
	u, err := c.tx.User(t.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, conflict("user %s is disabled", u.Username)
	}
	if _, err := c.tx.APIToken(t.ID); exists(err, "token", t.ID) != nil {
		return nil, exists(err, "token", t.ID)
	}
	if !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(c.cmd.Time) {
		return nil, model.FieldError("expires_at", "is not in the future")
	}
	t.CreatedAt = c.cmd.Time
	if err := c.tx.PutAPIToken(t); err != nil {
		return nil, err
	}
	scopes := ""
	for i, s := range t.Scopes {
		if i > 0 {
			scopes += ","
		}
		scopes += string(s)
	}
	c.audit(tokenObj(t), map[string]string{"name": t.Name, "scopes": truncate(scopes, model.MaxDetailLen)})
	return t.Redacted(), nil
}

func deleteAPIToken(c *applyCtx) (any, error) {
	p, err := decodePayload[model.DeleteAPIToken](c.cmd)
	if err != nil {
		return nil, err
	}
	t, err := c.tx.APIToken(p.ID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActTokenManage, tokenObj(t)); err != nil {
		return nil, err
	}
	if err := c.tx.DeleteAPIToken(t.ID); err != nil {
		return nil, err
	}
	c.audit(tokenObj(t), nil)
	return nil, nil
}
