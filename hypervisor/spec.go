package hypervisor

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
)

// NamePrefix starts the name of every libvirt object sded owns.
const NamePrefix = "sded-"

// Type is the libvirt domain type: hardware virtualisation or emulation.
type Type string

const (
	// TypeKVM runs the guest with hardware virtualisation (/dev/kvm).
	TypeKVM Type = "kvm"
	// TypeQEMU runs the guest under QEMU's TCG emulator: slow, works anywhere.
	TypeQEMU Type = "qemu"
)

// Disk formats a Disk may have.
const (
	FormatQCOW2 = "qcow2"
	FormatRaw   = "raw"
)

// Spec is everything sded decides about one domain.
type Spec struct {
	// Name is the libvirt domain name; it must start with NamePrefix.
	Name string
	// UUID is the domain UUID (canonical lower-case form).
	UUID string
	// Type chooses kvm or qemu (TCG).
	Type Type
	// VCPU is the number of virtual CPUs (1-64).
	VCPU int
	// MemoryMiB is the guest memory in MiB (64-1048576).
	MemoryMiB int
	// Kernel, Initrd and Cmdline boot a kernel directly; with Kernel empty
	// the guest boots from its first disk.
	Kernel, Initrd, Cmdline string
	// Disks are attached as virtio disks vda, vdb, ... in order.
	Disks []Disk
	// Seed is an optional cloud-init NoCloud seed image (raw), attached
	// read-only after the disks.
	Seed string
	// Shares are host directories handed to the guest with virtiofs (libvirt
	// starts a virtiofsd per share); the guest mounts each by its tag:
	// mount -t virtiofs TAG DIR. A domain with shares has shared memory
	// (memfd), which virtiofs needs.
	Shares []Share
	// NIC is the optional network interface.
	NIC *NIC
	// SerialLog is the file the serial console is logged to (absolute).
	SerialLog string
	// VNCSocket is the unix socket the VNC console listens on (absolute); its
	// directory must be writable by QEMU's user (Ensure creates it for
	// libvirt-qemu or qemu). Empty lets libvirt place the socket in its own
	// per-domain directory; either way Driver.ConsolePath finds it. The
	// graphics never listen on TCP.
	VNCSocket string
	// Labels are free-form ownership markers stored in sded's metadata
	// element (for example project and workstation IDs).
	Labels map[string]string
}

// Disk is one virtio disk.
type Disk struct {
	// Path is the image file (absolute).
	Path string
	// Format is FormatQCOW2 or FormatRaw.
	Format string
	// Serial identifies the disk inside the guest (/sys/block/vdX/serial);
	// optional, at most 20 of letters, digits, '-', '_'.
	Serial string
	// SecretUUID names the libvirt secret holding the LUKS passphrase of an
	// encrypted qcow2; empty for a plain disk.
	SecretUUID string
	// ReadOnly attaches the disk read-only.
	ReadOnly bool
}

// Share is one host directory shared with the guest over virtiofs.
type Share struct {
	// Dir is the host directory (absolute).
	Dir string
	// Tag names the share inside the guest; at most 20 of letters, digits,
	// '-', '_'.
	Tag string
}

// NIC is a virtio network interface on a host bridge.
type NIC struct {
	// Bridge is the host bridge to attach to.
	Bridge string
	// MAC is the fixed MAC address (unicast).
	MAC string
	// Target optionally names the host side of the NIC (the tap device), so
	// the network layer can recognise the port; empty lets libvirt pick
	// vnetN. At most 15 characters; must not start with "vnet" or "macvtap".
	Target string
	// Filter optionally names a libvirt nwfilter (e.g. "clean-traffic").
	Filter string
	// FilterParams are the filter's parameters (e.g. IP).
	FilterParams map[string]string
}

var (
	nameRE   = regexp.MustCompile(`^sded-[a-z0-9][a-z0-9-]{0,58}$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	serialRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,20}$`)
	bridgeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	labelRE  = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,62}$`)
	filterRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	paramRE  = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,31}$`)
)

// Validate reports the first problem with s, naming the field, the bad value
// and what is allowed. It checks values only; Driver.Ensure also checks that
// the files exist.
func (s Spec) Validate() error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("spec name %q: want %q followed by 1-59 of a-z, 0-9, '-'", s.Name, NamePrefix)
	}
	if !uuidRE.MatchString(s.UUID) {
		return fmt.Errorf("spec %s: uuid %q: want a lower-case canonical UUID", s.Name, s.UUID)
	}
	if s.Type != TypeKVM && s.Type != TypeQEMU {
		return fmt.Errorf("spec %s: type %q: want %q or %q", s.Name, s.Type, TypeKVM, TypeQEMU)
	}
	if s.VCPU < 1 || s.VCPU > 64 {
		return fmt.Errorf("spec %s: vcpu %d: want 1-64", s.Name, s.VCPU)
	}
	if s.MemoryMiB < 64 || s.MemoryMiB > 1<<20 {
		return fmt.Errorf("spec %s: memory %d MiB: want 64-1048576", s.Name, s.MemoryMiB)
	}
	if s.Kernel == "" && (s.Initrd != "" || s.Cmdline != "") {
		return fmt.Errorf("spec %s: initrd or cmdline without a kernel", s.Name)
	}
	if s.Kernel == "" && len(s.Disks) == 0 {
		return fmt.Errorf("spec %s: nothing to boot: want a kernel or at least one disk", s.Name)
	}
	if strings.ContainsAny(s.Cmdline, "\x00\n") {
		return fmt.Errorf("spec %s: cmdline contains a NUL or newline", s.Name)
	}
	for _, p := range []struct{ field, path string }{
		{"kernel", s.Kernel}, {"initrd", s.Initrd}, {"seed", s.Seed},
	} {
		if p.path != "" {
			if err := checkPath(p.path); err != nil {
				return fmt.Errorf("spec %s: %s: %w", s.Name, p.field, err)
			}
		}
	}
	if err := checkPath(s.SerialLog); err != nil {
		return fmt.Errorf("spec %s: serial log: %w", s.Name, err)
	}
	if s.VNCSocket != "" {
		if err := checkPath(s.VNCSocket); err != nil {
			return fmt.Errorf("spec %s: vnc socket: %w", s.Name, err)
		}
		if len(s.VNCSocket) > 107 {
			return fmt.Errorf("spec %s: vnc socket %q: longer than a unix socket path may be (107)", s.Name, s.VNCSocket)
		}
	}
	if len(s.Disks) > 20 {
		return fmt.Errorf("spec %s: %d disks: want at most 20", s.Name, len(s.Disks))
	}
	serials := map[string]bool{}
	for i, d := range s.Disks {
		if err := d.validate(); err != nil {
			return fmt.Errorf("spec %s: disk %d: %w", s.Name, i, err)
		}
		if d.Serial != "" && serials[d.Serial] {
			return fmt.Errorf("spec %s: disk %d: serial %q used twice", s.Name, i, d.Serial)
		}
		serials[d.Serial] = true
	}
	if len(s.Shares) > 8 {
		return fmt.Errorf("spec %s: %d shares: want at most 8", s.Name, len(s.Shares))
	}
	tags := map[string]bool{}
	for i, sh := range s.Shares {
		if err := checkPath(sh.Dir); err != nil {
			return fmt.Errorf("spec %s: share %d: %w", s.Name, i, err)
		}
		if !serialRE.MatchString(sh.Tag) {
			return fmt.Errorf("spec %s: share %d: tag %q: want 1-20 of letters, digits, '-', '_'", s.Name, i, sh.Tag)
		}
		if tags[sh.Tag] {
			return fmt.Errorf("spec %s: share %d: tag %q used twice", s.Name, i, sh.Tag)
		}
		tags[sh.Tag] = true
	}
	if s.NIC != nil {
		if err := s.NIC.validate(); err != nil {
			return fmt.Errorf("spec %s: nic: %w", s.Name, err)
		}
	}
	for k, v := range s.Labels {
		if err := checkLabel(k, v); err != nil {
			return fmt.Errorf("spec %s: %w", s.Name, err)
		}
	}
	return nil
}

func checkLabel(k, v string) error {
	if !labelRE.MatchString(k) {
		return fmt.Errorf("label key %q: want a-z first, then up to 62 of a-z, 0-9, '_', '.', '-'", k)
	}
	if len(v) > 256 || strings.ContainsAny(v, "\x00\n") {
		return fmt.Errorf("label %s: value longer than 256 bytes or with NUL/newline", k)
	}
	return nil
}

func (d Disk) validate() error {
	if err := checkPath(d.Path); err != nil {
		return err
	}
	if d.Format != FormatQCOW2 && d.Format != FormatRaw {
		return fmt.Errorf("format %q: want %q or %q", d.Format, FormatQCOW2, FormatRaw)
	}
	if d.Serial != "" && !serialRE.MatchString(d.Serial) {
		return fmt.Errorf("serial %q: want 1-20 of letters, digits, '-', '_'", d.Serial)
	}
	if d.SecretUUID != "" {
		if !uuidRE.MatchString(d.SecretUUID) {
			return fmt.Errorf("secret uuid %q: want a lower-case canonical UUID", d.SecretUUID)
		}
		if d.Format != FormatQCOW2 {
			return fmt.Errorf("secret on a %s disk: LUKS encryption needs qcow2", d.Format)
		}
	}
	return nil
}

func (n NIC) validate() error {
	if !bridgeRE.MatchString(n.Bridge) {
		return fmt.Errorf("bridge %q: want an interface name of 1-15 of letters, digits, '_', '.', '-'", n.Bridge)
	}
	hw, err := net.ParseMAC(n.MAC)
	if err != nil || len(hw) != 6 || hw.String() != strings.ToLower(n.MAC) {
		return fmt.Errorf("mac %q: want six colon-separated hex octets", n.MAC)
	}
	if hw[0]&1 == 1 {
		return fmt.Errorf("mac %q is multicast: want a unicast address", n.MAC)
	}
	if n.Target != "" && (!bridgeRE.MatchString(n.Target) || strings.HasPrefix(n.Target, "vnet") || strings.HasPrefix(n.Target, "macvtap")) {
		return fmt.Errorf("target %q: want an interface name of 1-15 of letters, digits, '_', '.', '-' not starting with vnet or macvtap", n.Target)
	}
	if n.Filter != "" && !filterRE.MatchString(n.Filter) {
		return fmt.Errorf("filter %q: want 1-64 of letters, digits, '_', '.', ':', '-'", n.Filter)
	}
	if n.Filter == "" && len(n.FilterParams) > 0 {
		return fmt.Errorf("filter parameters without a filter")
	}
	for k, v := range n.FilterParams {
		if !paramRE.MatchString(k) {
			return fmt.Errorf("filter parameter %q: want upper-case letters, digits, '_'", k)
		}
		if v == "" || len(v) > 64 || strings.ContainsAny(v, "\x00\n'\"<>&") {
			return fmt.Errorf("filter parameter %s: value %q: want 1-64 plain characters", k, v)
		}
	}
	return nil
}

// checkPath requires a clean absolute path free of characters that have no
// business in a file name libvirt passes to QEMU.
func checkPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("path is empty")
	case !filepath.IsAbs(p):
		return fmt.Errorf("path %q is not absolute", p)
	case filepath.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (want %q)", p, filepath.Clean(p))
	case strings.ContainsAny(p, "\x00\n,:"):
		return fmt.Errorf("path %q contains a NUL, newline, ',' or ':'", p)
	}
	return nil
}
