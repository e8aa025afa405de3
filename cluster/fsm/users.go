package fsm

import (
	"strconv"

	"github.com/sded/sded/cluster/model"
)

func putSetting(c *applyCtx) (any, error) {
	p, err := decodePayload[model.PutSetting](c.cmd)
	if err != nil {
		return nil, err
	}
	o := model.Object{Kind: model.KindSetting, ID: p.Key}
	if err := c.can(model.ActSettingWrite, o); err != nil {
		return nil, err
	}
	s := model.Setting{Key: p.Key, Value: p.Value, UpdatedAt: c.cmd.Time, UpdatedBy: c.userID()}
	if err := c.tx.PutSetting(s); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"length": strconv.Itoa(len(p.Value))})
	return s, nil
}

func userObj(u model.User) model.Object {
	return model.Object{Kind: model.KindUser, ID: u.ID, OwnerID: u.ID}
}

func createUser(c *applyCtx) (any, error) {
	p, err := decodePayload[model.CreateUser](c.cmd)
	if err != nil {
		return nil, err
	}
	o := model.Object{Kind: model.KindUser, ID: p.ID}
	if err := c.can(model.ActUserCreate, o); err != nil {
		// Bootstrap and recovery: a node (root on a cluster member, through
		// `sded user add`) may create an admin while no enabled admin exists.
		if !c.who.IsSystem() || !p.Admin {
			return nil, err
		}
		if err := c.lastAdmin(model.User{ID: p.ID, Admin: true}); err == nil {
			return nil, model.Errorf(model.CodeForbidden, "an admin exists: ask them to create the user")
		}
	}
	if _, err := c.tx.User(p.ID); exists(err, "user", p.ID) != nil {
		return nil, exists(err, "user", p.ID)
	}
	u := model.User{ID: p.ID, Username: p.Username, DisplayName: p.DisplayName, Email: p.Email, Admin: p.Admin,
		PasswordHash: p.PasswordHash, CreatedAt: c.cmd.Time, UpdatedAt: c.cmd.Time}
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"username": u.Username, "admin": strconv.FormatBool(u.Admin)})
	return u.Redacted(), nil
}

// loadUser loads a user for an action on them.
func (c *applyCtx) loadUser(id string, a model.Action) (model.User, error) {
	u, err := c.tx.User(id)
	if err != nil {
		return u, err
	}
	return u, c.can(a, userObj(u))
}

// lastAdmin refuses a change that would leave no enabled admin.
func (c *applyCtx) lastAdmin(u model.User) error {
	if !u.Admin || u.Disabled {
		return nil
	}
	users, err := c.tx.Users()
	if err != nil {
		return err
	}
	for _, x := range users {
		if x.ID != u.ID && x.Admin && !x.Disabled {
			return nil
		}
	}
	return conflict("%s is the last enabled admin", u.Username)
}

func updateUser(c *applyCtx) (any, error) {
	p, err := decodePayload[model.UpdateUser](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActUserUpdate)
	if err != nil {
		return nil, err
	}
	details := map[string]string{}
	if p.DisplayName != nil {
		u.DisplayName, details["display_name"] = *p.DisplayName, "changed"
	}
	if p.Email != nil {
		u.Email, details["email"] = *p.Email, "changed"
	}
	if p.Admin != nil && *p.Admin != u.Admin {
		if !*p.Admin {
			if err := c.lastAdmin(u); err != nil {
				return nil, err
			}
		}
		u.Admin, details["admin"] = *p.Admin, strconv.FormatBool(*p.Admin)
	}
	if p.ResetTOTP {
		u.TOTPSecret, u.TOTPEnrolled, u.TOTPLastStep, u.RecoveryCodeHashes = "", false, 0, nil
		details["two_factor"] = "reset"
	}
	u.UpdatedAt = c.cmd.Time
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), details)
	return u.Redacted(), nil
}

func setUserDisabled(c *applyCtx) (any, error) {
	p, err := decodePayload[model.SetUserDisabled](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActUserDisable)
	if err != nil {
		return nil, err
	}
	details := map[string]string{"disabled": strconv.FormatBool(p.Disabled)}
	if p.Disabled {
		if err := c.lastAdmin(u); err != nil {
			return nil, err
		}
		n, err := c.tx.DeleteUserSessions(u.ID)
		if err != nil {
			return nil, err
		}
		m, err := c.tx.DeleteUserTokens(u.ID)
		if err != nil {
			return nil, err
		}
		details["sessions_ended"], details["tokens_revoked"] = strconv.Itoa(n), strconv.Itoa(m)
	} else {
		u.FailedLogins, u.LockedUntil = 0, model.User{}.LockedUntil
	}
	u.Disabled, u.UpdatedAt = p.Disabled, c.cmd.Time
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), details)
	return u.Redacted(), nil
}

func setPassword(c *applyCtx) (any, error) {
	p, err := decodePayload[model.SetPassword](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActUserSetPassword)
	if err != nil {
		return nil, err
	}
	u.PasswordHash, u.FailedLogins, u.LockedUntil, u.UpdatedAt = p.PasswordHash, 0, model.User{}.LockedUntil, c.cmd.Time
	details := map[string]string{}
	if c.userID() != u.ID {
		// Someone else reset it: every session of the user ends.
		n, err := c.tx.DeleteUserSessions(u.ID)
		if err != nil {
			return nil, err
		}
		details["sessions_ended"] = strconv.Itoa(n)
	}
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), details)
	return u.Redacted(), nil
}

func enrolTOTP(c *applyCtx) (any, error) {
	p, err := decodePayload[model.EnrolTOTP](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActUserEnrolTOTP)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnrolled {
		return nil, conflict("two-factor authentication is already enrolled; an admin must reset it first")
	}
	u.TOTPSecret, u.UpdatedAt = p.Secret, c.cmd.Time
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), nil)
	return nil, nil
}

func confirmTOTP(c *applyCtx) (any, error) {
	p, err := decodePayload[model.ConfirmTOTP](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActUserEnrolTOTP)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnrolled || u.TOTPSecret == "" {
		return nil, conflict("no two-factor enrolment is pending")
	}
	if p.Step <= u.TOTPLastStep {
		return nil, model.Errorf(model.CodeUnauthenticated, "code already used")
	}
	u.TOTPEnrolled, u.TOTPLastStep, u.RecoveryCodeHashes, u.UpdatedAt = true, p.Step, p.RecoveryCodeHashes, c.cmd.Time
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), map[string]string{"recovery_codes": strconv.Itoa(len(p.RecoveryCodeHashes))})
	return nil, nil
}

func setRecoveryCodes(c *applyCtx) (any, error) {
	p, err := decodePayload[model.SetRecoveryCodes](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActUserEnrolTOTP)
	if err != nil {
		return nil, err
	}
	if !u.TOTPEnrolled {
		return nil, conflict("two-factor authentication is not enrolled")
	}
	u.RecoveryCodeHashes, u.UpdatedAt = p.RecoveryCodeHashes, c.cmd.Time
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), map[string]string{"recovery_codes": strconv.Itoa(len(p.RecoveryCodeHashes))})
	return nil, nil
}

// useTOTPStep is the replay guard: a step at or below the last one used is
// refused on every replica, so a code works once cluster-wide.
func useTOTPStep(c *applyCtx) (any, error) {
	p, err := decodePayload[model.UseTOTPStep](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActLoginRecord)
	if err != nil {
		return nil, err
	}
	if !u.TOTPEnrolled {
		return nil, conflict("two-factor authentication is not enrolled")
	}
	if p.Step <= u.TOTPLastStep {
		return nil, model.Errorf(model.CodeUnauthenticated, "code already used")
	}
	u.TOTPLastStep = p.Step
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), nil)
	return nil, nil
}

func useRecoveryCode(c *applyCtx) (any, error) {
	p, err := decodePayload[model.UseRecoveryCode](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.ID, model.ActLoginRecord)
	if err != nil {
		return nil, err
	}
	kept := u.RecoveryCodeHashes[:0:0]
	for _, h := range u.RecoveryCodeHashes {
		if h != p.Hash {
			kept = append(kept, h)
		}
	}
	if len(kept) == len(u.RecoveryCodeHashes) {
		return nil, model.Errorf(model.CodeUnauthenticated, "recovery code is not valid or was used")
	}
	u.RecoveryCodeHashes = kept
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	c.audit(userObj(u), map[string]string{"remaining": strconv.Itoa(len(kept))})
	return nil, nil
}

// LoginState is the result of the login bookkeeping commands.
type LoginState struct {
	FailedLogins int    `json:"failed_logins"`
	LockedUntil  string `json:"locked_until,omitempty"`
}

func loginFailed(c *applyCtx) (any, error) {
	p, err := decodePayload[model.LoginFailed](c.cmd)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActLoginRecord, model.Object{Kind: model.KindUser, ID: p.UserID}); err != nil {
		return nil, err
	}
	details := map[string]string{"reason": p.Reason}
	if p.Remote != "" {
		details["remote"] = p.Remote
	}
	if p.UserID == "" {
		details["username"] = p.Username
		c.auditAs("login.failure", model.OutcomeFailure, model.Object{Kind: model.KindUser}, details)
		return LoginState{}, nil
	}
	u, err := c.tx.User(p.UserID)
	if err != nil {
		return nil, err
	}
	u.FailedLogins++
	st := LoginState{FailedLogins: u.FailedLogins}
	details["failed_logins"] = strconv.Itoa(u.FailedLogins)
	c.auditAs("login.failure", model.OutcomeFailure, userObj(u), details)
	if d := model.LockoutFor(u.FailedLogins); d > 0 {
		u.LockedUntil = c.cmd.Time.Add(d)
		st.LockedUntil = u.LockedUntil.Format("2006-01-02T15:04:05Z07:00")
		c.auditAs("login.lockout", model.OutcomeDenied, userObj(u), map[string]string{"locked_for": d.String(), "failed_logins": strconv.Itoa(u.FailedLogins)})
	}
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	return st, nil
}

func loginSucceeded(c *applyCtx) (any, error) {
	p, err := decodePayload[model.LoginSucceeded](c.cmd)
	if err != nil {
		return nil, err
	}
	u, err := c.loadUser(p.UserID, model.ActLoginRecord)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, model.Errorf(model.CodeUnauthenticated, "account is disabled")
	}
	if u.Locked(c.cmd.Time) {
		return nil, model.Errorf(model.CodeUnauthenticated, "account is locked")
	}
	u.FailedLogins, u.LockedUntil, u.LastLoginAt = 0, model.User{}.LockedUntil, c.cmd.Time
	if err := c.tx.PutUser(u); err != nil {
		return nil, err
	}
	details := map[string]string{}
	if p.Remote != "" {
		details["remote"] = p.Remote
	}
	c.auditAs("login.success", model.OutcomeSuccess, userObj(u), details)
	return LoginState{}, nil
}
