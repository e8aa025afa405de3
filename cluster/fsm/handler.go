package fsm

import (
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// applyCtx is what a handler works with: the transaction, the entry and the
// resolved principal; it collects the audit events to append.
type applyCtx struct {
	tx     *state.Tx
	cmd    model.Command
	index  uint64
	who    model.Principal
	events []model.AuditEvent
	target model.Object // the last object checked
}

// handler applies one command type. It returns the command's result value
// or a *model.Error; it must check policy with c.can before mutating.
type handler func(c *applyCtx) (any, error)

// handlers is the table from command type to handler; a test checks every
// command type has one.
var handlers = map[model.CommandType]handler{
	model.CmdPutSetting:         putSetting,
	model.CmdCreateUser:         createUser,
	model.CmdUpdateUser:         updateUser,
	model.CmdSetUserDisabled:    setUserDisabled,
	model.CmdSetPassword:        setPassword,
	model.CmdEnrolTOTP:          enrolTOTP,
	model.CmdConfirmTOTP:        confirmTOTP,
	model.CmdUseTOTPStep:        useTOTPStep,
	model.CmdUseRecoveryCode:    useRecoveryCode,
	model.CmdLoginFailed:        loginFailed,
	model.CmdLoginSucceeded:     loginSucceeded,
	model.CmdSetRecoveryCodes:   setRecoveryCodes,
	model.CmdCreateSession:      createSession,
	model.CmdTouchSession:       touchSession,
	model.CmdDeleteSession:      deleteSession,
	model.CmdExpireSessions:     expireSessions,
	model.CmdCreateAPIToken:     createAPIToken,
	model.CmdDeleteAPIToken:     deleteAPIToken,
	model.CmdCreateProject:      createProject,
	model.CmdUpdateProject:      updateProject,
	model.CmdSuspendProject:     suspendProject,
	model.CmdResumeProject:      resumeProject,
	model.CmdArchiveProject:     archiveProject,
	model.CmdExpireProjects:     expireProjects,
	model.CmdAddMember:          addMember,
	model.CmdRemoveMember:       removeMember,
	model.CmdPutProjectKey:      putProjectKey,
	model.CmdRegisterImage:      registerImage,
	model.CmdDeleteImage:        deleteImage,
	model.CmdCreateWorkstation:  createWorkstation,
	model.CmdSetWorkstationRun:  setWorkstationRun,
	model.CmdDeleteWorkstation:  deleteWorkstation,
	model.CmdReportWorkstation:  reportWorkstation,
	model.CmdPutNode:            putNode,
	model.CmdRemoveNode:         removeNode,
	model.CmdRecordAudit:        recordAudit,
	model.CmdCreateAirlock:      createAirlock,
	model.CmdAddAirlockFile:     addAirlockFile,
	model.CmdSubmitAirlock:      submitAirlock,
	model.CmdVoteAirlock:        voteAirlock,
	model.CmdCommentAirlock:     commentAirlock,
	model.CmdTransitionAirlock:  transitionAirlock,
	model.CmdSetProjectSchedule: setProjectSchedule,
	model.CmdEnforceSchedules:   enforceSchedules,
	model.CmdDesktopActivity:    desktopActivity,
}

// can checks the policy for the command's principal. The object is kept so
// that a refusal's audit event names what was attempted.
func (c *applyCtx) can(a model.Action, o model.Object) error {
	c.target = o
	return model.Can(c.who, a, o)
}

// audit records a successful change under the command's name.
func (c *applyCtx) audit(o model.Object, details map[string]string) {
	c.auditAs(c.cmd.Type.String(), model.OutcomeSuccess, o, details)
}

// auditAs records an event with its own action and outcome.
func (c *applyCtx) auditAs(action string, outcome model.Outcome, o model.Object, details map[string]string) {
	obj := ""
	if o.Kind != "" {
		obj = o.String()
	}
	c.events = append(c.events, model.AuditEvent{Index: c.index, Time: c.cmd.Time, Actor: c.cmd.Actor, Action: action,
		Object: obj, ProjectID: o.ProjectID, Outcome: outcome, RequestID: c.cmd.RequestID, Details: details})
}

// userID is the acting user ("" for the system).
func (c *applyCtx) userID() string { return c.cmd.Actor.UserID }

// project loads a project and the policy object describing it.
func (c *applyCtx) project(id string) (model.Project, model.Object, error) {
	p, err := c.tx.Project(id)
	if err != nil {
		return p, model.Object{}, err
	}
	return p, model.Object{Kind: model.KindProject, ID: p.ID, ProjectID: p.ID, ProjectState: p.State}, nil
}

// exists returns already_exists if err is nil (the thing was found), nil if
// it is not_found, and err otherwise.
func exists(err error, what, id string) error {
	switch {
	case err == nil:
		return model.Errorf(model.CodeAlreadyExists, "%s %q already exists", what, id)
	case model.CodeOf(err) == model.CodeNotFound:
		return nil
	}
	return err
}

func conflict(format string, args ...any) error {
	return model.Errorf(model.CodeConflict, format, args...)
}
