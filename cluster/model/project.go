package model

import (
	"fmt"
	"net/netip"
	"time"
)

// ProjectState is a project's lifecycle state: active → suspended → archived
// (and suspended → active on resume).
type ProjectState string

// The project states.
const (
	ProjectActive    ProjectState = "active"
	ProjectSuspended ProjectState = "suspended"
	ProjectArchived  ProjectState = "archived"
)

// Quota bounds what a project's workstations may use in total.
type Quota struct {
	VCPU         int `json:"vcpu"`
	MemoryMiB    int `json:"memory_mib"`
	DiskGiB      int `json:"disk_gib"`
	Workstations int `json:"workstations"`
}

// Validate checks every quota is positive and plausible.
func (q Quota) Validate() error {
	for _, c := range []struct {
		f   string
		v   int
		max int
	}{{"quota.vcpu", q.VCPU, 4096}, {"quota.memory_mib", q.MemoryMiB, 64 << 20}, {"quota.disk_gib", q.DiskGiB, 1 << 20}, {"quota.workstations", q.Workstations, 1000}} {
		if c.v < 1 || c.v > c.max {
			return FieldError(c.f, "must be between 1 and %d", c.max)
		}
	}
	return nil
}

// EgressRule allows a project's workstations to reach CIDR on Port/Proto.
type EgressRule struct {
	CIDR    string `json:"cidr"`
	Port    int    `json:"port"`  // 0: every port
	Proto   string `json:"proto"` // tcp or udp
	Comment string `json:"comment,omitempty"`
}

// Validate checks the rule.
func (r EgressRule) Validate() error {
	if _, err := netip.ParsePrefix(r.CIDR); err != nil {
		return FieldError("egress.cidr", "%q is not a CIDR", r.CIDR)
	}
	if r.Port < 0 || r.Port > 65535 {
		return FieldError("egress.port", "must be 0-65535")
	}
	if r.Proto != "tcp" && r.Proto != "udp" {
		return FieldError("egress.proto", "must be tcp or udp")
	}
	return checkText("egress.comment", r.Comment, MaxNameLen, false, false)
}

// NetworkSettings are a project's network policy. Egress is denied except
// the allowlist.
type NetworkSettings struct {
	IsolateWorkstations bool         `json:"isolate_workstations"`
	Egress              []EgressRule `json:"egress,omitempty"`
}

// Validate checks the rules.
func (n NetworkSettings) Validate() error {
	if len(n.Egress) > 256 {
		return FieldError("egress", "has more than 256 rules")
	}
	for _, r := range n.Egress {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Project is one approved study: its members, workstations and data.
type Project struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Slug        string          `json:"slug"`
	ApprovalRef string          `json:"approval_ref"` // data access committee approval
	DSARef      string          `json:"dsa_ref"`      // data-sharing agreement
	StartsAt    time.Time       `json:"starts_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Tier        int             `json:"tier"` // 0-4 as in the Turing Data Safe Haven
	Quota       Quota           `json:"quota"`
	State       ProjectState    `json:"state"`
	StateReason string          `json:"state_reason,omitempty"`
	ArchivedAt  time.Time       `json:"archived_at,omitempty"`
	Network     NetworkSettings `json:"network"`
	Schedule    Schedule        `json:"schedule,omitzero"` // nightly shutdown, idle stop
	// DataUpdatedAt is when the airlock last changed the project's data
	// volume (an import released or a released import revoked); running
	// workstations see the change after a restart.
	DataUpdatedAt time.Time `json:"data_updated_at,omitzero"`
	Number        uint32    `json:"number"` // allocation order, decides Subnet
	Subnet        string    `json:"subnet"` // the project's /24
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Validate checks a project's fields.
func (p Project) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if err := checkName("name", p.Name); err != nil {
		return err
	}
	if !slugRE.MatchString(p.Slug) {
		return FieldError("slug", "must be 2-32 characters of a-z, 0-9 or '-', starting with a letter")
	}
	if err := checkName("approval_ref", p.ApprovalRef); err != nil {
		return err
	}
	if err := checkName("dsa_ref", p.DSARef); err != nil {
		return err
	}
	if err := checkTime("starts_at", p.StartsAt, true); err != nil {
		return err
	}
	if err := checkTime("expires_at", p.ExpiresAt, true); err != nil {
		return err
	}
	if !p.ExpiresAt.After(p.StartsAt) {
		return FieldError("expires_at", "must be after starts_at")
	}
	if p.Tier < 0 || p.Tier > 4 {
		return FieldError("tier", "must be 0-4")
	}
	if err := p.Quota.Validate(); err != nil {
		return err
	}
	switch p.State {
	case ProjectActive, ProjectSuspended, ProjectArchived:
	default:
		return FieldError("state", "must be active, suspended or archived")
	}
	if err := checkText("state_reason", p.StateReason, MaxNameLen, false, false); err != nil {
		return err
	}
	if err := p.Schedule.Validate(); err != nil {
		return err
	}
	return p.Network.Validate()
}

// DefaultSubnetPool is the project address pool when none is configured.
var DefaultSubnetPool = netip.MustParsePrefix("10.64.0.0/10")

// subnetPool is this node's configured pool (network.pool), which the
// daemon sets at start. It is only what this node proposes: the FSM
// allocates from the pool recorded in the replicated state with the first
// project, so a node configured differently cannot make replicas diverge
// (its CreateProject is refused with a conflict instead).
var subnetPool = DefaultSubnetPool

// CheckSubnetPool accepts an IPv4 prefix from /8 to /23.
func CheckSubnetPool(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 23 {
		return fmt.Errorf("project address pool %s: want an IPv4 prefix from /8 to /23", p)
	}
	return nil
}

// SetSubnetPool sets this node's configured pool (see subnetPool).
func SetSubnetPool(p netip.Prefix) error {
	if err := CheckSubnetPool(p); err != nil {
		return err
	}
	subnetPool = p.Masked()
	return nil
}

// SubnetPool returns this node's configured pool.
func SubnetPool() netip.Prefix { return subnetPool }

// MaxProjects is how many /24s this node's pool holds (the first is never used).
func MaxProjects() uint32 { return MaxProjectsIn(subnetPool) }

// MaxProjectsIn is how many /24s pool holds (the first is never used).
func MaxProjectsIn(pool netip.Prefix) uint32 { return 1<<(24-pool.Bits()) - 1 }

// SubnetFor returns the /24 of project number n in this node's pool.
func SubnetFor(n uint32) (netip.Prefix, error) { return SubnetIn(subnetPool, n) }

// SubnetIn returns the /24 of project number n in pool: the n-th /24, with
// gateway .1 and workstations .10–.254.
func SubnetIn(pool netip.Prefix, n uint32) (netip.Prefix, error) {
	if err := CheckSubnetPool(pool); err != nil {
		return netip.Prefix{}, Errorf(CodeInternal, "%v", err)
	}
	pool = pool.Masked()
	if n == 0 || n > MaxProjectsIn(pool) {
		return netip.Prefix{}, Errorf(CodeConflict, "project number %d is outside the address pool %s (%d projects)", n, pool, MaxProjectsIn(pool))
	}
	b := pool.Addr().As4()
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8) + n<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24), nil
}

// CreateProject adds a project (admin only). Owners lists users made owner
// in the same transaction.
type CreateProject struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Slug        string          `json:"slug"`
	ApprovalRef string          `json:"approval_ref"`
	DSARef      string          `json:"dsa_ref"`
	StartsAt    time.Time       `json:"starts_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Tier        int             `json:"tier"`
	Quota       Quota           `json:"quota"`
	Network     NetworkSettings `json:"network"`
	Owners      []string        `json:"owners,omitempty"`
	// Pool is the proposing node's network.pool. The first project records
	// it in the state; later ones must match it.
	Pool string `json:"pool,omitempty"`
}

// Project returns the project the command creates, before allocation.
func (p CreateProject) Project() Project {
	return Project{ID: p.ID, Name: p.Name, Slug: p.Slug, ApprovalRef: p.ApprovalRef, DSARef: p.DSARef,
		StartsAt: p.StartsAt, ExpiresAt: p.ExpiresAt, Tier: p.Tier, Quota: p.Quota, Network: p.Network, State: ProjectActive}
}

// Validate checks the new project.
func (p CreateProject) Validate() error {
	if err := p.Project().Validate(); err != nil {
		return err
	}
	if p.Pool != "" {
		pool, err := netip.ParsePrefix(p.Pool)
		if err != nil || CheckSubnetPool(pool) != nil || pool.Masked() != pool {
			return FieldError("pool", "%q is not an IPv4 prefix from /8 to /23", p.Pool)
		}
	}
	if len(p.Owners) > 16 {
		return FieldError("owners", "lists more than 16 users")
	}
	for _, o := range p.Owners {
		if err := checkID("owners", o); err != nil {
			return err
		}
	}
	return nil
}

// UpdateProject changes a project; nil fields stay as they are.
type UpdateProject struct {
	ID          string           `json:"id"`
	Name        *string          `json:"name,omitempty"`
	ApprovalRef *string          `json:"approval_ref,omitempty"`
	DSARef      *string          `json:"dsa_ref,omitempty"`
	ExpiresAt   *time.Time       `json:"expires_at,omitempty"`
	Tier        *int             `json:"tier,omitempty"`
	Quota       *Quota           `json:"quota,omitempty"`
	Network     *NetworkSettings `json:"network,omitempty"`
}

// Apply returns p's changes applied to pr.
func (p UpdateProject) Apply(pr Project) Project {
	if p.Name != nil {
		pr.Name = *p.Name
	}
	if p.ApprovalRef != nil {
		pr.ApprovalRef = *p.ApprovalRef
	}
	if p.DSARef != nil {
		pr.DSARef = *p.DSARef
	}
	if p.ExpiresAt != nil {
		pr.ExpiresAt = *p.ExpiresAt
	}
	if p.Tier != nil {
		pr.Tier = *p.Tier
	}
	if p.Quota != nil {
		pr.Quota = *p.Quota
	}
	if p.Network != nil {
		pr.Network = *p.Network
	}
	return pr
}

// Validate checks the ID; the FSM validates the resulting project.
func (p UpdateProject) Validate() error { return checkID("id", p.ID) }

// ProjectStateChange suspends, resumes or archives a project.
type ProjectStateChange struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
}

// Validate checks the fields.
func (p ProjectStateChange) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	return checkText("reason", p.Reason, MaxNameLen, false, false)
}

// ArchiveRetentionSetting names the platform setting that says how long an
// archived project's data key is kept before it is destroyed (a Go
// duration such as "720h"). Absent, empty or "0": at archiving itself.
const ArchiveRetentionSetting = "project.archive_retention"

// ArchiveRetention parses the retention setting's value; bad values mean 0
// (destroy at once: the safe side for data).
func ArchiveRetention(v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// ExpireProjects suspends every active project whose expiry is at or before
// At, and stops their workstations.
type ExpireProjects struct {
	At time.Time `json:"at"`
}

// Validate checks the time.
func (p ExpireProjects) Validate() error { return checkTime("at", p.At, true) }

// MemberRole is a user's role in one project.
type MemberRole string

// The project roles.
const (
	RoleOwner         MemberRole = "owner"
	RoleResearcher    MemberRole = "researcher"
	RoleOutputChecker MemberRole = "output_checker"
	RoleDataManager   MemberRole = "data_manager"
)

// MemberRoles lists every project role.
var MemberRoles = []MemberRole{RoleOwner, RoleResearcher, RoleOutputChecker, RoleDataManager}

// Valid reports whether r is a defined role.
func (r MemberRole) Valid() bool {
	for _, x := range MemberRoles {
		if r == x {
			return true
		}
	}
	return false
}

// Member is a user's role in a project.
type Member struct {
	ProjectID string     `json:"project_id"`
	UserID    string     `json:"user_id"`
	Role      MemberRole `json:"role"`
	AddedAt   time.Time  `json:"added_at"`
	AddedBy   string     `json:"added_by,omitempty"`
}

// Validate checks the member.
func (m Member) Validate() error {
	if err := checkID("project_id", m.ProjectID); err != nil {
		return err
	}
	if err := checkID("user_id", m.UserID); err != nil {
		return err
	}
	if !m.Role.Valid() {
		return FieldError("role", "must be one of owner, researcher, output_checker, data_manager")
	}
	return nil
}

// AddMember adds a user to a project, or changes their role.
type AddMember struct {
	ProjectID string     `json:"project_id"`
	UserID    string     `json:"user_id"`
	Role      MemberRole `json:"role"`
}

// Validate checks the member.
func (p AddMember) Validate() error {
	return Member{ProjectID: p.ProjectID, UserID: p.UserID, Role: p.Role}.Validate()
}

// RemoveMember removes a user from a project.
type RemoveMember struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
}

// Validate checks the IDs.
func (p RemoveMember) Validate() error {
	if err := checkID("project_id", p.ProjectID); err != nil {
		return err
	}
	return checkID("user_id", p.UserID)
}

// ProjectKey is a project's data key wrapped by the cluster key-encryption
// key (AES-256-GCM). Deleting it destroys the project's data.
type ProjectKey struct {
	ProjectID string    `json:"project_id"`
	KEKID     string    `json:"kek_id"`
	Wrapped   []byte    `json:"wrapped"`
	CreatedAt time.Time `json:"created_at"`
}

// PutProjectKey stores a project's wrapped data key (system actor only).
type PutProjectKey struct {
	ProjectID string `json:"project_id"`
	KEKID     string `json:"kek_id"`
	Wrapped   []byte `json:"wrapped"`
}

// Validate checks the fields.
func (p PutProjectKey) Validate() error {
	if err := checkID("project_id", p.ProjectID); err != nil {
		return err
	}
	if err := checkID("kek_id", p.KEKID); err != nil {
		return err
	}
	if len(p.Wrapped) < 32 || len(p.Wrapped) > 1024 {
		return FieldError("wrapped", "must be 32-1024 bytes")
	}
	return nil
}

// String describes a quota for messages.
func (q Quota) String() string {
	return fmt.Sprintf("%d vCPU, %d MiB, %d GiB, %d workstations", q.VCPU, q.MemoryMiB, q.DiskGiB, q.Workstations)
}

// Validate checks the key record.
func (k ProjectKey) Validate() error {
	return PutProjectKey{ProjectID: k.ProjectID, KEKID: k.KEKID, Wrapped: k.Wrapped}.Validate()
}
