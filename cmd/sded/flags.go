package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const systemConfigPath = "/etc/sded/sded.conf"

// newFlags returns a flag set for a subcommand with the common --config flag.
func newFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", "", "configuration file (default "+systemConfigPath+" when it exists, else built-in defaults)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sded %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs, cfg
}

// parseFlags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

// errHelpShown ends a command after -h printed its usage.
var errHelpShown = errors.New("help shown")

// loadConfigFlag loads the file named by --config, or the system file when
// it exists, or the built-in defaults.
func loadConfigFlag(path string) (*Config, error) {
	if path == "" {
		if _, err := os.Stat(systemConfigPath); err == nil {
			path = systemConfigPath
		}
	}
	return LoadConfig(path)
}
