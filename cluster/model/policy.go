package model

import "sort"

// Action is something a principal may attempt. The UI names one per route;
// the FSM names one per command.
type Action string

// The actions.
const (
	ActSettingRead  Action = "setting.read"
	ActSettingWrite Action = "setting.write"

	ActUserRead        Action = "user.read"
	ActUserList        Action = "user.list"
	ActUserCreate      Action = "user.create"
	ActUserUpdate      Action = "user.update"
	ActUserDisable     Action = "user.disable"
	ActUserSetPassword Action = "user.set_password"
	ActUserEnrolTOTP   Action = "user.enrol_totp"
	ActTokenManage     Action = "token.manage"
	ActSessionManage   Action = "session.manage" // create, touch, expire: system only
	ActSessionEnd      Action = "session.end"
	ActLoginRecord     Action = "login.record"

	ActImageRead   Action = "image.read"
	ActImageManage Action = "image.manage"

	ActProjectRead      Action = "project.read"
	ActProjectCreate    Action = "project.create"
	ActProjectUpdate    Action = "project.update"
	ActProjectLifecycle Action = "project.lifecycle" // suspend, resume, archive
	ActProjectExpire    Action = "project.expire"
	ActProjectKey       Action = "project.key"
	ActProjectSchedule  Action = "project.schedule" // nightly shutdown, idle stop
	ActScheduleEnforce  Action = "schedule.enforce"
	ActMemberRead       Action = "member.read"
	ActMemberManage     Action = "member.manage"

	ActNodeManage  Action = "node.manage"
	ActAuditRead   Action = "audit.read"
	ActAuditRecord Action = "audit.record"

	ActWorkstationCreate  Action = "workstation.create"
	ActWorkstationRead    Action = "workstation.read"
	ActWorkstationOperate Action = "workstation.operate" // start, stop, restart
	ActWorkstationDelete  Action = "workstation.delete"
	ActWorkstationConnect Action = "workstation.connect" // open the desktop
	ActWorkstationReport  Action = "workstation.report"

	ActAirlockCreateImport Action = "airlock.create_import"
	ActAirlockCreateExport Action = "airlock.create_export"
	ActAirlockRead         Action = "airlock.read"
	ActAirlockEdit         Action = "airlock.edit" // add files, submit, cancel, withdraw
	ActAirlockComment      Action = "airlock.comment"
	ActAirlockReviewImport Action = "airlock.review_import"
	ActAirlockReviewExport Action = "airlock.review_export"
	ActAirlockFileView     Action = "airlock.file_view"
	ActAirlockDownload     Action = "airlock.download"
	ActAirlockSystem       Action = "airlock.system" // blocked, failed, released by the system
	ActAirlockRevoke       Action = "airlock.revoke"
)

// grant says which objects of a project a role may act on.
type grant uint8

const (
	grantNone   grant = iota
	grantAll          // every object of the project
	grantOwn          // objects the principal created or owns
	grantOthers       // objects someone else created (reviewing: never your own)
)

// rule is one row of the policy table.
type rule struct {
	system   bool // node actors (reconciler, expiry, login bookkeeping)
	anyone   bool // any authenticated user
	self     bool // the user the (non-project) object belongs to
	admin    bool // platform admins, in any project state
	adminOwn bool // platform admins, on project objects they created, in an active project
	roles    map[MemberRole]grant
}

var (
	members   = map[MemberRole]grant{RoleOwner: grantAll, RoleResearcher: grantAll, RoleOutputChecker: grantAll, RoleDataManager: grantAll}
	ownerAll  = map[MemberRole]grant{RoleOwner: grantAll, RoleResearcher: grantOwn}
	ownerOnly = map[MemberRole]grant{RoleOwner: grantAll}
	readers   = map[MemberRole]grant{RoleOwner: grantAll, RoleResearcher: grantOwn, RoleOutputChecker: grantAll, RoleDataManager: grantAll}
)

// policy is the whole authorisation policy, one row per action. A platform
// admin runs the platform (users, images, projects, members, nodes, settings,
// audit) but has no grant that shows a project's desktops or data: no
// workstation connect, no airlock read, file view or download except of
// import requests they created themselves.
var policy = map[Action]rule{
	ActSettingRead:  {anyone: true, system: true},
	ActSettingWrite: {admin: true},

	ActUserRead:        {admin: true, self: true, system: true},
	ActUserList:        {admin: true},
	ActUserCreate:      {admin: true},
	ActUserUpdate:      {admin: true},
	ActUserDisable:     {admin: true},
	ActUserSetPassword: {admin: true, self: true},
	ActUserEnrolTOTP:   {self: true},
	ActTokenManage:     {self: true, admin: true},
	ActSessionManage:   {system: true},
	ActSessionEnd:      {system: true, self: true, admin: true},
	ActLoginRecord:     {system: true},

	ActImageRead:   {anyone: true, system: true},
	ActImageManage: {admin: true},

	ActProjectRead:      {admin: true, system: true, roles: members},
	ActProjectCreate:    {admin: true},
	ActProjectUpdate:    {admin: true},
	ActProjectLifecycle: {admin: true},
	ActProjectExpire:    {system: true},
	ActProjectKey:       {system: true},
	ActProjectSchedule:  {admin: true, roles: ownerOnly},
	ActScheduleEnforce:  {system: true},
	ActMemberRead:       {admin: true, system: true, roles: members},
	ActMemberManage:     {admin: true, roles: ownerOnly},

	ActNodeManage:  {admin: true, system: true},
	ActAuditRead:   {admin: true},
	ActAuditRecord: {system: true, anyone: true},

	ActWorkstationCreate:  {roles: map[MemberRole]grant{RoleOwner: grantAll, RoleResearcher: grantAll}},
	ActWorkstationRead:    {admin: true, system: true, roles: ownerAll},
	ActWorkstationOperate: {roles: ownerAll},
	ActWorkstationDelete:  {roles: ownerAll},
	ActWorkstationConnect: {roles: ownerAll},
	ActWorkstationReport:  {system: true},

	ActAirlockCreateImport: {admin: true, roles: map[MemberRole]grant{RoleDataManager: grantAll}},
	ActAirlockCreateExport: {roles: map[MemberRole]grant{RoleOwner: grantAll, RoleResearcher: grantAll}},
	ActAirlockRead:         {adminOwn: true, system: true, roles: readers},
	ActAirlockEdit:         {adminOwn: true, roles: map[MemberRole]grant{RoleOwner: grantAll, RoleResearcher: grantOwn, RoleDataManager: grantOwn}},
	ActAirlockComment:      {adminOwn: true, roles: readers},
	ActAirlockReviewImport: {roles: map[MemberRole]grant{RoleOutputChecker: grantOthers, RoleDataManager: grantOthers, RoleOwner: grantOthers}},
	ActAirlockReviewExport: {roles: map[MemberRole]grant{RoleOutputChecker: grantOthers}},
	ActAirlockFileView:     {adminOwn: true, roles: readers},
	ActAirlockDownload:     {adminOwn: true, roles: map[MemberRole]grant{RoleOwner: grantOwn, RoleResearcher: grantOwn, RoleDataManager: grantOwn}},
	ActAirlockSystem:       {system: true},
	ActAirlockRevoke:       {admin: true, roles: map[MemberRole]grant{RoleOutputChecker: grantOthers}},
}

// Known reports whether a is a defined action.
func (a Action) Known() bool { _, ok := policy[a]; return ok }

// Actions returns every action, sorted.
func Actions() []Action {
	out := make([]Action, 0, len(policy))
	for a := range policy {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ObjectKind names what an object is.
type ObjectKind string

// The object kinds.
const (
	KindPlatform    ObjectKind = "platform"
	KindSetting     ObjectKind = "setting"
	KindUser        ObjectKind = "user"
	KindSession     ObjectKind = "session"
	KindToken       ObjectKind = "token"
	KindImage       ObjectKind = "image"
	KindProject     ObjectKind = "project"
	KindMember      ObjectKind = "member"
	KindWorkstation ObjectKind = "workstation"
	KindAirlock     ObjectKind = "airlock"
	KindNode        ObjectKind = "node"
	KindAudit       ObjectKind = "audit"
)

// Object is what an action is attempted on, as far as policy cares: which
// project it belongs to (and that project's state) and who owns it (the
// creator of a workstation or airlock request, the user of a session, token
// or account).
type Object struct {
	Kind         ObjectKind   `json:"kind"`
	ID           string       `json:"id,omitempty"`
	ProjectID    string       `json:"project_id,omitempty"`
	ProjectState ProjectState `json:"project_state,omitempty"`
	OwnerID      string       `json:"owner_id,omitempty"`
}

// String is kind/id.
func (o Object) String() string {
	if o.ID == "" {
		return string(o.Kind)
	}
	return string(o.Kind) + "/" + o.ID
}

// Principal is an actor resolved against the state: whether it is a node,
// whether the user is a platform admin, its role in each project, and, when
// it acts through an API token, the token's scopes.
type Principal struct {
	UserID string                `json:"user_id,omitempty"`
	NodeID string                `json:"node_id,omitempty"`
	Admin  bool                  `json:"admin,omitempty"`
	Roles  map[string]MemberRole `json:"roles,omitempty"` // project ID → role
	Scopes []Action              `json:"scopes,omitempty"`
	Token  bool                  `json:"token,omitempty"` // acting through an API token: Scopes apply
}

// IsSystem reports whether the principal is a node acting for itself.
func (p Principal) IsSystem() bool { return p.UserID == "" && p.NodeID != "" }

func (p Principal) scoped(a Action) bool {
	if !p.Token {
		return true
	}
	for _, s := range p.Scopes {
		if s == a || s == ScopeAll {
			return true
		}
	}
	return false
}

func deny(format string, args ...any) error { return Errorf(CodeForbidden, format, args...) }

// Can decides whether p may perform a on o: nil, or a forbidden (or
// unauthenticated) *Error saying why. It is pure: everything it needs is in
// its arguments. Deny by default: an action without a row, a principal
// without a grant, a member of a project that is not active.
func Can(p Principal, a Action, o Object) error {
	r, ok := policy[a]
	if !ok {
		return deny("unknown action %q", a)
	}
	if p.IsSystem() {
		if r.system {
			return nil
		}
		return deny("%s is not a system action", a)
	}
	if p.UserID == "" {
		return Errorf(CodeUnauthenticated, "not logged in")
	}
	if !p.scoped(a) {
		return deny("the API token does not carry scope %s", a)
	}
	if r.admin && p.Admin {
		return nil
	}
	if r.anyone {
		return nil
	}
	if o.ProjectID == "" {
		if r.self && o.OwnerID != "" && o.OwnerID == p.UserID {
			return nil
		}
		return deny("%s on %s is not permitted", a, o)
	}
	if r.adminOwn && p.Admin && o.OwnerID == p.UserID {
		if o.ProjectState != ProjectActive {
			return deny("project is %s", stateName(o.ProjectState))
		}
		return nil
	}
	role, member := p.Roles[o.ProjectID]
	if !member {
		return deny("not a member of project %s", o.ProjectID)
	}
	g := r.roles[role]
	if g == grantNone {
		return deny("role %s may not %s", role, a)
	}
	if o.ProjectState != ProjectActive {
		return deny("project is %s", stateName(o.ProjectState))
	}
	switch g {
	case grantOwn:
		if o.OwnerID == "" || o.OwnerID != p.UserID {
			return deny("role %s may %s only what they created", role, a)
		}
	case grantOthers:
		if o.OwnerID == p.UserID {
			return deny("no one may review their own request")
		}
	}
	return nil
}

func stateName(s ProjectState) string {
	if s == "" {
		return "in an unknown state"
	}
	return string(s)
}
