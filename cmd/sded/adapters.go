package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/reconcile"
	"github.com/sded/sded/hypervisor"
	"github.com/sded/sded/hypervisor/seed"
	"github.com/sded/sded/network"
	"github.com/sded/sded/network/dhcp"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/sharedfs"
)

// The adapters below connect the reconciler's consumer-declared ports to the
// concrete drivers. Compile-time checks:
var (
	_ reconcile.Desired  = (*cluster.Service)(nil)
	_ reconcile.Reporter = (*cluster.Service)(nil)
	_ reconcile.Networks = (*networkAdapter)(nil)
	_ reconcile.Volumes  = (*volumeAdapter)(nil)
	_ reconcile.Domains  = (*domainAdapter)(nil)
)

// networkAdapter turns project networks into the network package's Config
// and keeps the DHCP servers in step.
type networkAdapter struct {
	m           *network.Manager
	dhcp        *dhcp.Pool
	airlockPort uint16
	// onApplied, if set, hears of the gateway addresses after each Set (the
	// airlock gateway listens on them).
	onApplied func(ctx context.Context, nets []reconcile.ProjectNetwork)
}

func (a *networkAdapter) config(nets []reconcile.ProjectNetwork) (network.Config, error) {
	var cfg network.Config
	for _, n := range nets {
		nn := network.Network{ID: n.ProjectID, Subnet: n.Subnet, Gateway: n.Gateway, IsolateWorkstations: n.Isolate,
			GatewayTCPPorts: []uint16{a.airlockPort}}
		for _, e := range n.Egress {
			allow, err := allowFor(e)
			if err != nil {
				return cfg, fmt.Errorf("project %s: %w", n.ProjectID, err)
			}
			nn.Allow = append(nn.Allow, allow)
		}
		for _, l := range n.Leases {
			mac, err := net.ParseMAC(l.MAC)
			if err != nil {
				return cfg, fmt.Errorf("project %s: lease %s: %w", n.ProjectID, l.MAC, err)
			}
			nn.Hosts = append(nn.Hosts, network.Host{MAC: mac, IP: l.IP, Hostname: hostLabel(l.Hostname)})
		}
		cfg.Networks = append(cfg.Networks, nn)
	}
	return cfg, nil
}

func (a *networkAdapter) Set(ctx context.Context, nets []reconcile.ProjectNetwork) error {
	cfg, err := a.config(nets)
	if err != nil {
		return err
	}
	if err := a.m.Set(ctx, cfg); err != nil {
		return err
	}
	if err := a.dhcp.Set(ctx, network.DHCPConfigs(cfg)); err != nil {
		return fmt.Errorf("starting DHCP servers: %w", err)
	}
	if a.onApplied != nil {
		a.onApplied(ctx, nets)
	}
	return nil
}

func (a *networkAdapter) Drift(ctx context.Context, nets []reconcile.ProjectNetwork) ([]string, error) {
	cfg, err := a.config(nets)
	if err != nil {
		return nil, err
	}
	drift, err := a.m.Check(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(drift))
	for i, d := range drift {
		out[i] = d.String()
	}
	return out, nil
}

func (a *networkAdapter) Bridge(projectID string) string { return network.BridgeName(projectID) }

// stopGrace is how long a workstation may take to shut down cleanly after
// the reconciler pressed its power button.
const stopGrace = 30 * time.Second

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("allowlist entry %q: %w", s, err)
	}
	return p.Masked(), nil
}

func allowFor(e model.EgressRule) (network.Allow, error) {
	p, err := parsePrefix(e.CIDR)
	if err != nil {
		return network.Allow{}, err
	}
	return network.Allow{CIDR: p, Proto: e.Proto, Port: uint16(e.Port)}, nil
}

// volumeAdapter derives per-volume secrets from the project's data key and
// creates encrypted volumes with the storage package.
type volumeAdapter struct {
	v      *storage.Volumes
	shared *sharedfs.Dirs
	kek    *storage.KEK
	dir    string // cloud-init seeds
	mu     sync.Mutex
	// locked holds the projects whose shared folder this adapter locked
	// and has not unlocked since: the reconciler asks every pass, the
	// filesystem is asked once.
	locked map[string]bool
}

func (a *volumeAdapter) dek(projectID string, wrapped []byte) (*storage.DEK, error) {
	d, err := a.kek.Unwrap(projectID, wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrapping the data key of project %s: %w", projectID, err)
	}
	return d, nil
}

func (a *volumeAdapter) EnsureProject(ctx context.Context, projectID string, wrapped []byte) (reconcile.ProjectVolumes, error) {
	dek, err := a.dek(projectID, wrapped)
	if err != nil {
		return reconcile.ProjectVolumes{}, err
	}
	ds := dek.VolumeSecret(storage.DataVolumeName)
	data, err := a.v.EnsureProject(ctx, projectID, ds)
	if err != nil {
		return reconcile.ProjectVolumes{}, err
	}
	vols := reconcile.ProjectVolumes{Data: reconcile.Volume{Path: data, Secret: ds}}
	key := dek.SharedFolderKey()
	defer clear(key)
	a.setLocked(projectID, false)
	vols.SharedDir, err = a.shared.Unlock(ctx, projectID, key)
	if errors.Is(err, sharedfs.ErrUnsupported) {
		// Workstations still run, without a shared folder, and say why.
		vols.SharedUnavailable = err.Error()
		return vols, nil
	}
	if err != nil {
		return reconcile.ProjectVolumes{}, err
	}
	return vols, nil
}

func (a *volumeAdapter) LockShared(ctx context.Context, projectID string) error {
	a.mu.Lock()
	done := a.locked[projectID]
	a.mu.Unlock()
	if done {
		return nil
	}
	_, err := a.shared.Lock(ctx, projectID)
	if errors.Is(err, sharedfs.ErrUnsupported) {
		err = nil // nothing was ever unlocked there
	}
	if err == nil {
		a.setLocked(projectID, true)
	}
	return err
}

func (a *volumeAdapter) setLocked(projectID string, locked bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.locked == nil {
		a.locked = map[string]bool{}
	}
	if locked {
		a.locked[projectID] = true
	} else {
		delete(a.locked, projectID)
	}
}

func (a *volumeAdapter) EnsureDisk(ctx context.Context, d reconcile.DiskSpec, wrapped []byte) (reconcile.Volume, error) {
	dek, err := a.dek(d.ProjectID, wrapped)
	if err != nil {
		return reconcile.Volume{}, err
	}
	secret := dek.VolumeSecret("ws-" + d.WorkstationID)
	path := a.v.OverlayPath(d.ProjectID, d.WorkstationID)
	if _, err := os.Stat(path); err == nil {
		return reconcile.Volume{Path: path, Secret: secret}, nil
	}
	path, err = a.v.CreateOverlay(ctx, d.ProjectID, d.WorkstationID, storage.Image{Path: d.Image.Path, Format: string(d.Image.Format)}, int64(d.SizeGiB)<<30, secret)
	if err != nil {
		return reconcile.Volume{}, err
	}
	return reconcile.Volume{Path: path, Secret: secret}, nil
}

func (a *volumeAdapter) DeleteDisk(ctx context.Context, workstationID string) error {
	if err := os.Remove(filepath.Join(a.dir, workstationID+".img")); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing seed: %w", err)
	}
	return a.v.RemoveWorkstation(ctx, workstationID)
}

func (a *volumeAdapter) DeleteProject(ctx context.Context, projectID string) error {
	a.setLocked(projectID, false)
	if err := a.shared.Delete(ctx, projectID); err != nil && !errors.Is(err, sharedfs.ErrUnsupported) {
		return err
	}
	return a.v.RemoveProject(ctx, projectID)
}

// Seed writes the cloud-init NoCloud seed: hostname, the researcher's
// account, the project volumes' mounts, the network and the airlock address.
func (a *volumeAdapter) Seed(_ context.Context, s reconcile.SeedSpec) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := mkdirReachable(a.dir); err != nil {
		return "", fmt.Errorf("creating seed directory: %w", err)
	}
	host := hostLabel(s.Hostname)
	ud, err := seed.UserData(seed.Personalisation{
		Hostname: host,
		Accounts: []seed.Account{{Name: s.Username, Gecos: s.DisplayName}},
		Mounts:   []seed.Mount{{Serial: "sded-data", Dir: "/mnt/data", ReadOnly: true}},
		Shares:   []seed.Share{{Tag: reconcile.SharedTag, Dir: "/mnt/shared"}},
	})
	if err != nil {
		return "", err
	}
	netcfg := fmt.Sprintf("version: 2\nethernets:\n  eth0:\n    match:\n      name: \"e*\"\n    addresses: [%s]\n    routes: []\n", s.IP)
	path := filepath.Join(a.dir, s.WorkstationID+".img")
	err = seed.Write(path, seed.Config{InstanceID: s.WorkstationID, Hostname: host, UserData: ud, NetworkConfig: []byte(netcfg),
		Files: map[string][]byte{
			"sded-airlock": []byte(s.AirlockURL + "\n"), "sded-gateway": []byte(s.Gateway.String() + "\n"),
			// Read by sded's test guest only: keep running with a console
			// prompt, and take the address from sded's DHCP server.
			"sded-env": []byte("SDED_MODE=stay\nSDED_NET=dhcp\n"),
		}})
	if err != nil {
		return "", err
	}
	return path, nil
}

// mkdirReachable makes a directory QEMU may pass through but not list.
func mkdirReachable(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	return os.Chmod(dir, 0o711)
}

// hostLabel makes a workstation name a DNS label.
func hostLabel(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 63 {
		s = strings.Trim(s[:63], "-")
	}
	if s == "" {
		s = "workstation"
	}
	return s
}

// domainAdapter builds hypervisor specs for workstations.
type domainAdapter struct {
	hv     *hypervisor.Driver
	typ    hypervisor.Type
	runDir string // serial logs
}

func (a *domainAdapter) Ensure(ctx context.Context, s reconcile.DomainSpec) error {
	if err := mkdirReachable(a.runDir); err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	spec := hypervisor.Spec{
		Name: s.Name, UUID: domainUUID(s.WorkstationID), Type: a.typ, VCPU: s.VCPU, MemoryMiB: s.MemoryMiB,
		Kernel: s.Image.Kernel, Initrd: s.Image.Initrd, Cmdline: s.Image.Cmdline,
		Seed:      s.Seed,
		NIC:       &hypervisor.NIC{Bridge: s.Bridge, MAC: s.MAC, Target: portName(s.MAC), Filter: "clean-traffic", FilterParams: map[string]string{"IP": s.IP}},
		SerialLog: filepath.Join(a.runDir, s.Name+".serial.log"),
		Labels:    map[string]string{"project": s.ProjectID, "workstation": s.WorkstationID},
	}
	for _, d := range s.Disks {
		spec.Disks = append(spec.Disks, hypervisor.Disk{Path: d.Path, Format: hypervisor.FormatQCOW2, Serial: d.Serial, SecretUUID: d.SecretUUID, ReadOnly: d.ReadOnly})
	}
	if s.SharedDir != "" {
		spec.Shares = []hypervisor.Share{{Dir: s.SharedDir, Tag: reconcile.SharedTag}}
	}
	return a.hv.Ensure(ctx, spec)
}

func portName(mac string) string {
	m, err := net.ParseMAC(mac)
	if err != nil {
		return ""
	}
	return network.PortName(m)
}

func (a *domainAdapter) Shutdown(ctx context.Context, name string) error {
	return a.hv.Shutdown(ctx, name)
}

// Stop forces the domain off: the reconciler has given the guest its grace
// after Shutdown already.
func (a *domainAdapter) Stop(ctx context.Context, name string) error {
	return a.hv.Stop(ctx, name, 0)
}

func (a *domainAdapter) Delete(ctx context.Context, name string) error { return a.hv.Delete(ctx, name) }

func (a *domainAdapter) List(ctx context.Context) (map[string]reconcile.DomainState, error) {
	infos, err := a.hv.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]reconcile.DomainState, len(infos))
	for _, i := range infos {
		out[i.Name] = reconcile.DomainState{Running: i.State == hypervisor.StateRunning, Reason: string(i.State)}
	}
	return out, nil
}

func (a *domainAdapter) SetSecret(ctx context.Context, uuid, usage string, value []byte) error {
	return a.hv.SetSecret(ctx, uuid, usage, value)
}

func (a *domainAdapter) RemoveSecret(ctx context.Context, uuid string) error {
	return a.hv.RemoveSecret(ctx, uuid)
}

// domainUUID derives a workstation's domain UUID from its ID.
func domainUUID(id string) string {
	h := sha256.Sum256([]byte("sded-domain:" + id))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
