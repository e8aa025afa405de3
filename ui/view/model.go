package view

// Layout is what every page's frame needs.
type Layout struct {
	Title   string
	User    string // display name; empty when signed out
	Admin   bool
	Version string
	Refresh int      // seconds; >0 refreshes the page when JavaScript is off
	Scripts []string // module scripts under /static
}

// Form carries a form's entered values and its errors by field, so a page
// redisplayed after a validation error loses nothing.
type Form struct {
	Values map[string]string
	Errors map[string]string
	Error  string // an error not about one field
}

// V returns the entered value of field k.
func (f Form) V(k string) string { return f.Values[k] }

// E returns the error of field k.
func (f Form) E(k string) string { return f.Errors[k] }

// Option is one choice of a select.
type Option struct{ Value, Label string }

// ErrorView is an error page.
type ErrorView struct {
	Status  int
	Message string
}

// Enrol is the TOTP enrolment page.
type Enrol struct {
	QR     string // data: URI of the QR code PNG
	Secret string // the manual key, grouped for reading
	Form   Form
}

// ProjectRow is a project in a list.
type ProjectRow struct {
	ID, Name, Slug, State, Tier, Expires, Role string
}

// WorkstationRow is a workstation in a list or on its page.
type WorkstationRow struct {
	ID, Name, ProjectID, ProjectName, Owner, Image, Flavour, Size string
	Desired, State, Reason                                        string
	Busy                                                          bool // provisioning or changing: show progress
	Running                                                       bool
	// DataNote says that data was released into the project after the
	// workstation started (it sees the new data volume after a restart).
	DataNote string
}

// Home is the signed-in landing page.
type Home struct {
	Name         string
	Admin        bool
	Projects     []ProjectRow
	Workstations []WorkstationRow
}

// Projects is the project list.
type Projects struct {
	Rows      []ProjectRow
	CanCreate bool
}

// ProjectDetail is one project's page.
type ProjectDetail struct {
	ID, Name, Slug, State, StateReason, Tier, Clipboard string
	ApprovalRef, DSARef, Starts, Expires, Quota, Subnet string
	Members                                             []MemberRow
	Workstations                                        []WorkstationRow
	CanManage, Admin, CanCreateWorkstation              bool
	MemberForm, WorkstationForm                         Form
	Roles, Users, Images, Flavours                      []Option
	Schedule                                            string // the power schedule, described
	CanSchedule                                         bool   // show the schedule form
	ScheduleForm                                        Form
}

// MemberRow is a project member.
type MemberRow struct{ UserID, Name, Role string }

// Desktop is the browser desktop page.
type Desktop struct {
	WorkstationID, Name string
	NoVNC               bool // the noVNC client is embedded
	Paste               bool // the tier allows paste-in
}

// UserRow is a user in the admin list.
type UserRow struct {
	ID, Username, Name, Email string
	Admin, Disabled, Enrolled bool
	LastLogin                 string
}

// Users is the admin user list and its create form.
type Users struct {
	Rows []UserRow
	Form Form
}

// ImageRow is a base image.
type ImageRow struct {
	ID, Name, Format, Size, SHA256, Created string
	DirectBoot                              bool // boots a kernel of its own
}

// Images is the image list and, for admins on a server that can register
// images, the register form and delete buttons.
type Images struct {
	Rows        []ImageRow
	Manage      bool   // show the form and delete buttons
	Form        Form   // the register form
	DeleteError string // why the last delete was refused
	ImportDir   string // the node's import directory
	ImportError string // the import directory could not be listed
	Files       []Option
}

// FileOptions are the import directory's files for a select, with a
// first "none" choice when optional, and the entered value kept even when
// the file is gone (its error says so).
func (v Images) FileOptions(field string, optional bool) []Option {
	var out []Option
	if optional {
		out = append(out, Option{Value: "", Label: "— none —"})
	} else {
		out = append(out, Option{Value: "", Label: "— choose a file —"})
	}
	found := v.Form.V(field) == ""
	for _, o := range v.Files {
		found = found || o.Value == v.Form.V(field)
		out = append(out, o)
	}
	if !found {
		out = append(out, Option{Value: v.Form.V(field), Label: v.Form.V(field) + " (not in the import directory)"})
	}
	return out
}

// NodeRow is a cluster node.
type NodeRow struct {
	ID, Address, LastSeen, Detail string
	Voter, Leader, Healthy, Known bool
}

// AuditRow is one audit event.
type AuditRow struct {
	Seq                                                    uint64
	Time, Actor, Action, Object, Project, Outcome, Details string
}

// Audit is the audit viewer with its filter form.
type Audit struct {
	Rows    []AuditRow
	Filter  Form
	Actions []Option
}

// TokenRow is an API token.
type TokenRow struct{ ID, Name, Scopes, Created, Expires string }

// Tokens is the API token page; NewToken is shown once after creation.
type Tokens struct {
	Rows     []TokenRow
	Form     Form
	NewToken string
	Scopes   []Option
}

// Settings is the admin settings page.
type Settings struct {
	BreakGlass           bool
	ChangedBy, ChangedAt string
}
