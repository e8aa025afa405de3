package hypervisor

import (
	"strings"
	"testing"
)

// TestSpecValidate: every kind of bad value is refused with an error naming
// the field and the value; DomainXML refuses the same specs.
func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Spec)
		wantErr string // empty: valid
	}{
		{"full spec", func(*Spec) {}, ""},
		{"libvirt-placed vnc socket", func(s *Spec) { s.VNCSocket = "" }, ""},
		{"disk boot", func(s *Spec) { s.Kernel, s.Initrd, s.Cmdline = "", "", "" }, ""},
		{"name without prefix", func(s *Spec) { s.Name = "ws-1" }, `spec name "ws-1"`},
		{"name upper case", func(s *Spec) { s.Name = "sded-WS" }, `spec name "sded-WS"`},
		{"name too long", func(s *Spec) { s.Name = "sded-" + strings.Repeat("a", 60) }, "spec name"},
		{"uuid upper case", func(s *Spec) { s.UUID = strings.ToUpper(s.UUID) }, "uuid"},
		{"uuid missing", func(s *Spec) { s.UUID = "" }, "uuid"},
		{"type xen", func(s *Spec) { s.Type = "xen" }, `type "xen"`},
		{"no vcpu", func(s *Spec) { s.VCPU = 0 }, "vcpu 0"},
		{"too many vcpus", func(s *Spec) { s.VCPU = 65 }, "vcpu 65"},
		{"too little memory", func(s *Spec) { s.MemoryMiB = 32 }, "memory 32 MiB"},
		{"initrd without kernel", func(s *Spec) { s.Kernel = "" }, "without a kernel"},
		{"nothing to boot", func(s *Spec) { s.Kernel, s.Initrd, s.Cmdline, s.Disks = "", "", "", nil }, "nothing to boot"},
		{"cmdline newline", func(s *Spec) { s.Cmdline = "a\nb" }, "cmdline"},
		{"relative kernel", func(s *Spec) { s.Kernel = "vmlinuz" }, "kernel: path \"vmlinuz\" is not absolute"},
		{"unclean seed", func(s *Spec) { s.Seed = "/a/../b" }, "not clean"},
		{"comma in disk path", func(s *Spec) { s.Disks[0].Path = "/a,b" }, "contains"},
		{"no serial log", func(s *Spec) { s.SerialLog = "" }, "serial log: path is empty"},
		{"vnc socket too long", func(s *Spec) { s.VNCSocket = "/" + strings.Repeat("s", 120) }, "longer than"},
		{"disk format vmdk", func(s *Spec) { s.Disks[0].Format = "vmdk" }, `format "vmdk"`},
		{"secret on raw", func(s *Spec) { s.Disks[0].Format = FormatRaw }, "LUKS encryption needs qcow2"},
		{"bad secret uuid", func(s *Spec) { s.Disks[0].SecretUUID = "x" }, `secret uuid "x"`},
		{"bad disk serial", func(s *Spec) { s.Disks[0].Serial = "a b" }, `serial "a b"`},
		{"duplicate serial", func(s *Spec) { s.Disks[1].Serial = "system" }, "used twice"},
		{"too many disks", func(s *Spec) {
			for range 18 {
				s.Disks = append(s.Disks, Disk{Path: "/d", Format: FormatRaw})
			}
		}, "want at most 20"},
		{"relative share dir", func(s *Spec) { s.Shares = []Share{{Dir: "shared", Tag: "t"}} }, "share 0"},
		{"bad share tag", func(s *Spec) { s.Shares = []Share{{Dir: "/s", Tag: "a b"}} }, `tag "a b"`},
		{"share tag twice", func(s *Spec) { s.Shares = []Share{{Dir: "/s", Tag: "t"}, {Dir: "/u", Tag: "t"}} }, "used twice"},
		{"shares ok", func(s *Spec) { s.Shares = []Share{{Dir: "/s", Tag: "sded-shared"}} }, ""},
		{"bad bridge", func(s *Spec) { s.NIC.Bridge = "a-very-long-bridge-name" }, "bridge"},
		{"bad mac", func(s *Spec) { s.NIC.MAC = "52:54:00:12:34" }, "mac"},
		{"upper-case mac", func(s *Spec) { s.NIC.MAC = "52:54:00:AB:34:56" }, ""},
		{"mac with dashes", func(s *Spec) { s.NIC.MAC = "52-54-00-ab-34-56" }, "mac"},
		{"multicast mac", func(s *Spec) { s.NIC.MAC = "01:00:5e:00:00:01" }, "multicast"},
		{"tap target", func(s *Spec) { s.NIC.Target = "sdv525400123456" }, ""},
		{"target too long", func(s *Spec) { s.NIC.Target = "sdv5254001234567" }, "target"},
		{"target in libvirt's namespace", func(s *Spec) { s.NIC.Target = "vnet7" }, "target"},
		{"bad filter", func(s *Spec) { s.NIC.Filter = "a b" }, "filter"},
		{"params without filter", func(s *Spec) { s.NIC.Filter = "" }, "without a filter"},
		{"bad filter param", func(s *Spec) { s.NIC.FilterParams = map[string]string{"ip": "1"} }, "filter parameter"},
		{"filter param injection", func(s *Spec) { s.NIC.FilterParams = map[string]string{"IP": `1"/><x`} }, "plain characters"},
		{"bad label key", func(s *Spec) { s.Labels = map[string]string{"Project": "p"} }, "label key"},
		{"label with newline", func(s *Spec) { s.Labels = map[string]string{"p": "a\nb"} }, "label p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fullSpec()
			nic := *s.NIC
			nic.FilterParams = map[string]string{"IP": "10.20.0.5"}
			s.NIC = &nic
			s.Disks = append([]Disk(nil), s.Disks...)
			tt.mod(&s)
			err := s.Validate()
			_, xerr := DomainXML(s)
			if tt.wantErr == "" {
				if err != nil || xerr != nil {
					t.Fatalf("Validate = %v, DomainXML = %v; want valid", err, xerr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			if xerr == nil {
				t.Error("DomainXML accepted an invalid spec")
			}
		})
	}
}

// TestLabelEscaping: label values with XML specials stay data.
func TestLabelEscaping(t *testing.T) {
	s := fullSpec()
	s.Labels = map[string]string{"project": `p"/><evil x="`}
	x, err := DomainXML(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(x, "<evil") {
		t.Errorf("label value escaped its attribute:\n%s", x)
	}
}
