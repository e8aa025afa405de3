package hypervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/test/testenv"
)

// TestForeignDomainsUntouched defines two domains sded does not own — one
// without the name prefix, one with the prefix but without sded's metadata —
// and checks that List skips them and every Driver call refuses them and
// leaves their definitions byte-for-byte unchanged.
func TestForeignDomainsUntouched(t *testing.T) {
	d := newDriver(t)
	virsh := testenv.RequireCommand(t, "virsh")
	ctx := context.Background()
	dir := testDir(t)
	id := randHex(4)
	names := []string{"sdedtest-foreign-" + id, "sded-foreign-" + id}
	for _, name := range names {
		x := `<domain type="qemu"><name>` + name + `</name><memory unit="MiB">64</memory>` +
			`<os><type arch="x86_64">hvm</type></os></domain>`
		p := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(p, []byte(x), 0o600); err != nil {
			t.Fatal(err)
		}
		run(t, virsh, "-c", DefaultURI, "define", p)
		t.Cleanup(func() { _ = runQuiet(virsh, "-c", DefaultURI, "undefine", name) })
	}
	before := map[string]string{}
	for _, n := range names {
		before[n] = run(t, virsh, "-c", DefaultURI, "dumpxml", n)
	}

	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if listed(list, n) {
			t.Errorf("List includes foreign domain %s", n)
		}
		if _, err := d.State(ctx, n); !errors.Is(err, ErrNotOwned) {
			t.Errorf("State(%s) = %v, want ErrNotOwned", n, err)
		}
		if err := d.Stop(ctx, n, 0); !errors.Is(err, ErrNotOwned) {
			t.Errorf("Stop(%s) = %v, want ErrNotOwned", n, err)
		}
		if err := d.Delete(ctx, n); !errors.Is(err, ErrNotOwned) {
			t.Errorf("Delete(%s) = %v, want ErrNotOwned", n, err)
		}
		if _, err := d.ConsolePath(ctx, n); !errors.Is(err, ErrNotOwned) {
			t.Errorf("ConsolePath(%s) = %v, want ErrNotOwned", n, err)
		}
	}
	// Ensure of a spec whose name a foreign domain holds is refused too.
	s := Spec{Name: names[1], UUID: newUUID(), Type: TypeQEMU, VCPU: 1, MemoryMiB: 64,
		Disks: []Disk{{Path: filepath.Join(dir, names[1]+".xml"), Format: FormatRaw}}, SerialLog: filepath.Join(dir, "s.log")}
	if err := d.Ensure(ctx, s); !errors.Is(err, ErrNotOwned) {
		t.Errorf("Ensure over a foreign domain = %v, want ErrNotOwned", err)
	}
	for _, n := range names {
		if after := run(t, virsh, "-c", DefaultURI, "dumpxml", n); after != before[n] {
			t.Errorf("foreign domain %s changed:\nbefore:\n%s\nafter:\n%s", n, before[n], after)
		}
		if st := strings.TrimSpace(run(t, virsh, "-c", DefaultURI, "domstate", n)); st != "shut off" {
			t.Errorf("foreign domain %s state %q, want shut off", n, st)
		}
	}
}

// TestSecrets sets, re-sets, replaces and removes an ephemeral private secret,
// and checks a foreign secret is refused.
func TestSecrets(t *testing.T) {
	d := newDriver(t)
	virsh := testenv.RequireCommand(t, "virsh")
	ctx := context.Background()
	id := newUUID()
	t.Cleanup(func() { _ = runQuiet(virsh, "-c", DefaultURI, "secret-undefine", id) })
	value := []byte("k-" + randHex(16))
	if err := d.SetSecret(ctx, id, "sded-test-"+id, value); err != nil {
		t.Fatal(err)
	}
	x := run(t, virsh, "-c", DefaultURI, "secret-dumpxml", id)
	if !strings.Contains(x, `ephemeral='yes'`) || !strings.Contains(x, `private='yes'`) {
		t.Errorf("secret is not ephemeral and private:\n%s", x)
	}
	if err := runQuiet(virsh, "-c", DefaultURI, "secret-get-value", id); err == nil {
		t.Error("the value of a private secret could be read back")
	}
	// Setting again (as after a libvirtd restart) and with a new usage both work.
	if err := d.SetSecret(ctx, id, "sded-test-"+id, value); err != nil {
		t.Errorf("setting the secret again: %v", err)
	}
	if err := d.SetSecret(ctx, id, "sded-test-other-"+id, value); err != nil {
		t.Errorf("changing the secret's usage: %v", err)
	}
	if ids, err := d.Secrets(ctx); err != nil || !contains(ids, id) {
		t.Errorf("Secrets = %v, %v; want it to include %s", ids, err, id)
	}
	if err := d.RemoveSecret(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := runQuiet(virsh, "-c", DefaultURI, "secret-dumpxml", id); err == nil {
		t.Error("secret still defined after RemoveSecret")
	}
	if err := d.RemoveSecret(ctx, id); err != nil {
		t.Errorf("removing a missing secret: %v", err)
	}

	// A secret sded does not own.
	foreign := newUUID()
	p := filepath.Join(testDir(t), "secret.xml")
	os.WriteFile(p, []byte(`<secret ephemeral="yes" private="yes"><uuid>`+foreign+`</uuid><usage type="volume"><volume>sdedtest-foreign-`+foreign+`</volume></usage></secret>`), 0o600)
	run(t, virsh, "-c", DefaultURI, "secret-define", p)
	t.Cleanup(func() { _ = runQuiet(virsh, "-c", DefaultURI, "secret-undefine", foreign) })
	if err := d.SetSecret(ctx, foreign, "sded-x", value); !errors.Is(err, ErrNotOwned) {
		t.Errorf("SetSecret over a foreign secret = %v, want ErrNotOwned", err)
	}
	if err := d.RemoveSecret(ctx, foreign); !errors.Is(err, ErrNotOwned) {
		t.Errorf("RemoveSecret of a foreign secret = %v, want ErrNotOwned", err)
	}
	if ids, _ := d.Secrets(ctx); contains(ids, foreign) {
		t.Error("Secrets lists a foreign secret")
	}

	// Bad input is refused before libvirt is asked.
	for _, tt := range []struct {
		name, uuid, usage string
		value             []byte
		wantErr           string
	}{
		{"bad uuid", "nope", "sded-x", value, "uuid"},
		{"upper-case uuid", strings.ToUpper(newUUID()), "sded-x", value, "uuid"},
		{"usage without prefix", newUUID(), "x", value, "usage"},
		{"usage with slash", newUUID(), "sded-a/b", value, "usage"},
		{"empty value", newUUID(), "sded-x", nil, "empty value"},
	} {
		err := d.SetSecret(ctx, tt.uuid, tt.usage, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: SetSecret = %v, want an error about %s", tt.name, err, tt.wantErr)
		}
		if strings.Contains(errString(err), string(value)) {
			t.Errorf("%s: error reveals the secret value", tt.name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestEnsureBadInput: each kind of bad input gives a clear error and leaves
// no domain behind.
func TestEnsureBadInput(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	dir := testDir(t)
	disk := filepath.Join(dir, "disk.raw")
	os.WriteFile(disk, make([]byte, 1<<20), 0o600)
	good := func() Spec {
		return Spec{Name: "sded-bad-" + randHex(4), UUID: newUUID(), Type: TypeQEMU, VCPU: 1, MemoryMiB: 128,
			Disks: []Disk{{Path: disk, Format: FormatRaw}}, SerialLog: filepath.Join(dir, "serial.log")}
	}
	tests := []struct {
		name    string
		mod     func(*Spec)
		wantErr string
	}{
		{"missing kernel", func(s *Spec) { s.Kernel = filepath.Join(dir, "no-vmlinuz") }, "kernel: stat " + dir + "/no-vmlinuz: no such file"},
		{"missing disk", func(s *Spec) { s.Disks[0].Path = filepath.Join(dir, "none.qcow2") }, "disk 0: stat " + dir + "/none.qcow2: no such file"},
		{"disk is a directory", func(s *Spec) { s.Disks[0].Path = dir }, "not a regular file"},
		{"missing seed", func(s *Spec) { s.Seed = filepath.Join(dir, "seed.img") }, "seed: stat"},
		{"bad name", func(s *Spec) { s.Name = "other-vm" }, "want \"sded-\""},
		{"zero memory", func(s *Spec) { s.MemoryMiB = 0 }, "memory 0 MiB"},
		{"unknown type", func(s *Spec) { s.Type = "xen" }, `type "xen"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.mod(&s)
			err := d.Ensure(ctx, s)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Ensure = %v, want an error containing %q", err, tt.wantErr)
			}
			if _, err := d.State(ctx, s.Name); err == nil || (!errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotOwned)) {
				t.Errorf("a domain was left behind (%v)", err)
			}
		})
	}
}

// TestLibvirtdAbsent: an unreachable libvirtd gives ErrUnavailable and says
// what to install and start.
func TestLibvirtdAbsent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := New(ctx, Options{URI: "qemu:///system?socket=/nonexistent/libvirt-sock"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New = %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"libvirtd", "libvirt-daemon-system", "/nonexistent/libvirt-sock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestScope: a Driver with another scope, or none, treats a scoped domain as
// foreign (so an unscoped sded on the same host cannot garbage-collect it);
// a spec contradicting the scope is refused.
func TestScope(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	other, err := New(ctx, Options{Scope: map[string]string{"testrun": "someone-else"}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	all, err := New(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()

	dir := testDir(t)
	disk := filepath.Join(dir, "empty.raw")
	os.WriteFile(disk, make([]byte, 1<<20), 0o600)
	s := Spec{Name: "sded-t-" + randHex(4), UUID: newUUID(), Type: TypeQEMU, VCPU: 1, MemoryMiB: 64,
		Disks: []Disk{{Path: disk, Format: FormatRaw}}, SerialLog: filepath.Join(dir, "serial.log"),
		Labels: map[string]string{"role": "scope-test"}}
	t.Cleanup(func() { d.Delete(context.Background(), s.Name) })
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Labels["testrun"] != "" {
		t.Error("Ensure changed the caller's label map")
	}
	info, err := d.State(ctx, s.Name)
	if err != nil || info.Labels["testrun"] != testRun || info.Labels["role"] != "scope-test" {
		t.Errorf("State = %+v, %v; want the scope label added", info, err)
	}
	if list, _ := other.List(ctx); listed(list, s.Name) {
		t.Error("a driver with another scope lists the domain")
	}
	if err := other.Delete(ctx, s.Name); !errors.Is(err, ErrNotOwned) {
		t.Errorf("Delete from another scope = %v, want ErrNotOwned", err)
	}
	if err := other.Ensure(ctx, s); !errors.Is(err, ErrNotOwned) {
		t.Errorf("Ensure from another scope = %v, want ErrNotOwned", err)
	}
	if list, _ := all.List(ctx); listed(list, s.Name) {
		t.Error("an unscoped driver lists a scoped domain")
	}
	if err := all.Delete(ctx, s.Name); !errors.Is(err, ErrNotOwned) {
		t.Errorf("Delete from an unscoped driver = %v, want ErrNotOwned", err)
	}
	if info, err := d.State(ctx, s.Name); err != nil || info.State != StateRunning {
		t.Errorf("after the other scope's attempts: %+v, %v", info, err)
	}
	bad := s
	bad.Labels = map[string]string{"testrun": "mine"}
	if err := d.Ensure(ctx, bad); err == nil || !strings.Contains(err.Error(), "conflicts with the driver's scope") {
		t.Errorf("Ensure with a contradicting label = %v", err)
	}
	if _, err := New(ctx, Options{Scope: map[string]string{"Bad Key": "x"}}); err == nil {
		t.Error("New accepted an invalid scope")
	}
}
