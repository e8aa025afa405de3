package model

import (
	"encoding/json"
	"fmt"
	"time"
)

// CommandType names a replicated command. The numbers are written into the
// raft log: never renumber or reuse one; add new commands at the end.
//
// Payloads are decoded strictly (unknown fields are refused), and every
// replica must reach the same outcome for an entry. So a payload never gains
// a field that changes its meaning while older nodes may still apply the
// log: add a new command type instead, and propose it only once every node
// runs a binary that knows it.
type CommandType uint8

// The commands. 0 is never valid.
const (
	CmdPutSetting CommandType = 1

	CmdCreateUser         CommandType = 10
	CmdUpdateUser         CommandType = 11
	CmdSetUserDisabled    CommandType = 12
	CmdSetPassword        CommandType = 13
	CmdEnrolTOTP          CommandType = 14
	CmdConfirmTOTP        CommandType = 15
	CmdUseTOTPStep        CommandType = 16
	CmdUseRecoveryCode    CommandType = 17
	CmdLoginFailed        CommandType = 18
	CmdLoginSucceeded     CommandType = 19
	CmdSetRecoveryCodes   CommandType = 20
	CmdCreateSession      CommandType = 21
	CmdTouchSession       CommandType = 22
	CmdDeleteSession      CommandType = 23
	CmdExpireSessions     CommandType = 24
	CmdCreateAPIToken     CommandType = 25
	CmdDeleteAPIToken     CommandType = 26
	CmdCreateProject      CommandType = 30
	CmdUpdateProject      CommandType = 31
	CmdSuspendProject     CommandType = 32
	CmdResumeProject      CommandType = 33
	CmdArchiveProject     CommandType = 34
	CmdExpireProjects     CommandType = 35
	CmdAddMember          CommandType = 36
	CmdRemoveMember       CommandType = 37
	CmdPutProjectKey      CommandType = 38
	CmdRegisterImage      CommandType = 40
	CmdDeleteImage        CommandType = 41
	CmdCreateWorkstation  CommandType = 50
	CmdSetWorkstationRun  CommandType = 51
	CmdDeleteWorkstation  CommandType = 52
	CmdReportWorkstation  CommandType = 53
	CmdPutNode            CommandType = 60
	CmdRemoveNode         CommandType = 61
	CmdRecordAudit        CommandType = 70
	CmdCreateAirlock      CommandType = 80
	CmdAddAirlockFile     CommandType = 81
	CmdSubmitAirlock      CommandType = 82
	CmdVoteAirlock        CommandType = 83
	CmdCommentAirlock     CommandType = 84
	CmdTransitionAirlock  CommandType = 85
	CmdSetProjectSchedule CommandType = 90
	CmdEnforceSchedules   CommandType = 91
	CmdDesktopActivity    CommandType = 92
)

var commandNames = map[CommandType]string{
	CmdPutSetting: "setting.put",
	CmdCreateUser: "user.create", CmdUpdateUser: "user.update", CmdSetUserDisabled: "user.set_disabled",
	CmdSetPassword: "user.set_password", CmdEnrolTOTP: "user.totp_enrol", CmdConfirmTOTP: "user.totp_confirm",
	CmdUseTOTPStep: "user.totp_use", CmdUseRecoveryCode: "user.recovery_code_use", CmdLoginFailed: "login.failure",
	CmdLoginSucceeded: "login.success", CmdSetRecoveryCodes: "user.recovery_codes_set",
	CmdCreateSession: "session.create", CmdTouchSession: "session.touch", CmdDeleteSession: "session.delete",
	CmdExpireSessions: "session.expire", CmdCreateAPIToken: "token.create", CmdDeleteAPIToken: "token.delete",
	CmdCreateProject: "project.create", CmdUpdateProject: "project.update", CmdSuspendProject: "project.suspend",
	CmdResumeProject: "project.resume", CmdArchiveProject: "project.archive", CmdExpireProjects: "project.expire",
	CmdAddMember: "member.add", CmdRemoveMember: "member.remove", CmdPutProjectKey: "project.key_put",
	CmdRegisterImage: "image.register", CmdDeleteImage: "image.delete",
	CmdCreateWorkstation: "workstation.create", CmdSetWorkstationRun: "workstation.set_desired",
	CmdDeleteWorkstation: "workstation.delete", CmdReportWorkstation: "workstation.report",
	CmdPutNode: "node.put", CmdRemoveNode: "node.remove", CmdRecordAudit: "audit.record",
	CmdCreateAirlock: "airlock.create", CmdAddAirlockFile: "airlock.add_file", CmdSubmitAirlock: "airlock.submit",
	CmdVoteAirlock: "airlock.vote", CmdCommentAirlock: "airlock.comment", CmdTransitionAirlock: "airlock.transition",
	CmdSetProjectSchedule: "project.schedule_set", CmdEnforceSchedules: "schedule.enforce", CmdDesktopActivity: "desktop.activity",
}

// String is the command's audit action name, e.g. "project.create".
func (t CommandType) String() string {
	if n, ok := commandNames[t]; ok {
		return n
	}
	return fmt.Sprintf("command(%d)", uint8(t))
}

// Known reports whether t is a defined command.
func (t CommandType) Known() bool { _, ok := commandNames[t]; return ok }

// CommandTypes returns every defined command type.
func CommandTypes() []CommandType {
	out := make([]CommandType, 0, len(commandNames))
	for t := 0; t < 256; t++ {
		if CommandType(t).Known() {
			out = append(out, CommandType(t))
		}
	}
	return out
}

// Actor is who issued a command: a user (UserID, optionally through an API
// token TokenID) or, for system actions such as the reconciler, expiry and
// login bookkeeping, a node (NodeID with no UserID).
type Actor struct {
	UserID  string `json:"user_id,omitempty"`
	TokenID string `json:"token_id,omitempty"`
	NodeID  string `json:"node_id,omitempty"`
}

// IsSystem reports whether the actor is a node acting on its own behalf.
func (a Actor) IsSystem() bool { return a.UserID == "" && a.NodeID != "" }

// String names the actor for logs and audit.
func (a Actor) String() string {
	switch {
	case a.UserID != "" && a.TokenID != "":
		return "user:" + a.UserID + "/token:" + a.TokenID
	case a.UserID != "":
		return "user:" + a.UserID
	case a.NodeID != "":
		return "node:" + a.NodeID
	}
	return "anonymous"
}

// Validate checks the actor names someone with well-formed IDs.
func (a Actor) Validate() error {
	if a.UserID == "" && a.NodeID == "" {
		return &Error{Code: CodeUnauthenticated, Field: "actor", Message: "command has no actor"}
	}
	if err := checkOptionalID("actor.user_id", a.UserID); err != nil {
		return err
	}
	if err := checkOptionalID("actor.token_id", a.TokenID); err != nil {
		return err
	}
	if a.TokenID != "" && a.UserID == "" {
		return FieldError("actor.token_id", "a token needs a user")
	}
	return checkOptionalID("actor.node_id", a.NodeID)
}

// MaxRequestIDLen bounds the client-supplied idempotency key.
const MaxRequestIDLen = 64

// Command is one replicated state change. The proposer stamps Actor and Time;
// the FSM never reads the clock and uses Time as "now".
type Command struct {
	Type      CommandType     `json:"-"`
	RequestID string          `json:"request_id,omitempty"`
	Actor     Actor           `json:"actor"`
	Time      time.Time       `json:"time"`
	Payload   json.RawMessage `json:"payload,omitempty"`
}

// Validate checks the envelope (not the payload).
func (c Command) Validate() error {
	if !c.Type.Known() {
		return FieldError("type", "unknown command type %d", uint8(c.Type))
	}
	if len(c.RequestID) > MaxRequestIDLen {
		return FieldError("request_id", "is longer than %d bytes", MaxRequestIDLen)
	}
	if c.RequestID != "" {
		if err := checkText("request_id", c.RequestID, MaxRequestIDLen, false, false); err != nil {
			return err
		}
	}
	if err := c.Actor.Validate(); err != nil {
		return err
	}
	return checkTime("time", c.Time, true)
}

// NewCommand builds a command with the payload marshalled to JSON.
func NewCommand(t CommandType, requestID string, actor Actor, now time.Time, payload any) (Command, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Command{}, fmt.Errorf("encoding %s payload: %w", t, err)
	}
	return Command{Type: t, RequestID: requestID, Actor: actor, Time: now.UTC(), Payload: raw}, nil
}

// Validator is implemented by every command payload.
type Validator interface{ Validate() error }

// PutSetting sets a platform setting (admin only).
type PutSetting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Validate checks the key's form and the value's size.
func (p PutSetting) Validate() error {
	if !keyRE.MatchString(p.Key) {
		return FieldError("key", "must be 1-64 characters of a-z, 0-9, '.', '-' or '_', starting with a letter")
	}
	return checkText("value", p.Value, MaxSettingValue, false, true)
}

// Setting is one platform setting, such as the login banner.
type Setting struct {
	Key       string    `json:"key"`
	Value     string    `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Validate checks the setting.
func (s Setting) Validate() error { return PutSetting{Key: s.Key, Value: s.Value}.Validate() }
