package model

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"time"
)

// DesiredState is what a workstation should be.
type DesiredState string

// The desired states.
const (
	DesiredRunning DesiredState = "running"
	DesiredStopped DesiredState = "stopped"
	DesiredDeleted DesiredState = "deleted"
)

// ObservedState is what a node's reconciler saw.
type ObservedState string

// The observed states. ObservedGone means the reconciler removed everything:
// the FSM then deletes the record of a workstation whose desired state is
// deleted.
const (
	ObservedPending  ObservedState = "pending"
	ObservedRunning  ObservedState = "running"
	ObservedStopped  ObservedState = "stopped"
	ObservedFailed   ObservedState = "failed"
	ObservedDeleting ObservedState = "deleting"
	ObservedGone     ObservedState = "gone"
)

// Observed is a workstation's last reported status.
type Observed struct {
	State      ObservedState `json:"state"`
	Reason     string        `json:"reason,omitempty"`
	ObservedAt time.Time     `json:"observed_at"`
	Node       string        `json:"node,omitempty"`
}

// Workstation is a KVM desktop of one researcher in one project.
type Workstation struct {
	ID        string       `json:"id"`
	ProjectID string       `json:"project_id"`
	OwnerID   string       `json:"owner_id"`
	Name      string       `json:"name"`
	ImageID   string       `json:"image_id"`
	Flavour   string       `json:"flavour"`
	VCPU      int          `json:"vcpu"`
	MemoryMiB int          `json:"memory_mib"`
	DiskGiB   int          `json:"disk_gib"`
	MAC       string       `json:"mac"`
	IP        string       `json:"ip"`
	Number    uint32       `json:"number"`
	Desired   DesiredState `json:"desired"`
	Status    Observed     `json:"status"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	// Desktops are the desktops open now (as far as the state knows) and
	// LastDesktopAt when one last opened or closed: the idle clock.
	Desktops      []DesktopSession `json:"desktops,omitempty"`
	LastDesktopAt time.Time        `json:"last_desktop_at,omitzero"`
}

// Validate checks the workstation.
func (w Workstation) Validate() error {
	for _, f := range []struct{ n, v string }{{"id", w.ID}, {"project_id", w.ProjectID}, {"owner_id", w.OwnerID}, {"image_id", w.ImageID}, {"flavour", w.Flavour}} {
		if err := checkID(f.n, f.v); err != nil {
			return err
		}
	}
	if err := checkName("name", w.Name); err != nil {
		return err
	}
	if w.VCPU < 1 || w.VCPU > 256 || w.MemoryMiB < 64 || w.MemoryMiB > 4<<20 || w.DiskGiB < 1 || w.DiskGiB > 64<<10 {
		return FieldError("size", "vcpu, memory or disk is out of range")
	}
	switch w.Desired {
	case DesiredRunning, DesiredStopped, DesiredDeleted:
	default:
		return FieldError("desired", "must be running, stopped or deleted")
	}
	return nil
}

// MACFor returns the MAC of workstation number n (52:54:00 is QEMU's
// prefix; the low 24 bits are n).
func MACFor(n uint32) string {
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte(n>>16), byte(n>>8), byte(n))
}

// MACCandidate returns the attempt-th candidate MAC of the workstation with
// the given ID: QEMU's prefix 52:54:00 and 24 bits of a hash of the ID. The
// FSM takes the first candidate no other workstation has. Derived from the
// (random) ID rather than numbered, so two clusters on one host (a test, a
// second installation) do not hand out the same MACs, whose tap devices
// would collide.
func MACCandidate(id string, attempt int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "sded-mac:%s:%d", id, attempt))
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", h[0], h[1], h[2])
}

// WorkstationHosts is the range of host numbers workstations get in a
// project's /24.
const (
	FirstWorkstationHost = 10
	LastWorkstationHost  = 254
)

// HostIP returns address host (0-255) of a /24 subnet.
func HostIP(subnet string, host int) (string, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || p.Bits() != 24 || !p.Addr().Is4() || host < 0 || host > 255 {
		return "", Errorf(CodeInternal, "bad subnet %q or host %d", subnet, host)
	}
	b := p.Masked().Addr().As4()
	b[3] = byte(host)
	return netip.AddrFrom4(b).String(), nil
}

// CreateWorkstation adds a workstation. The proposer resolves the flavour to
// sizes; the FSM checks the quota and allocates MAC and IP from state.
type CreateWorkstation struct {
	ID        string       `json:"id"`
	ProjectID string       `json:"project_id"`
	Name      string       `json:"name"`
	ImageID   string       `json:"image_id"`
	Flavour   string       `json:"flavour"`
	VCPU      int          `json:"vcpu"`
	MemoryMiB int          `json:"memory_mib"`
	DiskGiB   int          `json:"disk_gib"`
	Desired   DesiredState `json:"desired"` // running or stopped; empty means running
}

// Validate checks the request.
func (p CreateWorkstation) Validate() error {
	d := p.Desired
	if d == "" {
		d = DesiredRunning
	}
	if d == DesiredDeleted {
		return FieldError("desired", "must be running or stopped")
	}
	return Workstation{ID: p.ID, ProjectID: p.ProjectID, OwnerID: "x", Name: p.Name, ImageID: p.ImageID, Flavour: p.Flavour,
		VCPU: p.VCPU, MemoryMiB: p.MemoryMiB, DiskGiB: p.DiskGiB, Desired: d}.Validate()
}

// SetWorkstationRun starts or stops a workstation.
type SetWorkstationRun struct {
	ID      string       `json:"id"`
	Desired DesiredState `json:"desired"`
}

// Validate checks the fields.
func (p SetWorkstationRun) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if p.Desired != DesiredRunning && p.Desired != DesiredStopped {
		return FieldError("desired", "must be running or stopped")
	}
	return nil
}

// DeleteWorkstation marks a workstation for deletion; the record goes when a
// reconciler reports it gone.
type DeleteWorkstation struct {
	ID string `json:"id"`
}

// Validate checks the ID.
func (p DeleteWorkstation) Validate() error { return checkID("id", p.ID) }

// ReportWorkstation is a reconciler's observation (system actor only).
type ReportWorkstation struct {
	ID     string        `json:"id"`
	State  ObservedState `json:"state"`
	Reason string        `json:"reason,omitempty"`
}

// Validate checks the fields.
func (p ReportWorkstation) Validate() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	switch p.State {
	case ObservedPending, ObservedRunning, ObservedStopped, ObservedFailed, ObservedDeleting, ObservedGone:
	default:
		return FieldError("state", "unknown observed state %q", p.State)
	}
	return checkText("reason", p.Reason, MaxTextLen, false, true)
}

// DesktopGrant is an authorised desktop session: what the desktop proxy
// enforces for its lifetime.
type DesktopGrant struct {
	WorkstationID string
	ProjectID     string
	SessionID     string // names the session on the workstation's record (its idle clock)
	AllowPaste    bool   // the project's tier allows browser-to-guest clipboard
	BreakGlass    bool   // an admin's audited emergency access
}
