package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("serve", "serve [--config FILE]", stderr)
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	cfg, err := loadConfigFlag(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	if err := preflight(cfg); err != nil {
		return fmt.Errorf("cannot start:\n%w", err)
	}
	if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	log.Info("sded starting", slog.String("version", version), slog.String("node", cfg.Node.ID), slog.String("data_dir", cfg.Node.DataDir))
	<-ctx.Done()
	log.Info("sded stopped")
	return nil
}

// helpOK turns the "help shown" sentinel into success.
func helpOK(err error) error {
	if err == errHelpShown {
		return nil
	}
	return err
}

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return usagef("usage: sded config check [--config FILE]")
	}
	fs, cfgPath := newFlags("config check", "config check [--config FILE]", stderr)
	if err := parseFlags(fs, args[1:]); err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfigFlag(*cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config ok: node %s, data in %s, UI on https://%s, cluster on %s, %d flavours, domain type %s\n",
		cfg.Node.ID, cfg.Node.DataDir, cfg.UI.Listen, cfg.Cluster.Bind, len(cfg.Flavours), cfg.Hypervisor.DomainType)
	return nil
}
