package packaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRPMFiles(t *testing.T) {
	requireTools(t, "rpm")
	rpm := buildPackage(t, "rpm", newVersion)
	files := strings.Fields(run(t, nil, "rpm", "-qpl", rpm))
	want := []string{
		"/etc/sded",
		"/etc/sded/sded.conf",
		"/usr/bin/sded",
		"/usr/lib/systemd/system/sded.service",
		"/usr/share/doc/sded/examples/sded.conf",
		"/usr/share/doc/sded/install.md",
		"/usr/share/licenses/sded/copyright",
		"/usr/share/man/man8/sded.8.gz",
		"/var/lib/sded",
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("rpm -qpl (-want +got):\n%s", diff)
	}

	// Modes and flags: c = config, n = noreplace, d = doc, l = license.
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(run(t, nil, "rpm", "-qp", "--qf", `[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} <%{FILEFLAGS:fflags}> %{FILENAMES}\n]`, rpm)), "\n") {
		f := strings.Fields(l)
		got[f[len(f)-1]] = strings.Join(f[:len(f)-1], " ")
	}
	wantModes := map[string]string{
		"/etc/sded":                              "drwxr-x--- root:root <>",
		"/etc/sded/sded.conf":                    "-rw-r----- root:root <cn>",
		"/usr/bin/sded":                          "-rwxr-xr-x root:root <>",
		"/usr/lib/systemd/system/sded.service":   "-rw-r--r-- root:root <>",
		"/usr/share/doc/sded/examples/sded.conf": "-rw-r--r-- root:root <d>",
		"/usr/share/doc/sded/install.md":         "-rw-r--r-- root:root <d>",
		"/usr/share/licenses/sded/copyright":     "-rw-r--r-- root:root <l>",
		"/usr/share/man/man8/sded.8.gz":          "-rw-r--r-- root:root <d>",
		"/var/lib/sded":                          "drwx--x--x root:root <>",
	}
	if diff := cmp.Diff(wantModes, got); diff != "" {
		t.Errorf("file modes and flags (-want +got):\n%s", diff)
	}

	reqs := strings.Split(strings.TrimSpace(run(t, nil, "rpm", "-qp", "--requires", rpm)), "\n")
	for _, need := range []string{"libc.so.6()(64bit)", "libvirt", "libvirt-daemon-kvm", "qemu-kvm", "qemu-img", "iptables-nft", "iproute", "e2fsprogs", "systemd"} {
		if !slices.Contains(reqs, need) {
			t.Errorf("RPM does not require %s: %v", need, reqs)
		}
	}
	scripts := run(t, nil, "rpm", "-qp", "--scripts", rpm)
	for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
		if !strings.Contains(scripts, s) {
			t.Errorf("RPM has no %s", s)
		}
	}
	if strings.Contains(scripts, "enable --now") && !strings.Contains(scripts, "disable --now") {
		t.Errorf("RPM scripts enable the service; they must leave that to the admin")
	}
}

// rpmlint reports nothing: every check is fixed or filtered with a reason in
// packaging/rpmlint.toml.
func TestRPMLint(t *testing.T) {
	requireTools(t, "rpmlint", "cpio")
	rpm := buildPackage(t, "rpm", newVersion)
	// nfpm writes absolute paths into the RPM's cpio payload and rpmlint
	// unpacks it with a plain `cpio -id`, which would write sded's files into
	// this machine's / (and leave rpmlint looking at an empty directory). A
	// cpio that keeps names relative puts them where rpmlint looks.
	wrap := t.TempDir()
	script := "#!/bin/sh\nexec /usr/bin/cpio --no-absolute-filenames \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrap, "cpio"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const probe = "/usr/share/licenses/sded/copyright"
	if _, err := os.Stat(probe); err == nil {
		t.Fatalf("%s exists before rpmlint ran: is sded installed on this machine?", probe)
	}
	out, _ := runErr([]string{"PATH=" + wrap + ":" + os.Getenv("PATH")}, "rpmlint", "-c", filepath.Join(repoRoot(t), "packaging/rpmlint.toml"), rpm)
	if _, err := os.Stat(probe); err == nil {
		os.Remove(probe)
		t.Errorf("rpmlint unpacked the RPM into / (removed %s)", probe)
	}
	var findings []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, ": E: ") || strings.Contains(l, ": W: ") {
			findings = append(findings, l)
		}
	}
	if len(findings) > 0 || !strings.Contains(out, "0 errors, 0 warnings") {
		t.Errorf("rpmlint findings (fix them, or filter with a reason in packaging/rpmlint.toml):\n%s\n%s", strings.Join(findings, "\n"), out)
	}
}

// The RPM's scriptlets and file semantics with rpm itself (4.18), installing
// into a scratch root with --root (dependencies are RHEL's package names, so
// --nodeps): install creates root-only directories and starts nothing; an
// upgrade keeps the edited configuration (%config(noreplace)) and the state;
// erase keeps the state and says so.
func TestRPMInstallUpgradeErase(t *testing.T) {
	requireTools(t, "rpm", "tar")
	oldRPM := buildPackage(t, "rpm", oldVersion)
	newRPM := buildPackage(t, "rpm", newVersion)
	r := newDebianRoot(t) // any root with a /bin/sh for the scriptlets
	rpm := func(args ...string) string {
		t.Helper()
		return run(t, nil, "rpm", append([]string{"--root", r.dir}, args...)...)
	}
	rpm("--initdb")

	out := rpm("-i", "--nodeps", oldRPM)
	if !strings.Contains(out, "sded: installed, not started") {
		t.Errorf("%%post did not tell the admin the next steps:\n%s", out)
	}
	if diff := cmp.Diff(map[string]string{
		"/var/lib/sded":       "0711 0:0",
		"/etc/sded":           "0750 0:0",
		"/etc/sded/sded.conf": "0640 0:0",
		"/usr/bin/sded":       "0755 0:0",
	}, map[string]string{
		"/var/lib/sded":       r.mode("/var/lib/sded"),
		"/etc/sded":           r.mode("/etc/sded"),
		"/etc/sded/sded.conf": r.mode("/etc/sded/sded.conf"),
		"/usr/bin/sded":       r.mode("/usr/bin/sded"),
	}); diff != "" {
		t.Errorf("installed modes (-want +got):\n%s", diff)
	}
	if out, err := runErr(nil, "rpm", "--root", r.dir, "-V", "--nodeps", "sded"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("rpm -V after install: %v\n%s", err, out)
	}

	conf := r.path("/etc/sded/sded.conf")
	edited := []byte("[log]\nlevel = debug\n")
	if err := os.WriteFile(conf, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path("/var/lib/sded/admin-note"), []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	rpm("-U", "--nodeps", newRPM)
	if got := strings.TrimSpace(rpm("-q", "--qf", "%{VERSION}", "sded")); got != newVersion {
		t.Errorf("after upgrade rpm -q says %s, want %s", got, newVersion)
	}
	if got, err := os.ReadFile(conf); err != nil || string(got) != string(edited) {
		t.Errorf("upgrade changed the edited configuration: %q (%v)", got, err)
	}
	for _, leftover := range []string{"/etc/sded/sded.conf.rpmnew", "/etc/sded/sded.conf.rpmsave"} {
		if _, err := os.Stat(r.path(leftover)); err == nil {
			t.Errorf("upgrade with an unchanged default left %s", leftover)
		}
	}
	if _, err := os.Stat(r.path("/var/lib/sded/admin-note")); err != nil {
		t.Errorf("upgrade lost the state: %v", err)
	}

	out = rpm("-e", "--nodeps", "sded")
	if !strings.Contains(out, "state kept in /var/lib/sded") {
		t.Errorf("erase did not say where the state was kept:\n%s", out)
	}
	if _, err := os.Stat(r.path("/var/lib/sded/admin-note")); err != nil {
		t.Errorf("erase deleted the state: %v", err)
	}
	// RPM keeps an edited configuration file as .rpmsave on erase.
	if got, err := os.ReadFile(r.path("/etc/sded/sded.conf.rpmsave")); err != nil || string(got) != string(edited) {
		t.Errorf("erase did not keep the edited configuration as sded.conf.rpmsave: %q (%v)", got, err)
	}
	if _, err := os.Stat(r.path("/usr/bin/sded")); err == nil {
		t.Errorf("erase left /usr/bin/sded")
	}
}
