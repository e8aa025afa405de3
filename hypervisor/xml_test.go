package hypervisor

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// fullSpec is a workstation-like spec: kernel boot, an encrypted system disk, a
// shared volume disk, a read-only data volume, a seed, a virtiofs share and a filtered NIC.
func fullSpec() Spec {
	return Spec{
		Name: "sded-ws-1", UUID: "6f1c1a52-6a3e-4c6b-9d61-3c0f1b2a4d5e", Type: TypeQEMU, VCPU: 2, MemoryMiB: 512,
		Kernel: "/var/lib/sded/images/guest/vmlinuz", Initrd: "/var/lib/sded/images/guest/initramfs.cpio.gz",
		Cmdline: "console=tty0 console=ttyS0,115200 quiet",
		Disks: []Disk{
			{Path: "/var/lib/sded/volumes/ws-1.qcow2", Format: FormatQCOW2, Serial: "system", SecretUUID: "0d8f3a8e-51b4-4c1e-8a43-3a1f0e6c2b11"},
			{Path: "/var/lib/sded/volumes/p-1-shared.qcow2", Format: FormatQCOW2, Serial: "shared", SecretUUID: "1d8f3a8e-51b4-4c1e-8a43-3a1f0e6c2b11"},
			{Path: "/var/lib/sded/volumes/p-1-data.qcow2", Format: FormatQCOW2, Serial: "data", SecretUUID: "2d8f3a8e-51b4-4c1e-8a43-3a1f0e6c2b11", ReadOnly: true},
		},
		Seed:   "/var/lib/sded/seeds/ws-1.img",
		Shares: []Share{{Dir: "/var/lib/sded/shared/p-1", Tag: "sded-shared"}},
		NIC: &NIC{Bridge: "sdp1", MAC: "52:54:00:12:34:56", Target: "sdv525400123456", Filter: "clean-traffic",
			FilterParams: map[string]string{"IP": "10.20.0.5"}},
		SerialLog: "/var/log/sded/console/sded-ws-1.log",
		VNCSocket: "/run/sded/vnc/sded-ws-1.sock",
		Labels:    map[string]string{"project": "p-1", "workstation": "ws-1", "node": "n1"},
	}
}

func TestDomainXMLGolden(t *testing.T) {
	minimal := Spec{
		Name: "sded-min", UUID: "00000000-0000-4000-8000-000000000001", Type: TypeKVM, VCPU: 1, MemoryMiB: 256,
		Disks:     []Disk{{Path: "/srv/disk.raw", Format: FormatRaw}},
		SerialLog: "/var/log/sded/console/sded-min.log", // VNC socket placed by libvirt
	}
	tests := []struct {
		golden string
		spec   Spec
	}{
		{"full.xml", fullSpec()},
		{"minimal-disk-boot.xml", minimal},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := DomainXML(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update): %v", err)
			}
			if diff := cmp.Diff(string(want), got+"\n"); diff != "" {
				t.Errorf("domain XML differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestDomainXMLSecurity checks, beyond the golden file, what must never be in
// a workstation's XML whatever the spec.
func TestDomainXMLSecurity(t *testing.T) {
	got, err := DomainXML(fullSpec())
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"spice", "<redirdev", "<channel", "qemu-ga", "vdagent", "autoport", "websocket", `<listen type="address"`, `<listen type="network"`, `<graphics type="vnc" port`, `<memballoon model="virtio"`} {
		if strings.Contains(got, banned) {
			t.Errorf("domain XML contains %q:\n%s", banned, got)
		}
	}
	for _, want := range []string{`<listen type="socket" socket="/run/sded/vnc/sded-ws-1.sock">`, `<memballoon model="none">`, `<input type="tablet" bus="usb">`, `<readonly>`} {
		if !strings.Contains(got, want) {
			t.Errorf("domain XML lacks %q:\n%s", want, got)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	labels := map[string]string{"project": "p-1", "workstation": "ws <&> 1"}
	s, err := metadataXML(labels, "abc", "cluster=c1;x=<y>")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseMetadata(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta{labels: labels, hash: "abc", scope: "cluster=c1;x=<y>"}, got, cmp.AllowUnexported(meta{})); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if _, err := parseMetadata(`<domain xmlns="urn:other"><label key="a" value="b"/></domain>`); err == nil {
		t.Error("parseMetadata accepted an element in a foreign namespace")
	}
}
