package model

import (
	"strings"
	"time"
)

// User is a person who can log in. PasswordHash, TOTPSecret and
// RecoveryCodeHashes are secrets: Redacted clears them before a User leaves
// the service layer.
type User struct {
	ID                 string    `json:"id"`
	Username           string    `json:"username"`
	DisplayName        string    `json:"display_name"`
	Email              string    `json:"email,omitempty"`
	Admin              bool      `json:"admin"`
	Disabled           bool      `json:"disabled"`
	PasswordHash       string    `json:"password_hash,omitempty"`
	TOTPSecret         string    `json:"totp_secret,omitempty"` // base32, no padding
	TOTPEnrolled       bool      `json:"totp_enrolled"`
	TOTPLastStep       uint64    `json:"totp_last_step,omitempty"` // last accepted step: replay protection
	RecoveryCodeHashes []string  `json:"recovery_code_hashes,omitempty"`
	FailedLogins       int       `json:"failed_logins,omitempty"`
	LockedUntil        time.Time `json:"locked_until,omitempty"`
	LastLoginAt        time.Time `json:"last_login_at,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Redacted returns a copy without secrets, safe for responses and logs.
func (u User) Redacted() User {
	u.PasswordHash = ""
	u.TOTPSecret = ""
	u.RecoveryCodeHashes = nil
	return u
}

// Locked reports whether logins are refused at now because of failures.
func (u User) Locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// Lockout parameters: after LockoutThreshold consecutive failures, each further
// failure locks the account for LockoutBase doubled per extra failure, at most
// LockoutMax.
const (
	LockoutThreshold = 5
	LockoutBase      = 30 * time.Second
	LockoutMax       = time.Hour
)

// LockoutFor returns how long an account stays locked after the given number
// of consecutive failures: 0 below the threshold, then 30s, 1m, 2m, ... ≤ 1h.
func LockoutFor(failures int) time.Duration {
	if failures < LockoutThreshold {
		return 0
	}
	d := LockoutBase
	for i := LockoutThreshold; i < failures; i++ {
		d *= 2
		if d >= LockoutMax {
			return LockoutMax
		}
	}
	return d
}

// Validate checks a user's fields.
func (u User) Validate() error {
	if err := checkID("id", u.ID); err != nil {
		return err
	}
	if !userRE.MatchString(u.Username) {
		return FieldError("username", "must be 2-32 characters of a-z, 0-9, '.', '-' or '_', starting with a letter")
	}
	if err := checkName("display_name", u.DisplayName); err != nil {
		return err
	}
	if err := checkEmail("email", u.Email); err != nil {
		return err
	}
	if len(u.PasswordHash) > 512 || len(u.TOTPSecret) > 128 || len(u.RecoveryCodeHashes) > 32 {
		return FieldError("secrets", "are too large")
	}
	for _, h := range u.RecoveryCodeHashes {
		if !ValidSHA256(h) {
			return FieldError("recovery_code_hashes", "must be SHA-256 hex digests")
		}
	}
	if u.FailedLogins < 0 {
		return FieldError("failed_logins", "is negative")
	}
	return nil
}

// CreateUser adds a user. The password hash is computed by the service (the
// FSM never hashes); it may be empty for a user who must be sent a reset.
type CreateUser struct {
	ID           string `json:"id"`
	Username     string `json:"username"`
	DisplayName  string `json:"display_name"`
	Email        string `json:"email,omitempty"`
	Admin        bool   `json:"admin"`
	PasswordHash string `json:"password_hash,omitempty"`
}

// Validate checks the new user.
func (p CreateUser) Validate() error {
	u := User{ID: p.ID, Username: p.Username, DisplayName: p.DisplayName, Email: p.Email, PasswordHash: p.PasswordHash}
	if err := u.Validate(); err != nil {
		return err
	}
	return checkHash("password_hash", p.PasswordHash, false)
}

func checkHash(field, h string, required bool) error {
	if h == "" {
		if required {
			return FieldError(field, "is required")
		}
		return nil
	}
	if len(h) > 512 || !strings.HasPrefix(h, "$argon2id$") {
		return FieldError(field, "must be an argon2id PHC string")
	}
	return nil
}

// UpdateUser changes a user's profile; nil fields stay as they are.
type UpdateUser struct {
	ID          string  `json:"id"`
	DisplayName *string `json:"display_name,omitempty"`
	Email       *string `json:"email,omitempty"`
	Admin       *bool   `json:"admin,omitempty"`
	ResetTOTP   bool    `json:"reset_totp,omitempty"` // forget the enrolment: the user enrols again at next login
}

// Validate checks the changes.
func (p UpdateUser) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if p.DisplayName != nil {
		if err := checkName("display_name", *p.DisplayName); err != nil {
			return err
		}
	}
	if p.Email != nil {
		return checkEmail("email", *p.Email)
	}
	return nil
}

// SetUserDisabled disables (deleting every session and token of the user in
// the same transaction) or enables a user.
type SetUserDisabled struct {
	ID       string `json:"id"`
	Disabled bool   `json:"disabled"`
}

// Validate checks the ID.
func (p SetUserDisabled) Validate() error { return checkID("id", p.ID) }

// SetPassword replaces a user's password hash and clears the lockout.
type SetPassword struct {
	ID           string `json:"id"`
	PasswordHash string `json:"password_hash"`
}

// Validate checks the hash's form.
func (p SetPassword) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	return checkHash("password_hash", p.PasswordHash, true)
}

// EnrolTOTP stores a new, unconfirmed TOTP secret.
type EnrolTOTP struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// Validate checks the secret is base32 of a sensible length.
func (p EnrolTOTP) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if len(p.Secret) < 16 || len(p.Secret) > 128 || strings.Trim(p.Secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		return FieldError("secret", "must be 16-128 base32 characters")
	}
	return nil
}

// ConfirmTOTP marks the enrolment confirmed once the user proved a code at
// Step, and stores the hashes of fresh recovery codes.
type ConfirmTOTP struct {
	ID                 string   `json:"id"`
	Step               uint64   `json:"step"`
	RecoveryCodeHashes []string `json:"recovery_code_hashes"`
}

// Validate checks the step and hashes.
func (p ConfirmTOTP) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if p.Step == 0 {
		return FieldError("step", "is required")
	}
	return checkRecoveryHashes(p.RecoveryCodeHashes)
}

func checkRecoveryHashes(hs []string) error {
	if len(hs) == 0 || len(hs) > 32 {
		return FieldError("recovery_code_hashes", "must hold 1-32 hashes")
	}
	seen := map[string]bool{}
	for _, h := range hs {
		if !ValidSHA256(h) {
			return FieldError("recovery_code_hashes", "must be SHA-256 hex digests")
		}
		if seen[h] {
			return FieldError("recovery_code_hashes", "holds a duplicate")
		}
		seen[h] = true
	}
	return nil
}

// SetRecoveryCodes replaces a user's recovery code hashes.
type SetRecoveryCodes struct {
	ID                 string   `json:"id"`
	RecoveryCodeHashes []string `json:"recovery_code_hashes"`
}

// Validate checks the hashes.
func (p SetRecoveryCodes) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	return checkRecoveryHashes(p.RecoveryCodeHashes)
}

// UseTOTPStep records that the code of Step was accepted for the user. The FSM
// refuses a step at or below the last one used, so a code cannot be replayed,
// not even on another node.
type UseTOTPStep struct {
	ID   string `json:"id"`
	Step uint64 `json:"step"`
}

// Validate checks the step.
func (p UseTOTPStep) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if p.Step == 0 {
		return FieldError("step", "is required")
	}
	return nil
}

// UseRecoveryCode consumes one recovery code, by its SHA-256 hash.
type UseRecoveryCode struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// Validate checks the hash.
func (p UseRecoveryCode) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if !ValidSHA256(p.Hash) {
		return FieldError("hash", "must be a SHA-256 hex digest")
	}
	return nil
}

// LoginFailed counts a failed login (bad password, bad code) and locks the
// account per LockoutFor. Username is recorded when no user matched.
type LoginFailed struct {
	UserID   string `json:"user_id,omitempty"`
	Username string `json:"username,omitempty"`
	Reason   string `json:"reason"`
	Remote   string `json:"remote,omitempty"`
}

// Validate checks the fields.
func (p LoginFailed) Validate() error {
	if err := checkOptionalID("user_id", p.UserID); err != nil {
		return err
	}
	if err := checkText("username", p.Username, MaxNameLen, false, false); err != nil {
		return err
	}
	if err := checkText("remote", p.Remote, MaxNameLen, false, false); err != nil {
		return err
	}
	return checkText("reason", p.Reason, MaxNameLen, true, false)
}

// LoginSucceeded resets the failure count.
type LoginSucceeded struct {
	UserID string `json:"user_id"`
	Remote string `json:"remote,omitempty"`
}

// Validate checks the fields.
func (p LoginSucceeded) Validate() error {
	if err := checkID("user_id", p.UserID); err != nil {
		return err
	}
	return checkText("remote", p.Remote, MaxNameLen, false, false)
}
