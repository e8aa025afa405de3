package main

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed default.conf
var defaultConfigText string

// Config is sded's configuration, read from an INI-style file. The defaults
// are the values in default.conf, which is also the documented reference.
type Config struct {
	Node       NodeConfig
	Cluster    ClusterConfig
	UI         UIConfig
	Hypervisor HypervisorConfig
	Flavours   map[string]Flavour
	Network    NetworkConfig
	Storage    StorageConfig
	Airlock    AirlockConfig
	Audit      AuditConfig
	Log        LogConfig
}

// NodeConfig is the [node] section.
type NodeConfig struct {
	ID      string
	DataDir string
}

// ClusterConfig is the [cluster] section.
type ClusterConfig struct {
	Bind      string
	Advertise string
}

// UIConfig is the [ui] section.
type UIConfig struct {
	Listen                 string
	TLSCert, TLSKey        string
	SessionIdleTimeout     time.Duration
	SessionAbsoluteTimeout time.Duration
	DesktopIdleTimeout     time.Duration
}

// HypervisorConfig is the [hypervisor] section.
type HypervisorConfig struct {
	URI        string
	DomainType string
}

// Flavour is one [flavour.NAME] section: a workstation size.
type Flavour struct {
	VCPU      int
	MemoryMiB int64
	DiskGiB   int64
}

// NetworkConfig is the [network] section.
type NetworkConfig struct {
	Pool                netip.Prefix
	IsolateWorkstations bool
	AirlockPort         int
}

// StorageConfig is the [storage] section.
type StorageConfig struct {
	Dir            string
	SharedDir      string
	ImageImportDir string
	KEKFile        string
	LUKSIterTimeMS int
}

// AirlockConfig is the [airlock] section.
type AirlockConfig struct {
	MaxFileSize     int64
	Reviewers       int
	DownloadLinkTTL time.Duration
}

// AuditConfig is the [audit] section.
type AuditConfig struct {
	Syslog string
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level  string
	Format string
}

// ConfigError names the key, the bad value and what is allowed.
type ConfigError struct {
	File    string
	Line    int
	Key     string
	Value   string
	Allowed string
}

func (e *ConfigError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Value == "" && e.Key == "" {
		return fmt.Sprintf("config %s: %s", where, e.Allowed)
	}
	return fmt.Sprintf("config %s: %s = %q is not valid: %s", where, e.Key, e.Value, e.Allowed)
}

// LoadConfig reads path over the built-in defaults. An empty path means the
// defaults alone.
func LoadConfig(path string) (*Config, error) {
	cfg, err := parseConfig("<built-in defaults>", strings.NewReader(defaultConfigText), nil)
	if err != nil {
		return nil, fmt.Errorf("built-in defaults: %w", err)
	}
	if path == "" {
		return cfg, finishConfig(cfg, "<built-in defaults>")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	cfg, err = parseConfig(path, io.LimitReader(f, 1<<20), cfg)
	if err != nil {
		return nil, err
	}
	return cfg, finishConfig(cfg, path)
}

var (
	sectionRe = regexp.MustCompile(`^\[([a-z]+)(?:\.([a-z0-9][a-z0-9_-]{0,31}))?\]$`)
	nodeIDRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

type setter func(cfg *Config, flavour string, v string) (allowed string, ok bool)

// keys lists every accepted key per section with its parser. The allowed text
// is what a user sees when the value is rejected.
var keys = map[string]map[string]setter{
	"node": {
		"id": func(c *Config, _, v string) (string, bool) {
			c.Node.ID = v
			return "empty (the host name) or lower-case letters, digits, '_' and '-', up to 63", v == "" || nodeIDRe.MatchString(v)
		},
		"data_dir": absPath(func(c *Config) *string { return &c.Node.DataDir }, false),
	},
	"cluster": {
		"bind":      hostPort(func(c *Config) *string { return &c.Cluster.Bind }, false),
		"advertise": hostPort(func(c *Config) *string { return &c.Cluster.Advertise }, true),
	},
	"ui": {
		"listen":                   hostPort(func(c *Config) *string { return &c.UI.Listen }, false),
		"tls_cert":                 absPath(func(c *Config) *string { return &c.UI.TLSCert }, true),
		"tls_key":                  absPath(func(c *Config) *string { return &c.UI.TLSKey }, true),
		"session_idle_timeout":     duration(func(c *Config) *time.Duration { return &c.UI.SessionIdleTimeout }, time.Minute, 24*time.Hour),
		"session_absolute_timeout": duration(func(c *Config) *time.Duration { return &c.UI.SessionAbsoluteTimeout }, time.Minute, 7*24*time.Hour),
		"desktop_idle_timeout":     duration(func(c *Config) *time.Duration { return &c.UI.DesktopIdleTimeout }, time.Minute, 24*time.Hour),
	},
	"hypervisor": {
		"uri": func(c *Config, _, v string) (string, bool) {
			c.Hypervisor.URI = v
			u, err := url.Parse(v)
			return "a libvirt URI such as qemu:///system", err == nil && strings.HasPrefix(u.Scheme, "qemu") && v != ""
		},
		"domain_type": oneOf(func(c *Config) *string { return &c.Hypervisor.DomainType }, "kvm", "qemu"),
	},
	"flavour": {
		"vcpu": func(c *Config, f, v string) (string, bool) {
			fl := c.Flavours[f]
			n, err := strconv.Atoi(v)
			fl.VCPU = n
			c.Flavours[f] = fl
			return "a whole number of virtual CPUs from 1 to 64", err == nil && n >= 1 && n <= 64
		},
		"memory": func(c *Config, f, v string) (string, bool) {
			fl := c.Flavours[f]
			n, err := parseSize(v)
			fl.MemoryMiB = n >> 20
			c.Flavours[f] = fl
			return "a size from 64MiB to 1024GiB, e.g. 4GiB", err == nil && n >= 64<<20 && n <= 1024<<30
		},
		"disk": func(c *Config, f, v string) (string, bool) {
			fl := c.Flavours[f]
			n, err := parseSize(v)
			fl.DiskGiB = n >> 30
			c.Flavours[f] = fl
			return "a whole number of GiB from 1GiB to 16384GiB, e.g. 20GiB", err == nil && n >= 1<<30 && n <= 16384<<30 && n%(1<<30) == 0
		},
	},
	"network": {
		"pool": func(c *Config, _, v string) (string, bool) {
			p, err := netip.ParsePrefix(v)
			c.Network.Pool = p.Masked()
			return "an IPv4 CIDR prefix from /8 to /23, e.g. 10.64.0.0/10", err == nil && p.Addr().Is4() && p.Bits() >= 8 && p.Bits() <= 23
		},
		"isolate_workstations": boolean(func(c *Config) *bool { return &c.Network.IsolateWorkstations }),
		"airlock_port":         integer(func(c *Config) *int { return &c.Network.AirlockPort }, 1, 65535),
	},
	"storage": {
		"dir":               absPath(func(c *Config) *string { return &c.Storage.Dir }, true),
		"shared_dir":        absPath(func(c *Config) *string { return &c.Storage.SharedDir }, true),
		"image_import_dir":  absPath(func(c *Config) *string { return &c.Storage.ImageImportDir }, true),
		"kek_file":          absPath(func(c *Config) *string { return &c.Storage.KEKFile }, true),
		"luks_iter_time_ms": integer(func(c *Config) *int { return &c.Storage.LUKSIterTimeMS }, 1, 10000),
	},
	"airlock": {
		"max_file_size": func(c *Config, _, v string) (string, bool) {
			n, err := parseSize(v)
			c.Airlock.MaxFileSize = n
			return "a size from 1KiB to 1024GiB, e.g. 1GiB", err == nil && n >= 1<<10 && n <= 1024<<30
		},
		"reviewers":         integer(func(c *Config) *int { return &c.Airlock.Reviewers }, 1, 5),
		"download_link_ttl": duration(func(c *Config) *time.Duration { return &c.Airlock.DownloadLinkTTL }, time.Minute, 30*24*time.Hour),
	},
	"audit": {
		"syslog": func(c *Config, _, v string) (string, bool) {
			c.Audit.Syslog = v
			if v == "" {
				return "", true
			}
			u, err := url.Parse(v)
			ok := err == nil && (u.Scheme == "tcp" || u.Scheme == "tls") && u.Port() != "" && u.Hostname() != "" && u.Path == ""
			return "empty (off), tcp://HOST:PORT or tls://HOST:PORT", ok
		},
	},
	"log": {
		"level":  oneOf(func(c *Config) *string { return &c.Log.Level }, "debug", "info", "warn", "error"),
		"format": oneOf(func(c *Config) *string { return &c.Log.Format }, "text", "json"),
	},
}

func parseConfig(name string, r io.Reader, base *Config) (*Config, error) {
	cfg := &Config{Flavours: map[string]Flavour{}}
	if base != nil {
		*cfg = *base
		cfg.Flavours = map[string]Flavour{}
	}
	flavoursSeen := false
	sc := bufio.NewScanner(r)
	section, flavour := "", ""
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, ";") {
			continue
		}
		if strings.HasPrefix(text, "[") {
			m := sectionRe.FindStringSubmatch(text)
			if m == nil {
				return nil, &ConfigError{File: name, Line: line, Allowed: fmt.Sprintf("bad section header %q: expected [name] or [flavour.NAME]", text)}
			}
			section, flavour = m[1], m[2]
			if _, ok := keys[section]; !ok {
				return nil, &ConfigError{File: name, Line: line, Allowed: fmt.Sprintf("unknown section [%s]: allowed sections are %s", section, strings.Join(sectionNames(), ", "))}
			}
			if (section == "flavour") != (flavour != "") {
				return nil, &ConfigError{File: name, Line: line, Allowed: fmt.Sprintf("bad section header %q: flavours are [flavour.NAME], other sections take no name", text)}
			}
			if section == "flavour" {
				// A file that defines any flavour replaces the built-in list.
				flavoursSeen = true
				cfg.Flavours[flavour] = Flavour{}
			}
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return nil, &ConfigError{File: name, Line: line, Allowed: fmt.Sprintf("expected \"key = value\", got %q", text)}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if section == "" {
			return nil, &ConfigError{File: name, Line: line, Key: k, Value: v, Allowed: "keys must follow a [section] header"}
		}
		set, ok := keys[section][k]
		full := section + "." + k
		if section == "flavour" {
			full = "flavour." + flavour + "." + k
		}
		if !ok {
			return nil, &ConfigError{File: name, Line: line, Key: full, Value: v, Allowed: fmt.Sprintf("unknown key; [%s] accepts %s", section, strings.Join(keyNames(section), ", "))}
		}
		if prev, dup := seen[full]; dup {
			return nil, &ConfigError{File: name, Line: line, Key: full, Value: v, Allowed: fmt.Sprintf("set twice (first on line %d)", prev)}
		}
		seen[full] = line
		if allowed, ok := set(cfg, flavour, v); !ok {
			return nil, &ConfigError{File: name, Line: line, Key: full, Value: v, Allowed: "allowed: " + allowed}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading config %s: %w", name, err)
	}
	if !flavoursSeen && base != nil {
		cfg.Flavours = base.Flavours
	}
	return cfg, nil
}

// finishConfig fills derived defaults and checks rules that span keys.
func finishConfig(c *Config, name string) error {
	if c.Node.ID == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node.id is empty and the host name is unknown: %w", err)
		}
		// The short host name: node IDs carry no dots.
		short, _, _ := strings.Cut(strings.ToLower(h), ".")
		c.Node.ID = short
		if !nodeIDRe.MatchString(c.Node.ID) {
			return &ConfigError{File: name, Key: "node.id", Value: c.Node.ID, Allowed: "the host name is not a valid node id; set node.id to lower-case letters, digits, '_' and '-'"}
		}
	}
	if c.Cluster.Advertise == "" {
		c.Cluster.Advertise = c.Cluster.Bind
	}
	if c.Storage.Dir == "" {
		c.Storage.Dir = filepath.Join(c.Node.DataDir, "volumes")
	}
	if c.Storage.SharedDir == "" {
		c.Storage.SharedDir = filepath.Join(c.Node.DataDir, "shared")
	}
	if c.Storage.ImageImportDir == "" {
		c.Storage.ImageImportDir = filepath.Join(c.Node.DataDir, "import")
	}
	if c.Storage.KEKFile == "" {
		c.Storage.KEKFile = filepath.Join(c.Node.DataDir, "keys", "kek")
	}
	if (c.UI.TLSCert == "") != (c.UI.TLSKey == "") {
		return &ConfigError{File: name, Key: "ui.tls_cert", Value: c.UI.TLSCert, Allowed: "ui.tls_cert and ui.tls_key must be set together (or both left empty for a self-signed pair)"}
	}
	if c.UI.SessionIdleTimeout > c.UI.SessionAbsoluteTimeout {
		return &ConfigError{File: name, Key: "ui.session_idle_timeout", Value: c.UI.SessionIdleTimeout.String(), Allowed: "must not exceed ui.session_absolute_timeout (" + c.UI.SessionAbsoluteTimeout.String() + ")"}
	}
	if len(c.Flavours) == 0 {
		return &ConfigError{File: name, Allowed: "at least one [flavour.NAME] section is needed"}
	}
	for n, f := range c.Flavours {
		if f.VCPU == 0 || f.MemoryMiB == 0 || f.DiskGiB == 0 {
			return &ConfigError{File: name, Key: "flavour." + n, Allowed: "each flavour needs vcpu, memory and disk"}
		}
	}
	if ui, cl := c.UI.Listen, c.Cluster.Bind; ui == cl {
		return &ConfigError{File: name, Key: "ui.listen", Value: ui, Allowed: "must differ from cluster.bind"}
	}
	return nil
}

func sectionNames() []string {
	var s []string
	for k := range keys {
		s = append(s, "["+k+"]")
	}
	sort.Strings(s)
	return s
}

func keyNames(section string) []string {
	var s []string
	for k := range keys[section] {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

func absPath(field func(*Config) *string, emptyOK bool) setter {
	return func(c *Config, _, v string) (string, bool) {
		*field(c) = v
		if v == "" {
			return "an absolute path", emptyOK
		}
		return "an absolute path", filepath.IsAbs(v) && filepath.Clean(v) == v
	}
}

func hostPort(field func(*Config) *string, emptyOK bool) setter {
	return func(c *Config, _, v string) (string, bool) {
		*field(c) = v
		const allowed = "HOST:PORT with an IP address or host name and a port from 1 to 65535, e.g. 127.0.0.1:8443"
		if v == "" {
			return allowed, emptyOK
		}
		h, p, err := net.SplitHostPort(v)
		if err != nil || h == "" {
			return allowed, false
		}
		n, err := strconv.Atoi(p)
		return allowed, err == nil && n >= 1 && n <= 65535
	}
}

func duration(field func(*Config) *time.Duration, lo, hi time.Duration) setter {
	return func(c *Config, _, v string) (string, bool) {
		d, err := time.ParseDuration(v)
		*field(c) = d
		return fmt.Sprintf("a duration from %s to %s, e.g. 30m", lo, hi), err == nil && d >= lo && d <= hi
	}
}

func integer(field func(*Config) *int, lo, hi int) setter {
	return func(c *Config, _, v string) (string, bool) {
		n, err := strconv.Atoi(v)
		*field(c) = n
		return fmt.Sprintf("a whole number from %d to %d", lo, hi), err == nil && n >= lo && n <= hi
	}
}

func boolean(field func(*Config) *bool) setter {
	return func(c *Config, _, v string) (string, bool) {
		b, err := strconv.ParseBool(v)
		*field(c) = b
		return "true or false", err == nil
	}
}

func oneOf(field func(*Config) *string, allowed ...string) setter {
	return func(c *Config, _, v string) (string, bool) {
		*field(c) = v
		return "one of " + strings.Join(allowed, ", "), slices.Contains(allowed, v)
	}
}

var sizeUnits = map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}

func parseSize(v string) (int64, error) {
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := v, ""
	if i >= 0 {
		num, unit = v[:i], strings.TrimSpace(v[i:])
	}
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, errors.New("bad size")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, errors.New("bad size")
	}
	return n * mult, nil
}
