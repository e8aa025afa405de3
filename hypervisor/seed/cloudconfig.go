package seed

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Personalisation is what a real workstation image (with cloud-init) is told
// through user-data: its hostname, the researcher's account, its mounts and
// its shared folders.
type Personalisation struct {
	Hostname string
	Accounts []Account
	Mounts   []Mount
	Shares   []Share
}

// Account is a local user account created on first boot.
type Account struct {
	// Name is the login name.
	Name string
	// Gecos is the full name (optional).
	Gecos string
	// Groups are supplementary groups (optional).
	Groups []string
	// PasswordHash is a crypt(3) hash for console login (optional; the
	// account is password-locked without it).
	PasswordHash string
	// Sudo grants passwordless sudo.
	Sudo bool
}

// Mount mounts a virtio disk, found by its libvirt serial, at Dir.
type Mount struct {
	// Serial is the disk's serial (hypervisor.Disk.Serial): the guest sees it
	// as /dev/disk/by-id/virtio-SERIAL.
	Serial string
	// Dir is the absolute mount point.
	Dir string
	// FSType is the filesystem (default ext4).
	FSType string
	// ReadOnly mounts it read-only.
	ReadOnly bool
}

// Share mounts a virtiofs share (hypervisor.Share) at Dir. cloud-init's
// mounts module drops devices that are not block devices, so shares are
// written to /etc/fstab by a bootcmd, on every boot, and mounted.
type Share struct {
	// Tag is the share's virtiofs tag.
	Tag string
	// Dir is the absolute mount point.
	Dir string
}

var (
	accountRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	diskRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,20}$`)
	fsRE      = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	dirRE     = regexp.MustCompile(`^/[A-Za-z0-9/._-]{1,200}$`)
)

// UserData renders p as a #cloud-config document. Every value is written as
// a JSON string, which YAML reads as the same plain string, so no value can
// change the document's structure.
func UserData(p Personalisation) ([]byte, error) {
	if !hostnameRE.MatchString(p.Hostname) {
		return nil, fmt.Errorf("personalisation hostname %q: want a DNS label", p.Hostname)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	fmt.Fprintf(&b, "hostname: %s\n", q(p.Hostname))
	b.WriteString("preserve_hostname: false\nssh_pwauth: false\ndisable_root: true\n")
	if len(p.Accounts) == 0 {
		b.WriteString("users: []\n")
	} else {
		b.WriteString("users:\n")
	}
	for _, a := range p.Accounts {
		if !accountRE.MatchString(a.Name) {
			return nil, fmt.Errorf("personalisation account %q: want a POSIX user name", a.Name)
		}
		if strings.ContainsAny(a.Gecos, "\n\x00:") || strings.ContainsAny(a.PasswordHash, "\n\x00: ") {
			return nil, fmt.Errorf("personalisation account %s: gecos or password hash has a newline, NUL or ':'", a.Name)
		}
		fmt.Fprintf(&b, "  - name: %s\n", q(a.Name))
		if a.Gecos != "" {
			fmt.Fprintf(&b, "    gecos: %s\n", q(a.Gecos))
		}
		b.WriteString("    shell: \"/bin/bash\"\n")
		if len(a.Groups) > 0 {
			gs := make([]string, len(a.Groups))
			for i, g := range a.Groups {
				if !accountRE.MatchString(g) {
					return nil, fmt.Errorf("personalisation account %s: group %q: want a POSIX group name", a.Name, g)
				}
				gs[i] = q(g)
			}
			fmt.Fprintf(&b, "    groups: [%s]\n", strings.Join(gs, ", "))
		}
		if a.PasswordHash != "" {
			fmt.Fprintf(&b, "    lock_passwd: false\n    passwd: %s\n", q(a.PasswordHash))
		} else {
			b.WriteString("    lock_passwd: true\n")
		}
		if a.Sudo {
			b.WriteString("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n")
		}
	}
	if len(p.Mounts) > 0 {
		b.WriteString("mounts:\n")
		for _, m := range p.Mounts {
			if !diskRE.MatchString(m.Serial) {
				return nil, fmt.Errorf("personalisation mount: serial %q: want 1-20 of letters, digits, '-', '_'", m.Serial)
			}
			if !path.IsAbs(m.Dir) || path.Clean(m.Dir) != m.Dir || strings.ContainsAny(m.Dir, " \t\n\x00") || m.Dir == "/" {
				return nil, fmt.Errorf("personalisation mount %s: dir %q: want a clean absolute path without spaces, not /", m.Serial, m.Dir)
			}
			fs := m.FSType
			if fs == "" {
				fs = "ext4"
			}
			if !fsRE.MatchString(fs) {
				return nil, fmt.Errorf("personalisation mount %s: filesystem %q", m.Serial, fs)
			}
			opts := "defaults,nofail,nodev,nosuid"
			if m.ReadOnly {
				opts += ",ro"
			}
			fmt.Fprintf(&b, "  - [%s, %s, %s, %s, \"0\", \"2\"]\n",
				q("/dev/disk/by-id/virtio-"+m.Serial), q(m.Dir), q(fs), q(opts))
		}
	}
	if len(p.Shares) > 0 {
		b.WriteString("bootcmd:\n")
		for _, sh := range p.Shares {
			if !diskRE.MatchString(sh.Tag) {
				return nil, fmt.Errorf("personalisation share: tag %q: want 1-20 of letters, digits, '-', '_'", sh.Tag)
			}
			if !dirRE.MatchString(sh.Dir) || path.Clean(sh.Dir) != sh.Dir || sh.Dir == "/" {
				return nil, fmt.Errorf("personalisation share %s: dir %q: want a clean absolute path of letters, digits, '/', '.', '_', '-', not /", sh.Tag, sh.Dir)
			}
			// Tag and dir are plain words (checked above): safe in sh.
			line := sh.Tag + " " + sh.Dir + " virtiofs defaults,nofail,nodev,nosuid 0 0"
			script := fmt.Sprintf("grep -q '^%s ' /etc/fstab || echo '%s' >>/etc/fstab; mkdir -p %s; mountpoint -q %s || mount %s || true",
				sh.Tag, line, sh.Dir, sh.Dir, sh.Dir)
			fmt.Fprintf(&b, "  - [\"sh\", \"-c\", %s]\n", q(script))
		}
	}
	return []byte(b.String()), nil
}
