package model

import "time"

// Session is a server-side login session. Only the SHA-256 of the bearer
// token is stored (Hash, hex); the raw token exists only in the cookie.
// A session with MFAPending proves the password only and may do nothing but
// complete the second factor.
type Session struct {
	Hash        string        `json:"hash"`
	UserID      string        `json:"user_id"`
	MFAPending  bool          `json:"mfa_pending,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	LastSeenAt  time.Time     `json:"last_seen_at"`
	IdleTimeout time.Duration `json:"idle_timeout"`
	ExpiresAt   time.Time     `json:"expires_at"` // absolute
	Remote      string        `json:"remote,omitempty"`
}

// Expired reports whether the session is past its idle or absolute timeout.
func (s Session) Expired(now time.Time) bool {
	return !now.Before(s.ExpiresAt) || (s.IdleTimeout > 0 && !now.Before(s.LastSeenAt.Add(s.IdleTimeout)))
}

// Validate checks the session's fields.
func (s Session) Validate() error {
	if !ValidSHA256(s.Hash) {
		return FieldError("hash", "must be a SHA-256 hex digest")
	}
	if err := checkID("user_id", s.UserID); err != nil {
		return err
	}
	if s.IdleTimeout < 0 || s.IdleTimeout > 30*24*time.Hour {
		return FieldError("idle_timeout", "is out of range")
	}
	if err := checkTime("expires_at", s.ExpiresAt, true); err != nil {
		return err
	}
	return checkText("remote", s.Remote, MaxNameLen, false, false)
}

// CreateSession stores a new session; ReplacesHash, if set, is deleted in the
// same transaction (a new session ID at each login step).
type CreateSession struct {
	Session      Session `json:"session"`
	ReplacesHash string  `json:"replaces_hash,omitempty"`
}

// Validate checks the session.
func (p CreateSession) Validate() error {
	if err := p.Session.Validate(); err != nil {
		return err
	}
	if p.ReplacesHash != "" && !ValidSHA256(p.ReplacesHash) {
		return FieldError("replaces_hash", "must be a SHA-256 hex digest")
	}
	return nil
}

// TouchSession moves a session's last-seen time to the command time.
type TouchSession struct {
	Hash string `json:"hash"`
}

// Validate checks the hash.
func (p TouchSession) Validate() error {
	if !ValidSHA256(p.Hash) {
		return FieldError("hash", "must be a SHA-256 hex digest")
	}
	return nil
}

// DeleteSession ends a session (logout).
type DeleteSession struct {
	Hash   string `json:"hash"`
	Reason string `json:"reason,omitempty"` // "logout", "expired", ...
}

// Validate checks the hash.
func (p DeleteSession) Validate() error {
	if !ValidSHA256(p.Hash) {
		return FieldError("hash", "must be a SHA-256 hex digest")
	}
	return checkText("reason", p.Reason, MaxNameLen, false, false)
}

// ExpireSessions deletes every session expired at the command time.
type ExpireSessions struct{}

// Validate accepts the empty payload.
func (ExpireSessions) Validate() error { return nil }

// APIToken is a scoped bearer token for automation; only its SHA-256 is kept.
// Scopes lists the actions it may perform ("*" for all the user's actions).
type APIToken struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Name      string    `json:"name"`
	Hash      string    `json:"hash"`
	Scopes    []Action  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitempty"`
}

// Redacted returns the token without its hash.
func (t APIToken) Redacted() APIToken { t.Hash = ""; return t }

// Validate checks the token.
func (t APIToken) Validate() error {
	if err := checkID("id", t.ID); err != nil {
		return err
	}
	if err := checkID("user_id", t.UserID); err != nil {
		return err
	}
	if err := checkName("name", t.Name); err != nil {
		return err
	}
	if !ValidSHA256(t.Hash) {
		return FieldError("hash", "must be a SHA-256 hex digest")
	}
	if len(t.Scopes) == 0 || len(t.Scopes) > 64 {
		return FieldError("scopes", "must list 1-64 actions")
	}
	for _, s := range t.Scopes {
		if s != ScopeAll && !s.Known() {
			return FieldError("scopes", "unknown action %q", s)
		}
	}
	return checkTime("expires_at", t.ExpiresAt, false)
}

// ScopeAll grants a token every action its user may perform.
const ScopeAll Action = "*"

// CreateAPIToken stores a token.
type CreateAPIToken struct {
	Token APIToken `json:"token"`
}

// Validate checks the token.
func (p CreateAPIToken) Validate() error { return p.Token.Validate() }

// DeleteAPIToken revokes a token.
type DeleteAPIToken struct {
	ID string `json:"id"`
}

// Validate checks the ID.
func (p DeleteAPIToken) Validate() error { return checkID("id", p.ID) }
