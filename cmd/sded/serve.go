package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/storage/sharedfs"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("serve", "serve [--config FILE]", stderr)
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	return serve(ctx, *cfgPath, stderr, nil)
}

// runJoin joins this node to a cluster, then serves. Later starts use
// `sded serve`: the node keeps its membership in its data directory.
func runJoin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("join", "join [--config FILE] --token TOKEN ADDRESS", stderr)
	token := fs.String("token", "", "join token from `sded node token` on the node holding the cluster CA")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() != 1 || *token == "" {
		return usagef("usage: sded join [--config FILE] --token TOKEN ADDRESS (the CA node's cluster address, e.g. 10.0.0.1:7946)")
	}
	addr := fs.Arg(0)
	return serve(ctx, *cfgPath, stderr, func(ctx context.Context, cfg *Config, cc cluster.Config) (*cluster.Node, error) {
		if _, err := os.Stat(cfg.Storage.KEKFile); err != nil {
			return nil, fmt.Errorf("no key-encryption key at %s: copy the cluster's key from the first node (root-only, 0600) before joining, so this node can unlock project volumes", cfg.Storage.KEKFile)
		}
		return cluster.Join(ctx, addr, *token, cc)
	})
}

// serve runs the daemon until ctx ends.
func serve(ctx context.Context, cfgPath string, stderr io.Writer, join func(context.Context, *Config, cluster.Config) (*cluster.Node, error)) error {
	cfg, err := loadConfigFlag(cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	if err := preflight(cfg); err != nil {
		return fmt.Errorf("cannot start:\n%w", err)
	}
	log.Info("sded starting", slog.String("version", version), slog.String("node", cfg.Node.ID), slog.String("data_dir", cfg.Node.DataDir))
	var joinFn func(cluster.Config) (*cluster.Node, error)
	if join != nil {
		joinFn = func(cc cluster.Config) (*cluster.Node, error) { return join(ctx, cfg, cc) }
	}
	d, err := startDaemon(ctx, cfg, log, joinFn)
	if err != nil {
		if ctx.Err() != nil { // stopped while starting (systemctl stop): not a failure
			log.Info("sded stopped while starting")
			return nil
		}
		return err
	}
	defer d.close()
	// Desktop sessions a crash of this node left recorded would keep their
	// workstations from ever counting as idle.
	if n, err := d.svc.ForgetDesktops(ctx); err != nil {
		log.Warn("closing desktop sessions left by a previous run", slog.Any("err", err))
	} else if n > 0 {
		log.Info("closed desktop sessions left by a previous run", slog.Int("sessions", n))
	}
	stopLocal, err := d.serveLocal(ctx)
	if err != nil {
		return err
	}
	defer stopLocal()
	stopUI, err := d.serveUI(ctx)
	if err != nil {
		return err
	}
	defer stopUI()
	d.run(ctx)
	if ok, err := sdNotify("READY=1\nSTATUS=serving"); err != nil {
		log.Warn("telling systemd we are ready", slog.Any("err", err))
	} else if ok {
		log.Debug("told systemd we are ready")
	}
	log.Info("sded ready", slog.String("ui", "https://"+cfg.UI.Listen), slog.String("cluster", cfg.Cluster.Advertise),
		slog.String("local_api", socketPath(cfg)))
	<-ctx.Done()
	_, _ = sdNotify("STOPPING=1")
	log.Info("sded stopping; workstations and networks stay up")
	done := make(chan struct{})
	go func() { d.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		log.Warn("shutdown took too long; exiting")
	}
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
	// The shared folders' filesystem: probed in the nearest existing
	// directory (nothing is left behind).
	dir := cfg.Storage.SharedDir
	for {
		if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
			break
		}
		dir = filepath.Dir(dir)
	}
	if err := sharedfs.Check(dir); err != nil {
		fmt.Fprintf(stdout, "warning: projects' shared folders are unavailable in %s: %v; workstations will run without one\n", cfg.Storage.SharedDir, err)
	} else {
		fmt.Fprintf(stdout, "shared folders: %s can be encrypted\n", cfg.Storage.SharedDir)
	}
	return nil
}
