// Command sded is the Secure Data Environment daemon and its administration
// command line: one binary that serves the web UI, runs the replicated state
// and drives libvirt, the host network and encrypted storage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u *usageError
		if errors.As(err, &u) {
			fmt.Fprintf(os.Stderr, "sded: %v\nRun 'sded help' for usage.\n", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "sded: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the daemon (web UI, replicated state, reconciler)", runServe},
		{"init", "prepare a node that founds a cluster: CA and key-encryption key", runInit},
		{"join", "join this node to a cluster with a token, then serve", runJoin},
		{"config", "check a configuration file: sded config check --config FILE", runConfig},
		{"user", "manage accounts: add, list, disable, enable, reset-password", runGroup("user", userCommands)},
		{"project", "manage projects: add, list, suspend, resume, archive, schedule, member-add, member-remove", runGroup("project", projectCommands)},
		{"image", "manage base images: add, list, delete", runGroup("image", imageCommands)},
		{"workstation", "manage workstations: add, list, start, stop, delete", runGroup("workstation", workstationCommands)},
		{"setting", "replicated platform settings: put, get (project.archive_retention, desktop.break_glass, ...)", runGroup("setting", settingCommands)},
		{"airlock", "review data leaving or entering projects: list, return, reject, revoke, vote, download", runGroup("airlock", airlockCommands)},
		{"node", "cluster nodes: list, token (to join a node), remove", runGroup("node", nodeCommands)},
		{"audit", "check or export the audit log: verify, export", runAudit},
		{"backup", "write a consistent snapshot of the state: sded backup FILE", runBackup},
		{"restore", "recover a new cluster from a backup on a fresh node: sded restore FILE", runRestore},
		{"version", "print the version", runVersion},
		{"help", "show this help", nil},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printHelp(stderr)
		return usagef("no command given")
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		printHelp(stdout)
		return nil
	}
	if name == "--version" || name == "-v" {
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return usagef("unknown command %q", name)
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, `sded %s — an on-premises Secure Data Environment (Trusted Research Environment)

Usage:
  sded COMMAND [flags]

Commands:
`, version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command that reads the configuration takes --config FILE
(default /etc/sded/sded.conf when it exists, otherwise built-in defaults).
Run 'sded COMMAND -h' for the flags of one command.
Documentation: /usr/share/doc/sded and https://github.com/sded/sded (README.md).
`)
}

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usagef("version takes no arguments")
	}
	fmt.Fprintf(stdout, "sded %s\n", version)
	return nil
}
