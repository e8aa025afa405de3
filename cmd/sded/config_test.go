package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sded.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValidAndDocumented(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatalf("built-in defaults: %v", err)
	}
	if cfg.UI.Listen != "127.0.0.1:8443" || cfg.Hypervisor.DomainType != "kvm" || cfg.Airlock.Reviewers != 2 {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	if cfg.UI.SessionIdleTimeout != 30*time.Minute || cfg.Flavours["small"].MemoryMiB != 4096 || cfg.Flavours["large"].DiskGiB != 100 {
		t.Errorf("unexpected parsed values: %+v", cfg)
	}
	// Every accepted key appears, commented, in the default file.
	for section, ks := range keys {
		for k := range ks {
			if !strings.Contains(defaultConfigText, "\n"+k+" =") {
				t.Errorf("key %s.%s is not documented in default.conf", section, k)
			}
		}
	}
	// The example shipped in packaging/ is the same file.
	pkg, err := os.ReadFile("../../packaging/config/sded.conf")
	if err != nil {
		t.Fatalf("reading packaging example: %v", err)
	}
	if string(pkg) != defaultConfigText {
		t.Error("packaging/config/sded.conf differs from cmd/sded/default.conf: copy one over the other")
	}
}

func TestOverridesKeepOtherDefaults(t *testing.T) {
	cfg, err := LoadConfig(writeConf(t, "[hypervisor]\ndomain_type = qemu\n[ui]\nlisten = 0.0.0.0:443\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hypervisor.DomainType != "qemu" || cfg.UI.Listen != "0.0.0.0:443" || cfg.Cluster.Bind != "127.0.0.1:7946" {
		t.Errorf("overrides not applied or defaults lost: %+v", cfg)
	}
	if len(cfg.Flavours) != 3 {
		t.Errorf("built-in flavours lost: %v", cfg.Flavours)
	}
	if cfg.Storage.Dir != "/var/lib/sded/volumes" || cfg.Storage.KEKFile != "/var/lib/sded/keys/kek" {
		t.Errorf("derived paths: %q %q", cfg.Storage.Dir, cfg.Storage.KEKFile)
	}
}

func TestFlavoursReplaceBuiltIns(t *testing.T) {
	cfg, err := LoadConfig(writeConf(t, "[flavour.tiny]\nvcpu = 1\nmemory = 512MiB\ndisk = 2GiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Flavours) != 1 || cfg.Flavours["tiny"] != (Flavour{VCPU: 1, MemoryMiB: 512, DiskGiB: 2}) {
		t.Errorf("flavours = %+v", cfg.Flavours)
	}
}

// Each kind of bad input names the key, the value and what is allowed.
func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"bad listen", "[ui]\nlisten = nope\n", []string{"ui.listen", `"nope"`, "HOST:PORT"}},
		{"port out of range", "[cluster]\nbind = 127.0.0.1:70000\n", []string{"cluster.bind", "70000", "1 to 65535"}},
		{"unknown key", "[ui]\nlisen = 1.2.3.4:5\n", []string{"ui.lisen", "unknown key", "listen"}},
		{"unknown section", "[uii]\n", []string{"unknown section [uii]", "[ui]"}},
		{"domain type", "[hypervisor]\ndomain_type = xen\n", []string{"hypervisor.domain_type", `"xen"`, "kvm, qemu"}},
		{"duration", "[ui]\nsession_idle_timeout = forever\n", []string{"ui.session_idle_timeout", "a duration"}},
		{"duration too short", "[ui]\nsession_idle_timeout = 1s\n", []string{"ui.session_idle_timeout", "from 1m0s"}},
		{"bool", "[network]\nisolate_workstations = maybe\n", []string{"network.isolate_workstations", "true or false"}},
		{"size", "[airlock]\nmax_file_size = lots\n", []string{"airlock.max_file_size", "a size"}},
		{"pool v6", "[network]\npool = fd00::/8\n", []string{"network.pool", "IPv4 CIDR"}},
		{"pool too small", "[network]\npool = 10.0.0.0/24\n", []string{"network.pool", "/8 to /23"}},
		{"relative path", "[node]\ndata_dir = var/lib\n", []string{"node.data_dir", "absolute path"}},
		{"no equals", "[ui]\nlisten\n", []string{`expected "key = value"`}},
		{"key before section", "listen = 1.2.3.4:5\n", []string{"[section]"}},
		{"duplicate", "[ui]\nlisten = 1.2.3.4:5\nlisten = 1.2.3.4:6\n", []string{"set twice", "line 2"}},
		{"flavour without disk", "[flavour.x]\nvcpu = 1\nmemory = 1GiB\n", []string{"flavour.x", "vcpu, memory and disk"}},
		{"flavour disk not GiB", "[flavour.x]\nvcpu = 1\nmemory = 1GiB\ndisk = 1500MiB\n", []string{"flavour.x.disk"}},
		{"cert without key", "[ui]\ntls_cert = /etc/c.pem\n", []string{"tls_key must be set together"}},
		{"syslog scheme", "[audit]\nsyslog = udp://h:514\n", []string{"audit.syslog", "tcp://HOST:PORT"}},
		{"idle over absolute", "[ui]\nsession_idle_timeout = 2h\nsession_absolute_timeout = 1h\n", []string{"must not exceed"}},
		{"same ports", "[ui]\nlisten = 127.0.0.1:7946\n", []string{"must differ from cluster.bind"}},
		{"bad node id", "[node]\nid = Bad_Name\n", []string{"node.id", "lower-case"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConf(t, tc.text))
			if err == nil {
				t.Fatalf("accepted bad config %q", tc.text)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	_, err := LoadConfig("/nonexistent/sded.conf")
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("err = %v", err)
	}
}
