package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

var (
	// ErrToolMissing means an iptables, ip6tables or ebtables program is not installed.
	ErrToolMissing = errors.New("firewall tool missing")
	// ErrLocked means the xtables lock stayed held by another program.
	ErrLocked = errors.New("xtables lock held by another program")
)

// ruleTable is one family's filter table as sded needs it: read it whole,
// and apply a restore script atomically (all of it or nothing).
type ruleTable interface {
	Save(ctx context.Context) (string, error)
	Restore(ctx context.Context, script string) error
}

// execTable runs the *-save and *-restore programs of one family.
type execTable struct {
	name        string // for errors: iptables, ip6tables, ebtables
	save        string
	restore     string
	restoreArgs []string
}

// ToolPaths names the programs sded runs; empty fields use the defaults found
// on PATH (iptables-save, iptables-restore, ip6tables-*, ebtables-*), which on
// Debian are the nf_tables variants.
type ToolPaths struct {
	IPTables, IPTablesSave, IPTablesRestore    string
	IP6Tables, IP6TablesSave, IP6TablesRestore string
	EBTablesSave, EBTablesRestore              string
	// WaitSeconds is how long iptables waits for the xtables lock (legacy
	// backend only; nf_tables needs no lock). Zero means 5.
	WaitSeconds int
}

func orDefault(p, def string) string {
	if p != "" {
		return p
	}
	return def
}

// newExecTables checks the programs exist (via go-iptables, which also runs
// "iptables --version") and returns the three tables and the backend mode.
func newExecTables(paths ToolPaths) (map[family]ruleTable, string, error) {
	wait := paths.WaitSeconds
	if wait == 0 {
		wait = 5
	}
	mode := ""
	for _, p := range []struct {
		proto iptables.Protocol
		path  string
	}{
		{iptables.ProtocolIPv4, orDefault(paths.IPTables, "iptables")},
		{iptables.ProtocolIPv6, orDefault(paths.IP6Tables, "ip6tables")},
	} {
		full, err := exec.LookPath(p.path)
		if err != nil {
			return nil, "", fmt.Errorf("finding %s: %w: %w", p.path, ErrToolMissing, err)
		}
		if _, err := iptables.New(iptables.IPFamily(p.proto), iptables.Path(full), iptables.Timeout(wait)); err != nil {
			return nil, "", fmt.Errorf("running %s: %w", full, err)
		}
		if out, err := exec.Command(full, "--version").Output(); err == nil && mode == "" {
			mode = "legacy"
			if bytes.Contains(out, []byte("nf_tables")) {
				mode = "nf_tables"
			}
		}
	}
	// Distributions without the "ebtables" alternative still ship the
	// nf_tables variant under its own name.
	ebSave, ebRestore := paths.EBTablesSave, paths.EBTablesRestore
	if ebSave == "" && ebRestore == "" {
		ebSave, ebRestore = "ebtables-save", "ebtables-restore"
		if _, err := exec.LookPath(ebRestore); err != nil {
			ebSave, ebRestore = "ebtables-nft-save", "ebtables-nft-restore"
		}
	}
	w := fmt.Sprint(wait)
	tables := map[family]ruleTable{
		famV4: &execTable{name: "iptables", save: orDefault(paths.IPTablesSave, "iptables-save"),
			restore: orDefault(paths.IPTablesRestore, "iptables-restore"), restoreArgs: []string{"--noflush", "-w", w}},
		famV6: &execTable{name: "ip6tables", save: orDefault(paths.IP6TablesSave, "ip6tables-save"),
			restore: orDefault(paths.IP6TablesRestore, "ip6tables-restore"), restoreArgs: []string{"--noflush", "-w", w}},
		famEB: &execTable{name: "ebtables", save: orDefault(ebSave, "ebtables-save"),
			restore: orDefault(ebRestore, "ebtables-restore"), restoreArgs: []string{"--noflush"}},
	}
	for _, t := range tables {
		et := t.(*execTable)
		for _, p := range []string{et.save, et.restore} {
			if _, err := exec.LookPath(p); err != nil {
				return nil, "", fmt.Errorf("finding %s: %w: %w", p, ErrToolMissing, err)
			}
		}
	}
	return tables, mode, nil
}

// allNFTables reports whether every family's tools use the nf_tables
// backend (so one ruleset generation counter covers all of sded's rules).
func allNFTables(tables map[family]ruleTable) bool {
	for _, t := range tables {
		et, ok := t.(*execTable)
		if !ok {
			return false
		}
		out, err := exec.Command(et.save, "--version").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("nf_tables")) {
			return false
		}
	}
	return true
}

// Save returns the filter table as the save program prints it.
func (t *execTable) Save(ctx context.Context) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, t.save, "-t", "filter")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("reading %s rules: %w", t.name, t.classify(err, stderr.String()))
	}
	return stdout.String(), nil
}

// Restore applies script in one transaction.
func (t *execTable) Restore(ctx context.Context, script string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, t.restore, t.restoreArgs...)
	cmd.Stdin = strings.NewReader(script)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("applying %s rules: %w", t.name, t.classify(err, stderr.String()))
	}
	return nil
}

func (t *execTable) classify(err error, stderr string) error {
	stderr = strings.TrimSpace(stderr)
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrToolMissing, err)
	case strings.Contains(stderr, "xtables lock"):
		return fmt.Errorf("%w: %s", ErrLocked, stderr)
	case stderr != "":
		return fmt.Errorf("%w: %s", err, stderr)
	}
	return err
}
