package state

import (
	"bytes"
	"time"

	"github.com/sded/sded/cluster/model"
)

// User returns a user.
func (t *Tx) User(id string) (model.User, error) {
	return get[model.User](t, bUsers, []byte(id), "user", id)
}

// UserByUsername returns the user with a username.
func (t *Tx) UserByUsername(name string) (model.User, error) {
	id := t.bucket(bUsersByName).Get([]byte(name))
	if id == nil {
		return model.User{}, model.Errorf(model.CodeNotFound, "user %q not found", name)
	}
	return t.User(string(id))
}

// Users returns every user.
func (t *Tx) Users() ([]model.User, error) { return list[model.User](t, bUsers) }

// PutUser stores a user, keeping the username index; a username held by
// another user is already_exists. Usernames never change.
func (t *Tx) PutUser(u model.User) error {
	idx := t.bucket(bUsersByName)
	if id := idx.Get([]byte(u.Username)); id != nil && string(id) != u.ID {
		return model.Errorf(model.CodeAlreadyExists, "username %q is taken", u.Username)
	}
	if err := idx.Put([]byte(u.Username), []byte(u.ID)); err != nil {
		return err
	}
	return put(t, bUsers, []byte(u.ID), u)
}

// Session returns a session by the hex SHA-256 of its token.
func (t *Tx) Session(hash string) (model.Session, error) {
	return get[model.Session](t, bSessions, []byte(hash), "session", "…")
}

// Sessions returns every session.
func (t *Tx) Sessions() ([]model.Session, error) { return list[model.Session](t, bSessions) }

// SessionsOfUser returns a user's sessions.
func (t *Tx) SessionsOfUser(userID string) ([]model.Session, error) {
	return indexed[model.Session](t, bSessionsByUser, bSessions, userID, "session")
}

// PutSession stores a session.
func (t *Tx) PutSession(s model.Session) error {
	if err := t.bucket(bSessionsByUser).Put(key(s.UserID, s.Hash), nil); err != nil {
		return err
	}
	return put(t, bSessions, []byte(s.Hash), s)
}

// DeleteSession removes a session; a missing one is not an error.
func (t *Tx) DeleteSession(hash string) error {
	s, err := t.Session(hash)
	if err != nil {
		if model.CodeOf(err) == model.CodeNotFound {
			return nil
		}
		return err
	}
	if err := t.bucket(bSessionsByUser).Delete(key(s.UserID, s.Hash)); err != nil {
		return err
	}
	return t.bucket(bSessions).Delete([]byte(hash))
}

// DeleteUserSessions removes every session of a user and returns how many.
func (t *Tx) DeleteUserSessions(userID string) (int, error) {
	ss, err := t.SessionsOfUser(userID)
	if err != nil {
		return 0, err
	}
	for _, s := range ss {
		if err := t.DeleteSession(s.Hash); err != nil {
			return 0, err
		}
	}
	return len(ss), nil
}

// APIToken returns a token by ID.
func (t *Tx) APIToken(id string) (model.APIToken, error) {
	return get[model.APIToken](t, bTokens, []byte(id), "token", id)
}

// APITokenByHash returns the token whose secret hashes to hash.
func (t *Tx) APITokenByHash(hash string) (model.APIToken, error) {
	id := t.bucket(bTokensByHash).Get([]byte(hash))
	if id == nil {
		return model.APIToken{}, model.Errorf(model.CodeNotFound, "token not found")
	}
	return t.APIToken(string(id))
}

// APITokens returns every token.
func (t *Tx) APITokens() ([]model.APIToken, error) { return list[model.APIToken](t, bTokens) }

// PutAPIToken stores a token; a duplicate hash is already_exists.
func (t *Tx) PutAPIToken(tok model.APIToken) error {
	idx := t.bucket(bTokensByHash)
	if id := idx.Get([]byte(tok.Hash)); id != nil && string(id) != tok.ID {
		return model.Errorf(model.CodeAlreadyExists, "token already exists")
	}
	if err := idx.Put([]byte(tok.Hash), []byte(tok.ID)); err != nil {
		return err
	}
	return put(t, bTokens, []byte(tok.ID), tok)
}

// DeleteAPIToken removes a token.
func (t *Tx) DeleteAPIToken(id string) error {
	tok, err := t.APIToken(id)
	if err != nil {
		return err
	}
	if err := t.bucket(bTokensByHash).Delete([]byte(tok.Hash)); err != nil {
		return err
	}
	return t.bucket(bTokens).Delete([]byte(id))
}

// DeleteUserTokens removes every token of a user and returns how many.
func (t *Tx) DeleteUserTokens(userID string) (int, error) {
	toks, err := t.APITokens()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tok := range toks {
		if tok.UserID == userID {
			if err := t.DeleteAPIToken(tok.ID); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Memberships returns a user's role in each project.
func (t *Tx) Memberships(userID string) (map[string]model.MemberRole, error) {
	out := map[string]model.MemberRole{}
	p := key(userID, "")
	c := t.bucket(bMembersByUser).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		out[string(k[len(p):])] = model.MemberRole(v)
	}
	return out, nil
}

// Principal resolves an actor against the state at now: a node is a system
// principal; a user must exist and be enabled; a token must exist, belong to
// the user and not have expired. Anything else is unauthenticated.
func (t *Tx) Principal(a model.Actor, now time.Time) (model.Principal, error) {
	if a.IsSystem() {
		return model.Principal{NodeID: a.NodeID}, nil
	}
	if a.UserID == "" {
		return model.Principal{}, model.Errorf(model.CodeUnauthenticated, "no actor")
	}
	u, err := t.User(a.UserID)
	if err != nil {
		if model.CodeOf(err) == model.CodeNotFound {
			return model.Principal{}, model.Errorf(model.CodeUnauthenticated, "unknown user")
		}
		return model.Principal{}, err
	}
	if u.Disabled {
		return model.Principal{}, model.Errorf(model.CodeUnauthenticated, "account is disabled")
	}
	roles, err := t.Memberships(u.ID)
	if err != nil {
		return model.Principal{}, err
	}
	p := model.Principal{UserID: u.ID, NodeID: a.NodeID, Admin: u.Admin, Roles: roles}
	if a.TokenID != "" {
		tok, err := t.APIToken(a.TokenID)
		if err != nil || tok.UserID != u.ID {
			return model.Principal{}, model.Errorf(model.CodeUnauthenticated, "unknown API token")
		}
		if !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt) {
			return model.Principal{}, model.Errorf(model.CodeUnauthenticated, "API token has expired")
		}
		p.Token, p.Scopes = true, tok.Scopes
	}
	return p, nil
}
