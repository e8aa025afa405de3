package ui

import (
	"context"
	"time"

	"github.com/sded/sded/cluster/model"
)

// fakeService is a Service whose methods call its function fields; an unset
// field fails the call with an internal error naming it.
type fakeService struct {
	LoginFn                func(ctx context.Context, username, password, remote string) (token string, u model.User, err error)
	AuthenticateFn         func(ctx context.Context, token string) (model.Session, model.User, error)
	BeginTOTPFn            func(ctx context.Context, token string) (secret, uri string, err error)
	ConfirmTOTPFn          func(ctx context.Context, token, code, remote string) (newToken string, recovery []string, err error)
	VerifyTOTPFn           func(ctx context.Context, token, code, remote string) (newToken string, err error)
	LogoutFn               func(ctx context.Context, token string) error
	AuthenticateAPITokenFn func(ctx context.Context, raw string) (model.APIToken, model.User, error)
	CreateAPITokenFn       func(ctx context.Context, actor model.Actor, name string, scopes []model.Action, expires time.Time) (raw string, tok model.APIToken, err error)
	ListAPITokensFn        func(ctx context.Context, actor model.Actor) ([]model.APIToken, error)
	DeleteAPITokenFn       func(ctx context.Context, actor model.Actor, id string) error
	ListProjectsFn         func(ctx context.Context, actor model.Actor) ([]model.Project, error)
	GetProjectFn           func(ctx context.Context, actor model.Actor, id string) (model.Project, error)
	CreateProjectFn        func(ctx context.Context, actor model.Actor, p model.CreateProject) (model.Project, error)
	SuspendProjectFn       func(ctx context.Context, actor model.Actor, id, reason string) error
	ResumeProjectFn        func(ctx context.Context, actor model.Actor, id string) error
	ListMembersFn          func(ctx context.Context, actor model.Actor, projectID string) ([]model.Member, error)
	AddMemberFn            func(ctx context.Context, actor model.Actor, m model.AddMember) error
	RemoveMemberFn         func(ctx context.Context, actor model.Actor, projectID, userID string) error
	SetProjectScheduleFn   func(ctx context.Context, actor model.Actor, projectID string, sch model.Schedule) (model.Project, error)
	MemberNamesFn          func(ctx context.Context, actor model.Actor, projectID string) (map[string]string, error)
	ListWorkstationsFn     func(ctx context.Context, actor model.Actor, projectID string) ([]model.Workstation, error)
	GetWorkstationFn       func(ctx context.Context, actor model.Actor, id string) (model.Workstation, error)
	CreateWorkstationFn    func(ctx context.Context, actor model.Actor, w model.CreateWorkstation) (model.Workstation, error)
	SetWorkstationRunFn    func(ctx context.Context, actor model.Actor, id string, desired model.DesiredState) error
	DeleteWorkstationFn    func(ctx context.Context, actor model.Actor, id string) error
	FlavoursFn             func(ctx context.Context) []string
	ListUsersFn            func(ctx context.Context, actor model.Actor) ([]model.User, error)
	CreateUserFn           func(ctx context.Context, actor model.Actor, u model.CreateUser, password string) (model.User, error)
	SetUserDisabledFn      func(ctx context.Context, actor model.Actor, id string, disabled bool) error
	ListImagesFn           func(ctx context.Context, actor model.Actor) ([]model.Image, error)
	ListNodesFn            func(ctx context.Context, actor model.Actor) ([]model.Node, error)
	SettingFn              func(ctx context.Context, actor model.Actor, key string) (model.Setting, error)
	PutSettingFn           func(ctx context.Context, actor model.Actor, key, value string) (model.Setting, error)
	ListAuditFn            func(ctx context.Context, actor model.Actor, q AuditQuery) ([]model.AuditEvent, error)
	OpenDesktopFn          func(ctx context.Context, actor model.Actor, workstationID, remote string) (DesktopGrant, error)
	CloseDesktopFn         func(ctx context.Context, actor model.Actor, g DesktopGrant, d time.Duration, reason string) error
}

var (
	_ Service          = (*fakeService)(nil)
	_ ProjectScheduler = (*fakeService)(nil)
)

func (f *fakeService) Login(ctx context.Context, username, password, remote string) (token string, u model.User, err error) {
	if f.LoginFn == nil {
		return "", model.User{}, notSet("Login")
	}
	return f.LoginFn(ctx, username, password, remote)
}

func (f *fakeService) Authenticate(ctx context.Context, token string) (model.Session, model.User, error) {
	if f.AuthenticateFn == nil {
		return model.Session{}, model.User{}, notSet("Authenticate")
	}
	return f.AuthenticateFn(ctx, token)
}

func (f *fakeService) BeginTOTP(ctx context.Context, token string) (secret, uri string, err error) {
	if f.BeginTOTPFn == nil {
		return "", "", notSet("BeginTOTP")
	}
	return f.BeginTOTPFn(ctx, token)
}

func (f *fakeService) ConfirmTOTP(ctx context.Context, token, code, remote string) (newToken string, recovery []string, err error) {
	if f.ConfirmTOTPFn == nil {
		return "", nil, notSet("ConfirmTOTP")
	}
	return f.ConfirmTOTPFn(ctx, token, code, remote)
}

func (f *fakeService) VerifyTOTP(ctx context.Context, token, code, remote string) (newToken string, err error) {
	if f.VerifyTOTPFn == nil {
		return "", notSet("VerifyTOTP")
	}
	return f.VerifyTOTPFn(ctx, token, code, remote)
}

func (f *fakeService) Logout(ctx context.Context, token string) error {
	if f.LogoutFn == nil {
		return notSet("Logout")
	}
	return f.LogoutFn(ctx, token)
}

func (f *fakeService) AuthenticateAPIToken(ctx context.Context, raw string) (model.APIToken, model.User, error) {
	if f.AuthenticateAPITokenFn == nil {
		return model.APIToken{}, model.User{}, notSet("AuthenticateAPIToken")
	}
	return f.AuthenticateAPITokenFn(ctx, raw)
}

func (f *fakeService) CreateAPIToken(ctx context.Context, actor model.Actor, name string, scopes []model.Action, expires time.Time) (raw string, tok model.APIToken, err error) {
	if f.CreateAPITokenFn == nil {
		return "", model.APIToken{}, notSet("CreateAPIToken")
	}
	return f.CreateAPITokenFn(ctx, actor, name, scopes, expires)
}

func (f *fakeService) ListAPITokens(ctx context.Context, actor model.Actor) ([]model.APIToken, error) {
	if f.ListAPITokensFn == nil {
		return nil, notSet("ListAPITokens")
	}
	return f.ListAPITokensFn(ctx, actor)
}

func (f *fakeService) DeleteAPIToken(ctx context.Context, actor model.Actor, id string) error {
	if f.DeleteAPITokenFn == nil {
		return notSet("DeleteAPIToken")
	}
	return f.DeleteAPITokenFn(ctx, actor, id)
}

func (f *fakeService) ListProjects(ctx context.Context, actor model.Actor) ([]model.Project, error) {
	if f.ListProjectsFn == nil {
		return nil, notSet("ListProjects")
	}
	return f.ListProjectsFn(ctx, actor)
}

func (f *fakeService) GetProject(ctx context.Context, actor model.Actor, id string) (model.Project, error) {
	if f.GetProjectFn == nil {
		return model.Project{}, notSet("GetProject")
	}
	return f.GetProjectFn(ctx, actor, id)
}

func (f *fakeService) CreateProject(ctx context.Context, actor model.Actor, p model.CreateProject) (model.Project, error) {
	if f.CreateProjectFn == nil {
		return model.Project{}, notSet("CreateProject")
	}
	return f.CreateProjectFn(ctx, actor, p)
}

func (f *fakeService) SuspendProject(ctx context.Context, actor model.Actor, id, reason string) error {
	if f.SuspendProjectFn == nil {
		return notSet("SuspendProject")
	}
	return f.SuspendProjectFn(ctx, actor, id, reason)
}

func (f *fakeService) ResumeProject(ctx context.Context, actor model.Actor, id string) error {
	if f.ResumeProjectFn == nil {
		return notSet("ResumeProject")
	}
	return f.ResumeProjectFn(ctx, actor, id)
}

func (f *fakeService) ListMembers(ctx context.Context, actor model.Actor, projectID string) ([]model.Member, error) {
	if f.ListMembersFn == nil {
		return nil, notSet("ListMembers")
	}
	return f.ListMembersFn(ctx, actor, projectID)
}

func (f *fakeService) AddMember(ctx context.Context, actor model.Actor, m model.AddMember) error {
	if f.AddMemberFn == nil {
		return notSet("AddMember")
	}
	return f.AddMemberFn(ctx, actor, m)
}

func (f *fakeService) RemoveMember(ctx context.Context, actor model.Actor, projectID, userID string) error {
	if f.RemoveMemberFn == nil {
		return notSet("RemoveMember")
	}
	return f.RemoveMemberFn(ctx, actor, projectID, userID)
}

func (f *fakeService) SetProjectSchedule(ctx context.Context, actor model.Actor, projectID string, sch model.Schedule) (model.Project, error) {
	if f.SetProjectScheduleFn == nil {
		return model.Project{}, notSet("SetProjectSchedule")
	}
	return f.SetProjectScheduleFn(ctx, actor, projectID, sch)
}

func (f *fakeService) MemberNames(ctx context.Context, actor model.Actor, projectID string) (map[string]string, error) {
	if f.MemberNamesFn == nil {
		return nil, notSet("MemberNames")
	}
	return f.MemberNamesFn(ctx, actor, projectID)
}

func (f *fakeService) ListWorkstations(ctx context.Context, actor model.Actor, projectID string) ([]model.Workstation, error) {
	if f.ListWorkstationsFn == nil {
		return nil, notSet("ListWorkstations")
	}
	return f.ListWorkstationsFn(ctx, actor, projectID)
}

func (f *fakeService) GetWorkstation(ctx context.Context, actor model.Actor, id string) (model.Workstation, error) {
	if f.GetWorkstationFn == nil {
		return model.Workstation{}, notSet("GetWorkstation")
	}
	return f.GetWorkstationFn(ctx, actor, id)
}

func (f *fakeService) CreateWorkstation(ctx context.Context, actor model.Actor, w model.CreateWorkstation) (model.Workstation, error) {
	if f.CreateWorkstationFn == nil {
		return model.Workstation{}, notSet("CreateWorkstation")
	}
	return f.CreateWorkstationFn(ctx, actor, w)
}

func (f *fakeService) SetWorkstationRun(ctx context.Context, actor model.Actor, id string, desired model.DesiredState) error {
	if f.SetWorkstationRunFn == nil {
		return notSet("SetWorkstationRun")
	}
	return f.SetWorkstationRunFn(ctx, actor, id, desired)
}

func (f *fakeService) DeleteWorkstation(ctx context.Context, actor model.Actor, id string) error {
	if f.DeleteWorkstationFn == nil {
		return notSet("DeleteWorkstation")
	}
	return f.DeleteWorkstationFn(ctx, actor, id)
}

func (f *fakeService) Flavours(ctx context.Context) []string {
	if f.FlavoursFn == nil {
		return nil
	}
	return f.FlavoursFn(ctx)
}

func (f *fakeService) ListUsers(ctx context.Context, actor model.Actor) ([]model.User, error) {
	if f.ListUsersFn == nil {
		return nil, notSet("ListUsers")
	}
	return f.ListUsersFn(ctx, actor)
}

func (f *fakeService) CreateUser(ctx context.Context, actor model.Actor, u model.CreateUser, password string) (model.User, error) {
	if f.CreateUserFn == nil {
		return model.User{}, notSet("CreateUser")
	}
	return f.CreateUserFn(ctx, actor, u, password)
}

func (f *fakeService) SetUserDisabled(ctx context.Context, actor model.Actor, id string, disabled bool) error {
	if f.SetUserDisabledFn == nil {
		return notSet("SetUserDisabled")
	}
	return f.SetUserDisabledFn(ctx, actor, id, disabled)
}

func (f *fakeService) ListImages(ctx context.Context, actor model.Actor) ([]model.Image, error) {
	if f.ListImagesFn == nil {
		return nil, notSet("ListImages")
	}
	return f.ListImagesFn(ctx, actor)
}

func (f *fakeService) ListNodes(ctx context.Context, actor model.Actor) ([]model.Node, error) {
	if f.ListNodesFn == nil {
		return nil, notSet("ListNodes")
	}
	return f.ListNodesFn(ctx, actor)
}

func (f *fakeService) ListAudit(ctx context.Context, actor model.Actor, q AuditQuery) ([]model.AuditEvent, error) {
	if f.ListAuditFn == nil {
		return nil, notSet("ListAudit")
	}
	return f.ListAuditFn(ctx, actor, q)
}

func (f *fakeService) OpenDesktop(ctx context.Context, actor model.Actor, workstationID, remote string) (DesktopGrant, error) {
	if f.OpenDesktopFn == nil {
		return DesktopGrant{}, notSet("OpenDesktop")
	}
	return f.OpenDesktopFn(ctx, actor, workstationID, remote)
}

func (f *fakeService) CloseDesktop(ctx context.Context, actor model.Actor, g DesktopGrant, d time.Duration, reason string) error {
	if f.CloseDesktopFn == nil {
		return notSet("CloseDesktop")
	}
	return f.CloseDesktopFn(ctx, actor, g, d, reason)
}

func (f *fakeService) Setting(ctx context.Context, actor model.Actor, key string) (model.Setting, error) {
	if f.SettingFn == nil {
		return model.Setting{}, notSet("Setting")
	}
	return f.SettingFn(ctx, actor, key)
}

func (f *fakeService) PutSetting(ctx context.Context, actor model.Actor, key, value string) (model.Setting, error) {
	if f.PutSettingFn == nil {
		return model.Setting{}, notSet("PutSetting")
	}
	return f.PutSettingFn(ctx, actor, key, value)
}

func notSet(name string) error { return model.Errorf(model.CodeInternal, "fake: %s not set", name) }
