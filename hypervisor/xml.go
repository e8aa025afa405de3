package hypervisor

import (
	"fmt"
	"sort"

	"libvirt.org/go/libvirtxml"
)

// DomainXML renders s as libvirt domain XML. The domain has: virtio disks
// (LUKS-encrypted qcow2 when a disk names a secret), a read-only seed disk, a
// virtio NIC with a fixed MAC on a bridge (optionally behind an nwfilter),
// virtiofs shares (with memfd shared memory), VNC graphics on a unix socket
// only, a VGA display, a USB tablet for the pointer, a
// serial console on a pty logged to a file, a virtio RNG, and no memory
// balloon, sound, USB redirection, SPICE or guest-agent channels.
func DomainXML(s Spec) (string, error) {
	return domainXML(s, "")
}

// domainXML renders s for a Driver whose scope key is scope.
func domainXML(s Spec, scope string) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	meta, err := metadataXML(s.Labels, specHash(s), scope)
	if err != nil {
		return "", err
	}
	dom := &libvirtxml.Domain{
		Type:        string(s.Type),
		Name:        s.Name,
		UUID:        s.UUID,
		Description: "managed by sded; do not edit",
		Metadata:    &libvirtxml.DomainMetadata{XML: meta},
		Memory:      &libvirtxml.DomainMemory{Value: uint(s.MemoryMiB), Unit: "MiB"},
		VCPU:        &libvirtxml.DomainVCPU{Placement: "static", Value: uint(s.VCPU)},
		OnPoweroff:  "destroy",
		OnReboot:    "restart",
		OnCrash:     "destroy",
		Features:    &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		Clock:       &libvirtxml.DomainClock{Offset: "utc"},
		OS:          &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"}},
		Devices:     &libvirtxml.DomainDeviceList{},
	}
	if len(s.Shares) > 0 {
		// virtiofsd reads the guest's memory: it must be shared.
		dom.MemoryBacking = &libvirtxml.DomainMemoryBacking{
			MemorySource: &libvirtxml.DomainMemorySource{Type: "memfd"},
			MemoryAccess: &libvirtxml.DomainMemoryAccess{Mode: "shared"},
		}
	}
	if s.Type == TypeKVM {
		dom.CPU = &libvirtxml.DomainCPU{Mode: "host-passthrough"}
	}
	if s.Kernel != "" {
		dom.OS.Kernel, dom.OS.Initrd, dom.OS.Cmdline = s.Kernel, s.Initrd, s.Cmdline
	} else {
		dom.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
	}
	dev := dom.Devices
	for i, d := range s.Disks {
		dev.Disks = append(dev.Disks, disk(d, i))
	}
	if s.Seed != "" {
		dev.Disks = append(dev.Disks, disk(Disk{Path: s.Seed, Format: FormatRaw, Serial: "cidata", ReadOnly: true}, len(s.Disks)))
	}
	for _, sh := range s.Shares {
		dev.Filesystems = append(dev.Filesystems, libvirtxml.DomainFilesystem{
			AccessMode: "passthrough",
			Driver:     &libvirtxml.DomainFilesystemDriver{Type: "virtiofs"},
			Source:     &libvirtxml.DomainFilesystemSource{Mount: &libvirtxml.DomainFilesystemSourceMount{Dir: sh.Dir}},
			Target:     &libvirtxml.DomainFilesystemTarget{Dir: sh.Tag},
		})
	}
	if s.NIC != nil {
		dev.Interfaces = []libvirtxml.DomainInterface{nic(*s.NIC)}
	}
	port := uint(0)
	dev.Serials = []libvirtxml.DomainSerial{{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainSerialTarget{Port: &port},
		Log:    &libvirtxml.DomainChardevLog{File: s.SerialLog, Append: "off"},
	}}
	dev.Consoles = []libvirtxml.DomainConsole{{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
	}}
	// VNC on a unix socket only: with an empty path libvirt picks one in its
	// per-domain directory; there is never a TCP port.
	vnc := &libvirtxml.DomainGraphicVNC{
		Socket:    s.VNCSocket,
		Listeners: []libvirtxml.DomainGraphicListener{{Socket: &libvirtxml.DomainGraphicListenerSocket{Socket: s.VNCSocket}}},
	}
	dev.Graphics = []libvirtxml.DomainGraphic{{VNC: vnc}}
	dev.Videos = []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "vga", Primary: "yes"}}}
	dev.Inputs = []libvirtxml.DomainInput{{Type: "tablet", Bus: "usb"}}
	dev.Controllers = []libvirtxml.DomainController{{Type: "usb", Model: "piix3-uhci"}}
	dev.Audios = []libvirtxml.DomainAudio{{ID: 1, None: &libvirtxml.DomainAudioNone{}}}
	// No balloon: memory is a fixed flavour, and a balloon driver would let the
	// host reclaim memory behind the guest's back and expose guest statistics.
	dev.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	dev.RNGs = []libvirtxml.DomainRNG{{
		Model:   "virtio",
		Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}},
	}}
	out, err := dom.Marshal()
	if err != nil {
		return "", fmt.Errorf("rendering domain %s: %w", s.Name, err)
	}
	return out, nil
}

func disk(d Disk, i int) libvirtxml.DomainDisk {
	out := libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: d.Format, Discard: "unmap"},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.Path}},
		Target: &libvirtxml.DomainDiskTarget{Dev: diskDev(i), Bus: "virtio"},
		Serial: d.Serial,
	}
	if d.ReadOnly {
		out.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
		out.Driver.Discard = ""
	}
	if d.SecretUUID != "" {
		out.Source.Encryption = &libvirtxml.DomainDiskEncryption{
			Format:  "luks",
			Secrets: []libvirtxml.DomainDiskSecret{{Type: "passphrase", UUID: d.SecretUUID}},
		}
	}
	return out
}

// diskDev is the i-th virtio disk name: vda ... vdz (Validate caps disks at 20, plus the seed).
func diskDev(i int) string {
	return "vd" + string(rune('a'+i))
}

func nic(n NIC) libvirtxml.DomainInterface {
	out := libvirtxml.DomainInterface{
		MAC:    &libvirtxml.DomainInterfaceMAC{Address: n.MAC},
		Source: &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}},
		Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
	}
	if n.Target != "" {
		out.Target = &libvirtxml.DomainInterfaceTarget{Dev: n.Target}
	}
	if n.Filter != "" {
		ref := &libvirtxml.DomainInterfaceFilterRef{Filter: n.Filter}
		keys := make([]string, 0, len(n.FilterParams))
		for k := range n.FilterParams {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ref.Parameters = append(ref.Parameters, libvirtxml.DomainInterfaceFilterParam{Name: k, Value: n.FilterParams[k]})
		}
		out.FilterRef = ref
	}
	return out
}
