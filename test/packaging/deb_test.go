package packaging

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lintian's verdict: every tag it would print (error, warning, info,
// pedantic, experimental) is either fixed or overridden with a reason in
// packaging/lintian-overrides; an override that no longer matches is
// reported as a tag too.
func TestDebLintianClean(t *testing.T) {
	requireTools(t, "lintian", "dpkg-deb")
	deb := buildPackage(t, "deb", newVersion)
	out, _ := runErr(nil, "lintian", "--pedantic", "--display-info", "--display-experimental", "--no-tag-display-limit", deb)
	var tags []string
	for _, l := range strings.Split(out, "\n") {
		if regexp.MustCompile(`^[EWIPX]: `).MatchString(l) {
			tags = append(tags, l)
		}
	}
	if len(tags) > 0 {
		t.Errorf("lintian tags left (fix them, or override with a reason in packaging/lintian-overrides):\n%s", strings.Join(tags, "\n"))
	}
}

func TestDebControl(t *testing.T) {
	requireTools(t, "dpkg-deb")
	deb := buildPackage(t, "deb", newVersion)
	fields := map[string]string{}
	for _, f := range []string{"Package", "Version", "Architecture", "Section", "Maintainer"} {
		fields[f] = strings.TrimSpace(run(t, nil, "dpkg-deb", "-f", deb, f))
	}
	want := map[string]string{
		"Package": "sded", "Version": newVersion + "-1", "Architecture": "amd64", "Section": "admin",
		"Maintainer": "sded maintainers <maintainers@sded.example.org>",
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("control fields (-want +got):\n%s", diff)
	}

	var deps []string
	for _, d := range strings.Split(run(t, nil, "dpkg-deb", "-f", deb, "Depends"), ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
		deps = append(deps, name)
	}
	for _, need := range []string{"libc6", "libvirt-daemon-system", "qemu-system-x86", "qemu-utils", "iptables", "iproute2", "e2fsprogs"} {
		if !slices.Contains(deps, need) {
			t.Errorf("Depends lacks %s: %v", need, deps)
		}
	}

	conffiles := strings.Fields(run(t, nil, "dpkg-deb", "-I", deb, "conffiles"))
	if diff := cmp.Diff([]string{"/etc/sded/sded.conf"}, conffiles); diff != "" {
		t.Errorf("conffiles (-want +got):\n%s", diff)
	}
}

// The .deb holds exactly these files, with these modes; /var/lib/sded is made
// by postinst (so that removing the package never tries to delete it).
func TestDebContents(t *testing.T) {
	requireTools(t, "dpkg-deb")
	deb := buildPackage(t, "deb", newVersion)
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(run(t, nil, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || strings.HasPrefix(f[0], "d") && f[0] == "drwxr-xr-x" {
			continue // the usual directories
		}
		got[strings.TrimPrefix(f[5], ".")] = f[0] + " " + f[1]
	}
	want := map[string]string{
		"/etc/sded/":                       "drwxr-x--- root/root",
		"/etc/sded/sded.conf":              "-rw-r----- root/root",
		"/usr/bin/sded":                    "-rwxr-xr-x root/root",
		"/lib/systemd/system/sded.service": "-rw-r--r-- root/root",
		"/lib/systemd/system/sded.service.d/libvirtd.conf": "-rw-r--r-- root/root",
		"/usr/share/doc/sded/changelog.Debian.gz":          "-rw-r--r-- 0/0",
		"/usr/share/doc/sded/copyright":                    "-rw-r--r-- root/root",
		"/usr/share/doc/sded/install.md":                   "-rw-r--r-- root/root",
		"/usr/share/doc/sded/examples/sded.conf":           "-rw-r--r-- root/root",
		"/usr/share/lintian/overrides/sded":                "-rw-r--r-- root/root",
		"/usr/share/man/man8/sded.8.gz":                    "-rw-r--r-- root/root",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("package contents (-want +got):\n%s", diff)
	}
}
