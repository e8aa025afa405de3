package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// preflight checks what `sded serve` needs from the host and says what to
// install or run when something is missing.
func preflight(cfg *Config) error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("sded serve must run as root (it manages bridges, iptables and libvirt domains): run it with sudo, or through the systemd unit (systemctl start sded)"))
	}
	if strings.HasSuffix(cfg.Hypervisor.URI, "/system") {
		if _, err := os.Stat("/run/libvirt/libvirt-sock"); err != nil {
			errs = append(errs, errors.New("libvirtd is not running (no /run/libvirt/libvirt-sock): install it with `apt-get install libvirt-daemon-system qemu-system-x86` (Debian/Ubuntu) or `dnf install libvirt qemu-kvm` (RHEL/Rocky), then `systemctl start libvirtd` (or `libvirtd -d` without systemd)"))
		}
	}
	for _, tool := range []struct{ bin, pkg string }{
		{"qemu-img", "qemu-utils (Debian) / qemu-img (RHEL)"},
		{"iptables", "iptables (Debian) / iptables-nft (RHEL)"},
		{"ip6tables", "iptables (Debian) / iptables-nft (RHEL)"},
	} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			errs = append(errs, fmt.Errorf("%s not found: install %s", tool.bin, tool.pkg))
		}
	}
	if cfg.Hypervisor.DomainType == "kvm" {
		if _, err := os.Stat("/dev/kvm"); err != nil {
			errs = append(errs, errors.New("hypervisor.domain_type = kvm but /dev/kvm is absent: enable virtualisation in the firmware and load kvm_intel or kvm_amd, or set domain_type = qemu (slow software emulation)"))
		}
	}
	return errors.Join(errs...)
}
