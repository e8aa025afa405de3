package ui

import (
	"context"
	"net"
	"time"

	"github.com/sded/sded/cluster/model"
)

// Service is what the UI needs from the cluster: the typed API, shaped after
// cluster.Service so that *cluster.Service satisfies it. Every method that
// acts for someone takes the actor and checks policy itself (the UI checks
// only that a route's action is within an API token's scopes); errors are
// *model.Error values whose codes the UI maps to HTTP statuses.
type Service interface {
	AuthService
	ProjectService
	WorkstationService
	AdminService
	DesktopService
}

// AuthService logs people in and out. Raw session and API tokens exist only
// in cookies and Authorization headers; the service stores their hashes.
type AuthService interface {
	// Login checks a password and returns the raw token of a new session
	// whose MFAPending is set, and the (redacted) user. Failures are counted
	// and audited; a locked account returns model.ErrForbidden with a
	// message saying until when.
	Login(ctx context.Context, username, password, remote string) (token string, u model.User, err error)
	// Authenticate returns the session and redacted user of a raw session
	// token, refreshing its idle timer; an unknown or expired session is
	// model.ErrUnauthenticated.
	Authenticate(ctx context.Context, token string) (model.Session, model.User, error)
	// BeginTOTP stores a new unconfirmed TOTP secret for the MFA-pending
	// session's user (not yet enrolled) and returns it with its otpauth URI.
	BeginTOTP(ctx context.Context, token string) (secret, uri string, err error)
	// ConfirmTOTP checks the first code of an enrolment, replaces the
	// MFA-pending session with a full one (a new raw token) and returns
	// single-use recovery codes, shown once.
	ConfirmTOTP(ctx context.Context, token, code, remote string) (newToken string, recovery []string, err error)
	// VerifyTOTP checks a TOTP or recovery code for an enrolled user's
	// MFA-pending session and replaces it with a full one.
	VerifyTOTP(ctx context.Context, token, code, remote string) (newToken string, err error)
	// Logout ends the session (audited).
	Logout(ctx context.Context, token string) error
	// AuthenticateAPIToken returns the token (redacted) and its redacted
	// user for a raw bearer token.
	AuthenticateAPIToken(ctx context.Context, raw string) (model.APIToken, model.User, error)
	CreateAPIToken(ctx context.Context, actor model.Actor, name string, scopes []model.Action, expires time.Time) (raw string, tok model.APIToken, err error)
	ListAPITokens(ctx context.Context, actor model.Actor) ([]model.APIToken, error)
	DeleteAPIToken(ctx context.Context, actor model.Actor, id string) error
}

// ProjectService reads and changes projects and their members.
type ProjectService interface {
	// ListProjects returns the projects the actor may see: all for an
	// admin, the ones they are a member of otherwise.
	ListProjects(ctx context.Context, actor model.Actor) ([]model.Project, error)
	GetProject(ctx context.Context, actor model.Actor, id string) (model.Project, error)
	CreateProject(ctx context.Context, actor model.Actor, p model.CreateProject) (model.Project, error)
	SuspendProject(ctx context.Context, actor model.Actor, id, reason string) error
	ResumeProject(ctx context.Context, actor model.Actor, id string) error
	ListMembers(ctx context.Context, actor model.Actor, projectID string) ([]model.Member, error)
	AddMember(ctx context.Context, actor model.Actor, m model.AddMember) error
	RemoveMember(ctx context.Context, actor model.Actor, projectID, userID string) error
}

// WorkstationService manages workstations.
type WorkstationService interface {
	// ListWorkstations returns a project's workstations the actor may see.
	ListWorkstations(ctx context.Context, actor model.Actor, projectID string) ([]model.Workstation, error)
	GetWorkstation(ctx context.Context, actor model.Actor, id string) (model.Workstation, error)
	// CreateWorkstation resolves the flavour to sizes, checks the quota and
	// creates the workstation (desired running).
	CreateWorkstation(ctx context.Context, actor model.Actor, w model.CreateWorkstation) (model.Workstation, error)
	SetWorkstationRun(ctx context.Context, actor model.Actor, id string, desired model.DesiredState) error
	DeleteWorkstation(ctx context.Context, actor model.Actor, id string) error
	// Flavours lists the names of the workstation sizes on offer.
	Flavours(ctx context.Context) []string
}

// AdminService is the platform administration the UI offers.
type AdminService interface {
	ListUsers(ctx context.Context, actor model.Actor) ([]model.User, error)
	// CreateUser hashes the password and adds the user, who enrols TOTP at
	// first login.
	CreateUser(ctx context.Context, actor model.Actor, u model.CreateUser, password string) (model.User, error)
	SetUserDisabled(ctx context.Context, actor model.Actor, id string, disabled bool) error
	ListImages(ctx context.Context, actor model.Actor) ([]model.Image, error)
	// ListNodes returns the cluster members the state records (admin).
	ListNodes(ctx context.Context, actor model.Actor) ([]model.Node, error)
	// ListAudit returns events matching the query, newest first.
	ListAudit(ctx context.Context, actor model.Actor, q AuditQuery) ([]model.AuditEvent, error)
	// Setting reads a cluster setting (model.ErrNotFound when unset);
	// PutSetting changes one (admin, audited).
	Setting(ctx context.Context, actor model.Actor, key string) (model.Setting, error)
	PutSetting(ctx context.Context, actor model.Actor, key, value string) (model.Setting, error)
}

// NodeHealth is what the raft layer knows of a node's health, from
// Config.Health.
type NodeHealth struct {
	ID       string    `json:"id"`
	Leader   bool      `json:"leader"`
	Healthy  bool      `json:"healthy"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Detail   string    `json:"detail,omitempty"`
}

// AuditQuery filters the audit log. Zero fields match everything.
type AuditQuery = model.AuditQuery

// DesktopService authorises and audits desktop sessions.
type DesktopService interface {
	// OpenDesktop checks that the actor may open the workstation's desktop
	// (its researcher; the project's owners; an admin only with the
	// break-glass setting on, which the audit record says), audits the
	// opening and returns the clipboard policy of the project's tier.
	OpenDesktop(ctx context.Context, actor model.Actor, workstationID, remote string) (DesktopGrant, error)
	// CloseDesktop audits the end of a session with its duration and why it
	// ended.
	CloseDesktop(ctx context.Context, actor model.Actor, g DesktopGrant, d time.Duration, reason string) error
}

// DesktopGrant is an authorised desktop session.
type DesktopGrant = model.DesktopGrant

// DesktopDialer connects to a workstation's VNC console (the hypervisor's
// unix socket on whichever node runs it).
type DesktopDialer interface {
	DialConsole(ctx context.Context, workstationID string) (net.Conn, error)
}
