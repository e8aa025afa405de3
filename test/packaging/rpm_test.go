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
		"/var/lib/sded":                          "drwx------ root:root <>",
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
