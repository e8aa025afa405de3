package reconcile

import (
	"context"
	"net/netip"

	"github.com/sded/sded/cluster/model"
)

// The interfaces below are what the reconciler needs from the replicated
// state and from the host drivers. cmd/sded adapts the concrete drivers
// (network, storage, hypervisor) to them, so this package imports none.

// Desired reads the desired state from the local replica.
type Desired interface {
	Projects(ctx context.Context) ([]model.Project, error)
	Workstations(ctx context.Context) ([]model.Workstation, error)
	Image(ctx context.Context, id string) (model.Image, error)
	// ProjectKey returns the project's wrapped data key; not_found once the
	// project is archived and its key destroyed.
	ProjectKey(ctx context.Context, projectID string) ([]byte, error)
}

// Reporter sends observations back through raft.
type Reporter interface {
	ReportWorkstation(ctx context.Context, id string, state model.ObservedState, reason string) error
	// RecordRepair audits a repair of drift the reconciler found on the host.
	RecordRepair(ctx context.Context, object string, details map[string]string) error
}

// ProjectNetwork is the host network of one project.
type ProjectNetwork struct {
	ProjectID string
	Subnet    netip.Prefix
	Gateway   netip.Addr
	Isolate   bool
	Egress    []model.EgressRule
	Leases    []Lease
}

// Lease is a workstation's fixed address.
type Lease struct {
	MAC      string
	IP       netip.Addr
	Hostname string
}

// Networks applies the host network for every project this node serves.
type Networks interface {
	Set(ctx context.Context, nets []ProjectNetwork) error
	// Drift describes what on the host differs from nets (empty: nothing).
	Drift(ctx context.Context, nets []ProjectNetwork) ([]string, error)
	// Bridge names the bridge of a project.
	Bridge(projectID string) string
}

// Keys unwraps project data keys with the cluster key-encryption key.
type Keys interface {
	Unwrap(projectID string, wrapped []byte) ([]byte, error)
}

// DiskSpec describes a workstation's encrypted overlay disk.
type DiskSpec struct {
	WorkstationID string
	ProjectID     string
	Image         model.Image
	SizeGiB       int
}

// ProjectVolumes are the paths of a project's shared volumes.
type ProjectVolumes struct {
	Shared string // writable, shared by the project's workstations
	Data   string // read-only, filled by the airlock
}

// Volumes manages encrypted volumes.
type Volumes interface {
	EnsureProject(ctx context.Context, projectID string, key []byte) (ProjectVolumes, error)
	EnsureDisk(ctx context.Context, d DiskSpec, key []byte) (string, error)
	DeleteDisk(ctx context.Context, workstationID string) error
	DeleteProject(ctx context.Context, projectID string) error
	// Seed writes the workstation's cloud-init NoCloud seed and returns its path.
	Seed(ctx context.Context, s SeedSpec) (string, error)
}

// SeedSpec personalises a workstation through cloud-init NoCloud.
type SeedSpec struct {
	WorkstationID string
	Hostname      string
	Username      string
	IP            netip.Prefix
	Gateway       netip.Addr
	AirlockURL    string
}

// DomainSpec is what the hypervisor needs to run a workstation.
type DomainSpec struct {
	WorkstationID string
	ProjectID     string
	Name          string // libvirt domain name
	VCPU          int
	MemoryMiB     int
	Image         model.Image
	Disk          string
	Shared, Data  string
	Seed          string
	SecretUUID    string // the libvirt secret that unlocks every disk
	Bridge        string
	MAC           string
}

// DomainState is what libvirt reports of a domain.
type DomainState struct {
	Running bool
	Reason  string
}

// Domains runs workstations as libvirt domains, touching only sded's own.
type Domains interface {
	Ensure(ctx context.Context, s DomainSpec) error
	Stop(ctx context.Context, name string) error
	Delete(ctx context.Context, name string) error
	List(ctx context.Context) (map[string]DomainState, error)
	SetSecret(ctx context.Context, uuid, usage string, value []byte) error
	RemoveSecret(ctx context.Context, uuid string) error
}
