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

// DiskSpec describes a workstation's encrypted overlay disk.
type DiskSpec struct {
	WorkstationID string
	ProjectID     string
	Image         model.Image
	SizeGiB       int
}

// Volume is an encrypted disk image and the secret that unlocks it.
type Volume struct {
	Path   string
	Secret []byte
}

// ProjectVolumes are a project's shared storage.
type ProjectVolumes struct {
	// SharedDir is the project's writable shared folder, handed to every
	// running workstation of the project (virtiofs, tag sded-shared). It is
	// encrypted at rest and unlocked while it is in use. Empty when this
	// host cannot give one: SharedUnavailable then says why, and the
	// workstations run without it (never with an unencrypted folder).
	SharedDir         string
	SharedUnavailable string
	Data              Volume // read-only, filled by the airlock
}

// Volumes manages encrypted volumes. Keys arrive wrapped; only the
// implementation holds the key-encryption key.
type Volumes interface {
	EnsureProject(ctx context.Context, projectID string, wrappedKey []byte) (ProjectVolumes, error)
	EnsureDisk(ctx context.Context, d DiskSpec, wrappedKey []byte) (Volume, error)
	DeleteDisk(ctx context.Context, workstationID string) error
	DeleteProject(ctx context.Context, projectID string) error
	// LockShared locks the project's shared folder when no workstation of
	// the project runs here (its contents are then unreadable on the host).
	LockShared(ctx context.Context, projectID string) error
	// Seed writes the workstation's cloud-init NoCloud seed and returns its path.
	Seed(ctx context.Context, s SeedSpec) (string, error)
}

// SeedSpec personalises a workstation through cloud-init NoCloud.
type SeedSpec struct {
	WorkstationID string
	Hostname      string
	Username      string
	DisplayName   string
	IP            netip.Prefix
	Gateway       netip.Addr
	AirlockURL    string
}

// DomainDisk is one disk of a domain.
type DomainDisk struct {
	Path       string
	Serial     string // the guest sees /dev/disk/by-id/virtio-SERIAL
	SecretUUID string // the libvirt secret that unlocks it
	ReadOnly   bool
}

// DomainSpec is what the hypervisor needs to run a workstation.
type DomainSpec struct {
	WorkstationID string
	ProjectID     string
	Name          string // libvirt domain name
	VCPU          int
	MemoryMiB     int
	Image         model.Image
	Disks         []DomainDisk // the workstation disk first
	SharedDir     string       // the project's shared folder; empty: none
	Seed          string
	Bridge        string
	MAC           string
	IP            string
}

// DomainState is what libvirt reports of a domain.
type DomainState struct {
	Running bool
	Reason  string
}

// Domains runs workstations as libvirt domains, touching only sded's own.
type Domains interface {
	Ensure(ctx context.Context, s DomainSpec) error
	// Shutdown asks the guest to power off (ACPI power button) and returns
	// at once; a stopped or missing domain is fine.
	Shutdown(ctx context.Context, name string) error
	// Stop forces the domain off now; a stopped or missing domain is fine.
	Stop(ctx context.Context, name string) error
	Delete(ctx context.Context, name string) error
	List(ctx context.Context) (map[string]DomainState, error)
	SetSecret(ctx context.Context, uuid, usage string, value []byte) error
	RemoveSecret(ctx context.Context, uuid string) error
}
