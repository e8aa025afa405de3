package packaging

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unitSettings reads a systemd unit into section.key -> values (in order).
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
		default:
			k, v, _ := strings.Cut(l, "=")
			got[section+"."+k] = append(got[section+"."+k], v)
		}
	}
	return got
}

// The settings the unit must carry, and why (see also docs/install.md).
func TestUnitSettings(t *testing.T) {
	u := unitSettings(t, filepath.Join(repoRoot(t), "packaging/sded.service"))
	for _, tc := range []struct {
		key  string
		want []string
		why  string
	}{
		{"Service.Type", []string{"notify"}, "systemd waits for READY=1, sent once the node serves"},
		{"Service.ExecStart", []string{"/usr/bin/sded serve --config /etc/sded/sded.conf"}, "the packaged binary and conffile"},
		{"Service.Restart", []string{"on-failure"}, "a crashed node comes back"},
		{"Service.KillMode", []string{"mixed"}, "SIGTERM to sded only; workstations live in libvirt's cgroup anyway"},
		{"Service.ProtectSystem", []string{"strict"}, "read-only file system except the state directory"},
		{"Service.StateDirectory", []string{"sded"}, "/var/lib/sded writable"},
		{"Service.StateDirectoryMode", []string{"0711"}, "root's; QEMU may pass through to disks, secrets are in 0700 subdirectories"},
		{"Service.ProtectHome", []string{"yes"}, "sded never reads home directories"},
		{"Service.PrivateTmp", []string{"yes"}, "no shared /tmp"},
		{"Service.NoNewPrivileges", []string{"yes"}, "no setuid escalation through helpers"},
		{"Service.CapabilityBoundingSet", []string{"CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE"}, "only what sded uses, each justified in the unit"},
		{"Service.RestrictAddressFamilies", []string{"AF_UNIX AF_INET AF_INET6 AF_NETLINK"}, "libvirt socket, IP, netlink"},
		{"Service.SystemCallFilter", []string{"@system-service", "~@resources @obsolete"}, "allow-list of system calls"},
		{"Service.UMask", []string{"0022"}, "sded sets secrets' modes itself; QEMU must reach volume directories"},
		{"Unit.After", []string{"network-online.target libvirtd.service virtqemud.service virtproxyd.service"}, "ordered after libvirt and the network"},
		{"Unit.Wants", []string{"network-online.target"}, "pulled in without dying with it (libvirtd: Debian drop-in)"},
		{"Install.WantedBy", []string{"multi-user.target"}, "enabled by the admin, once configured"},
	} {
		if diff := cmp.Diff(tc.want, u[tc.key]); diff != "" {
			t.Errorf("%s (%s) (-want +got):\n%s", tc.key, tc.why, diff)
		}
	}
	// Stopping sded must not tear anything down: no stop commands, and the
	// whole-cgroup kill mode (which would also SIGTERM helpers mid-write) is not used.
	for _, k := range []string{"Service.ExecStop", "Service.ExecStopPost"} {
		if v, ok := u[k]; ok {
			t.Errorf("%s = %v: stopping sded must leave workstations and networks running", k, v)
		}
	}
	for _, forbidden := range []string{"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_SETUID"} {
		if slices.ContainsFunc(u["Service.CapabilityBoundingSet"], func(s string) bool { return strings.Contains(s, forbidden) }) {
			t.Errorf("CapabilityBoundingSet grants %s", forbidden)
		}
	}
}

// systemd-analyze security rates the unit "OK" (exposure at most 4.0). The
// score and every remaining exposure are logged; docs/install.md explains them.
func TestUnitSecurityScore(t *testing.T) {
	requireTools(t, "systemd-analyze")
	unit := filepath.Join(repoRoot(t), "packaging/sded.service")
	out := run(t, nil, "systemd-analyze", "security", "--offline=true", "--no-pager", unit)
	m := regexp.MustCompile(`Overall exposure level for sded\.service: ([0-9.]+) (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "✗") {
			open = append(open, strings.Join(strings.Fields(l), " "))
		}
	}
	t.Logf("systemd-analyze security: exposure %.1f %s; remaining:\n%s", score, m[2], strings.Join(open, "\n"))
	if score > 4.0 {
		t.Errorf("exposure level %.1f > 4.0 (OK)", score)
	}
}

// Every maintainer script is valid POSIX sh (Debian runs them with dash).
func TestMaintainerScriptsSyntax(t *testing.T) {
	sh := "/bin/sh"
	if _, err := os.Stat("/bin/dash"); err == nil {
		sh = "/bin/dash"
	}
	scripts, err := filepath.Glob(filepath.Join(repoRoot(t), "packaging/scripts/*/*"))
	if err != nil || len(scripts) != 6 {
		t.Fatalf("want 6 maintainer scripts, found %v (%v)", scripts, err)
	}
	for _, s := range scripts {
		if out, err := runErr(nil, sh, "-n", s); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
	}
}
