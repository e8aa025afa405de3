package cluster

import (
	"context"
	"errors"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/model"
)

func userObject(id string) model.Object {
	return model.Object{Kind: model.KindUser, ID: id, OwnerID: id}
}

// CreateUser adds a user with an initial password, hashed here (admin); the
// ID is stamped here and p's ID and PasswordHash are ignored. The user
// enrols TOTP at first login. On a cluster with no enabled admin, the system
// actor (a node: `sded user add` run as root) may create an admin.
func (s *Service) CreateUser(ctx context.Context, actor model.Actor, p model.CreateUser, password string) (model.User, error) {
	p.ID, p.PasswordHash = newID(), ""
	if err := p.Validate(); err != nil {
		return model.User{}, err
	}
	if err := auth.CheckPassword(password); err != nil {
		return model.User{}, model.FieldError("password", "%v", err)
	}
	if actor.IsSystem() && actor != s.system() {
		return model.User{}, model.Errorf(model.CodeUnauthenticated, "not this node's system actor")
	}
	if !actor.IsSystem() {
		if err := s.check(ctx, actor, model.ActUserCreate, model.Object{Kind: model.KindUser, ID: p.ID}); err != nil {
			return model.User{}, err
		}
	} else if err := s.fresh(ctx); err != nil {
		return model.User{}, err
	}
	if _, err := s.st.UserByUsername(p.Username); err == nil {
		return model.User{}, model.Errorf(model.CodeAlreadyExists, "username %q is taken", p.Username)
	}
	hash, err := auth.HashPassword(password, s.cfg.Argon2)
	if err != nil {
		return model.User{}, err
	}
	p.PasswordHash = hash
	var out model.User
	return out, s.propose(ctx, model.CmdCreateUser, actor, p, &out)
}

// UpdateUser changes a user's profile or admin flag, or resets their TOTP
// enrolment (admin).
func (s *Service) UpdateUser(ctx context.Context, actor model.Actor, p model.UpdateUser) (model.User, error) {
	if err := p.Validate(); err != nil {
		return model.User{}, err
	}
	if err := s.check(ctx, actor, model.ActUserUpdate, userObject(p.ID)); err != nil {
		return model.User{}, err
	}
	var out model.User
	return out, s.propose(ctx, model.CmdUpdateUser, actor, p, &out)
}

// SetUserDisabled disables a user, ending their sessions and tokens at once,
// or enables them again (admin).
func (s *Service) SetUserDisabled(ctx context.Context, actor model.Actor, id string, disabled bool) error {
	p := model.SetUserDisabled{ID: id, Disabled: disabled}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.check(ctx, actor, model.ActUserDisable, userObject(id)); err != nil {
		return err
	}
	return s.propose(ctx, model.CmdSetUserDisabled, actor, p, nil)
}

// SetPassword sets a user's password. Users changing their own must give
// the current one; an admin resetting someone else's ends that user's
// sessions.
func (s *Service) SetPassword(ctx context.Context, actor model.Actor, id, current, next string) error {
	if err := auth.CheckPassword(next); err != nil {
		return model.FieldError("password", "%v", err)
	}
	if err := s.check(ctx, actor, model.ActUserSetPassword, userObject(id)); err != nil {
		return err
	}
	if actor.UserID == id {
		u, err := s.st.User(id)
		if err != nil {
			return err
		}
		if _, err := auth.VerifyPassword(current, u.PasswordHash, s.cfg.Argon2); err != nil {
			s.loginFailed(ctx, id, "", "bad current password on change", "")
			if errors.Is(err, auth.ErrMismatch) {
				return model.Errorf(model.CodeUnauthenticated, "the current password is wrong")
			}
			return err
		}
	}
	hash, err := auth.HashPassword(next, s.cfg.Argon2)
	if err != nil {
		return err
	}
	return s.propose(ctx, model.CmdSetPassword, actor, model.SetPassword{ID: id, PasswordHash: hash}, nil)
}

// GetUser returns a user (redacted): admins see anyone, users themselves.
func (s *Service) GetUser(ctx context.Context, actor model.Actor, id string) (model.User, error) {
	p, err := s.principal(actor)
	if err != nil {
		return model.User{}, err
	}
	if err := model.Can(p, model.ActUserRead, userObject(id)); err != nil {
		return model.User{}, err
	}
	u, err := s.st.User(id)
	return u.Redacted(), err
}

// ListUsers lists every user, redacted (admin).
func (s *Service) ListUsers(ctx context.Context, actor model.Actor) ([]model.User, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	if err := model.Can(p, model.ActUserList, model.Object{Kind: model.KindUser}); err != nil {
		return nil, err
	}
	us, err := s.st.Users()
	for i := range us {
		us[i] = us[i].Redacted()
	}
	return us, err
}
