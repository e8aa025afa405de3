// Package guest gives Go tests sded's bootable test guest (built by
// `make guest` from test/guest/build.sh): where its kernel, initramfs and base
// disk are, how to write the cloud-init seed that hands it a probe script, and
// how to read the probe's results from the serial console. See README.md.
package guest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sded/sded/hypervisor/seed"
	"github.com/sded/sded/test/testenv"
)

// Cmdline is the kernel command line the test guest boots with: kernel and
// init output on the serial console (last console=, so /dev/console) and VGA.
const Cmdline = "console=tty0 console=ttyS0,115200 quiet"

// Markers the guest's init prints on the serial console.
const (
	MarkBegin  = "SDED-PROBE-BEGIN"
	MarkEnd    = "SDED-PROBE-END"
	MarkResult = "SDED-PROBE-RESULT"
	// Banner is the first line on both consoles (VGA and serial).
	Banner = "sded test guest"
)

// Files are the test guest's build outputs.
type Files struct {
	Dir    string
	Kernel string // vmlinuz
	Initrd string // initramfs.cpio.gz
	Base   string // base.qcow2: 64 MiB, ext2 labelled sded-base
}

// Dir returns the guest build directory: $SDED_GUEST_DIR, else
// <repo>/.cache/guest.
func Dir() (string, error) {
	if d := os.Getenv("SDED_GUEST_DIR"); d != "" {
		return filepath.Abs(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".cache", "guest"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s: set SDED_GUEST_DIR", wd)
		}
	}
}

// Require returns the guest's files, skipping the test (failing it in CI)
// when the guest has not been built.
func Require(t testing.TB) Files {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	f := Files{
		Dir:    dir,
		Kernel: filepath.Join(dir, "vmlinuz"),
		Initrd: filepath.Join(dir, "initramfs.cpio.gz"),
		Base:   filepath.Join(dir, "base.qcow2"),
	}
	for _, p := range []string{f.Kernel, f.Initrd, f.Base} {
		testenv.RequireFile(t, p, "run `make guest` or set SDED_GUEST_DIR")
	}
	if !traversable(dir) {
		// QEMU runs as its own user (libvirt-qemu) and cannot reach files
		// under, say, /root: use a world-readable copy instead.
		staged, err := stage(f)
		if err != nil {
			t.Fatalf("staging the test guest where QEMU can read it: %v", err)
		}
		return staged
	}
	return f
}

// traversable reports whether every directory from / down to dir lets
// others search it, so QEMU's user can reach files in dir.
func traversable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if filepath.Dir(d) == d {
			return true
		}
	}
}

// stage copies the guest's files into a world-readable directory under the
// temporary directory, keyed by the build stamp, once.
func stage(f Files) (Files, error) {
	stamp, err := os.ReadFile(filepath.Join(f.Dir, "stamp"))
	if err != nil {
		return Files{}, err
	}
	sum := sha256.Sum256(stamp)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("sded-guest-%x", sum[:6]))
	out := Files{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initramfs.cpio.gz"), Base: filepath.Join(dir, "base.qcow2")}
	if _, err := os.Stat(filepath.Join(dir, "stamp")); err == nil {
		return out, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), ".sded-guest-")
	if err != nil {
		return Files{}, err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"vmlinuz", "initramfs.cpio.gz", "base.qcow2", "stamp"} {
		b, err := os.ReadFile(filepath.Join(f.Dir, name))
		if err != nil {
			return Files{}, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return Files{}, err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Files{}, err
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(filepath.Join(dir, "stamp")); serr != nil {
			return Files{}, err // not a concurrent stager winning the race
		}
	}
	return out, nil
}

// Probe is what the guest does after boot.
type Probe struct {
	// Script is POSIX sh run by the guest's init after probe-lib.sh is
	// sourced (so it may call result, disk_by_serial, mount_disk).
	Script string
	// Stay keeps the guest up after the probe with a shell on its consoles;
	// otherwise it powers off.
	Stay bool
	// Net is "none", "dhcp", "static" or "" (try DHCP briefly).
	Net string
	// Addr (CIDR) and Gateway configure Net "static".
	Addr, Gateway string
	// UserData is the seed's user-data (default: an empty #cloud-config).
	UserData string
}

// SeedConfig is the NoCloud seed that hands p to the guest.
func (p Probe) SeedConfig(instanceID, hostname string) seed.Config {
	mode := "poweroff"
	if p.Stay {
		mode = "stay"
	}
	env := "SDED_MODE=" + mode + "\n"
	if p.Net != "" {
		env += "SDED_NET=" + p.Net + "\n"
	}
	if p.Addr != "" {
		env += "SDED_IP=" + p.Addr + "\n"
	}
	if p.Gateway != "" {
		env += "SDED_GW=" + p.Gateway + "\n"
	}
	files := map[string][]byte{"sded-env": []byte(env)}
	if p.Script != "" {
		files["sded-probe.sh"] = []byte(p.Script)
	}
	return seed.Config{InstanceID: instanceID, Hostname: hostname, UserData: []byte(p.UserData), Files: files}
}

// WriteSeed writes the seed for p to path.
func (p Probe) WriteSeed(path, instanceID, hostname string) error {
	return seed.Write(path, p.SeedConfig(instanceID, hostname))
}

// Report is what a probe printed on the serial console.
type Report struct {
	// Done is true once SDED-PROBE-END was seen.
	Done bool
	// RC is the probe script's exit status (-1 until Done).
	RC int
	// Results are the SDED-PROBE-RESULT key=value pairs.
	Results map[string]string
	// Output is everything between the begin and end markers.
	Output string
}

// Parse reads a probe report from serial console output.
func Parse(serial []byte) Report {
	r := Report{RC: -1, Results: map[string]string{}}
	var out strings.Builder
	in := false
	sc := bufio.NewScanner(bytes.NewReader(serial))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case line == MarkBegin:
			in = true
		case strings.HasPrefix(line, MarkEnd):
			in = false
			r.Done = true
			if rc, err := strconv.Atoi(strings.TrimPrefix(line, MarkEnd+" rc=")); err == nil {
				r.RC = rc
			}
		case in && strings.HasPrefix(line, MarkResult+" "):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, MarkResult+" "), "=")
			r.Results[k] = v
			out.WriteString(line + "\n")
		case in:
			out.WriteString(line + "\n")
		}
	}
	r.Output = out.String()
	return r
}

// String lists the results, sorted, for test failure messages.
func (r Report) String() string {
	keys := make([]string, 0, len(r.Results))
	for k := range r.Results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "done=%v rc=%d", r.Done, r.RC)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, r.Results[k])
	}
	return b.String()
}
