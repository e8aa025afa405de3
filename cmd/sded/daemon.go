package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/reconcile"
	"github.com/sded/sded/cluster/state"
	"github.com/sded/sded/hypervisor"
	"github.com/sded/sded/network"
	"github.com/sded/sded/network/dhcp"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/sharedfs"
	"github.com/sded/sded/ui/gateway"
)

// daemon is a running sded node: replicated state, drivers and controllers.
type daemon struct {
	cfg   *Config
	log   *slog.Logger
	store *state.Store
	fsm   *fsm.FSM
	node  *cluster.Node
	svc   *cluster.Service
	kek   *storage.KEK
	vols  *storage.Volumes
	share *sharedfs.Dirs
	hv    *hypervisor.Driver
	net   *network.Manager
	dhcp  *dhcp.Pool
	rec   *reconcile.Reconciler

	airlock *airlock.Engine
	gateway *gateway.Gateway

	closers []func()
}

// The daemon's files under data_dir.
func statePath(c *Config) string  { return filepath.Join(c.Node.DataDir, "state", "state.db") }
func socketPath(c *Config) string { return filepath.Join(c.Node.DataDir, "sded.sock") }

func clusterConfig(cfg *Config, log *slog.Logger) cluster.Config {
	return cluster.Config{DataDir: cfg.Node.DataDir, NodeID: cfg.Node.ID, BindAddr: cfg.Cluster.Bind,
		AdvertiseAddr: cfg.Cluster.Advertise, Logger: log.With(slog.String("component", "raft"))}
}

// openState opens the bbolt state and the FSM over it.
func openState(cfg *Config, log *slog.Logger, onApply func(uint64)) (*state.Store, *fsm.FSM, error) {
	if err := os.MkdirAll(filepath.Dir(statePath(cfg)), 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating state directory: %w", err)
	}
	st, err := state.Open(statePath(cfg))
	if err != nil {
		return nil, nil, fmt.Errorf("opening state %s: %w", statePath(cfg), err)
	}
	return st, fsm.New(st, log.With(slog.String("component", "fsm")), onApply), nil
}

// startDaemon brings up every part of a node. On error everything already
// started is closed again.
func startDaemon(ctx context.Context, cfg *Config, log *slog.Logger, join func(cluster.Config) (*cluster.Node, error)) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	// The data directory is 0711: QEMU, running as its own user, must pass
	// through it to the disks, seeds and consoles below; its secrets (keys,
	// tls, state, raft) live in 0700 subdirectories.
	if err := os.MkdirAll(cfg.Node.DataDir, 0o711); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if err := os.Chmod(cfg.Node.DataDir, 0o711); err != nil {
		return nil, fmt.Errorf("setting data directory mode: %w", err)
	}
	if err := model.SetSubnetPool(cfg.Network.Pool); err != nil {
		return nil, fmt.Errorf("network.pool: %w", err)
	}
	kick := func(uint64) {
		if d.rec != nil {
			d.rec.Kick()
		}
	}
	if d.store, d.fsm, err = openState(cfg, log, kick); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { d.store.Close() })

	cc := clusterConfig(cfg, log)
	cc.FSM, cc.Store = fsm.NewBatching(d.fsm), d.store // a run of entries shares one bbolt transaction
	if join != nil {
		d.node, err = join(cc)
	} else {
		d.node, err = cluster.Open(ctx, cc)
	}
	if err != nil {
		return nil, fmt.Errorf("starting raft node: %w", err)
	}
	d.closers = append(d.closers, func() { d.node.Close() })

	flavours := map[string]cluster.Flavour{}
	for n, f := range cfg.Flavours {
		flavours[n] = cluster.Flavour{VCPU: f.VCPU, MemoryMiB: int(f.MemoryMiB), DiskGiB: int(f.DiskGiB)}
	}
	d.svc = cluster.NewService(d.node, d.store, cluster.ServiceConfig{
		NodeID: d.node.ID(), SessionIdle: cfg.UI.SessionIdleTimeout, SessionAbsolute: cfg.UI.SessionAbsoluteTimeout,
		Flavours: flavours, AirlockApprovals: cfg.Airlock.Reviewers, Logger: log.With(slog.String("component", "service")),
	})

	if d.kek, err = loadOrCreateKEK(cfg.Storage.KEKFile, log); err != nil {
		return nil, err
	}
	if d.vols, err = storage.NewVolumes(storage.VolumesConfig{Root: cfg.Storage.Dir, IterTimeMS: cfg.Storage.LUKSIterTimeMS,
		Logger: log.With(slog.String("component", "storage"))}); err != nil {
		return nil, fmt.Errorf("opening volumes: %w", err)
	}
	if err := d.vols.CleanTemp(); err != nil {
		log.Warn("cleaning half-made volumes", slog.Any("err", err))
	}
	if d.share, err = sharedfs.New(cfg.Storage.SharedDir, log.With(slog.String("component", "sharedfs"))); err != nil {
		return nil, err
	}
	if err := sharedfs.Check(cfg.Storage.SharedDir); err != nil {
		log.Error("projects' shared folders are unavailable: workstations will run without them", slog.String("shared_dir", cfg.Storage.SharedDir), slog.Any("err", err))
	}

	if d.hv, err = hypervisor.New(ctx, hypervisor.Options{URI: cfg.Hypervisor.URI,
		Logger: log.With(slog.String("component", "hypervisor")),
		// Domains carry this node's ID: another sded on the same host (a test,
		// a second installation) neither sees nor removes them.
		Scope: map[string]string{"node": cfg.Node.ID}}); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { d.hv.Close() })

	// The network manager acts in the process's own network namespace.
	runtime.LockOSThread()
	d.net, err = network.New(ctx, log.With(slog.String("component", "network")), network.Options{})
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("starting network manager: %w", err)
	}
	d.closers = append(d.closers, d.net.Close)
	d.dhcp = dhcp.NewPool(log.With(slog.String("component", "dhcp")))
	d.closers = append(d.closers, d.dhcp.Close)

	if err := d.startAirlock(); err != nil {
		return nil, err
	}
	d.rec = reconcile.New(reconcile.Config{
		NodeID:      d.node.ID(),
		Desired:     d.svc,
		Reporter:    d.svc,
		Networks:    &networkAdapter{m: d.net, dhcp: d.dhcp, airlockPort: uint16(cfg.Network.AirlockPort), onApplied: d.gatewayListeners},
		Volumes:     &volumeAdapter{v: d.vols, shared: d.share, kek: d.kek, dir: filepath.Join(cfg.Node.DataDir, "seeds")},
		Domains:     &domainAdapter{hv: d.hv, typ: hypervisor.Type(cfg.Hypervisor.DomainType), runDir: filepath.Join(cfg.Node.DataDir, "run")},
		Logger:      log.With(slog.String("component", "reconcile")),
		AirlockPort: cfg.Network.AirlockPort,
		User:        d.userNames,
		StopGrace:   stopGrace,
	})
	return d, nil
}

// run runs the controllers until ctx ends.
func (d *daemon) run(ctx context.Context) {
	go d.rec.Run(ctx)
	go d.watchDomains(ctx)
	go d.leaderTasks(ctx)
	go d.forwardAudit(ctx)
}

// watchDomains kicks the reconciler on every libvirt lifecycle event, so a
// workstation's status follows libvirt promptly.
func (d *daemon) watchDomains(ctx context.Context) {
	for ev := range d.hv.Subscribe(ctx) {
		d.log.Debug("libvirt event", slog.String("domain", ev.Name), slog.String("kind", string(ev.Kind)))
		d.rec.Kick()
	}
}

// leaderTasks runs the periodic work one node does for the cluster: project
// keys for new projects, project expiry and session expiry.
func (d *daemon) leaderTasks(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	last := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !d.node.IsLeader() {
			continue
		}
		if err := d.ensureProjectKeys(ctx); err != nil {
			d.log.Warn("creating project keys", slog.Any("err", err))
		}
		if time.Since(last) < 30*time.Second {
			continue
		}
		last = time.Now()
		// Releases a crash interrupted: recovery, not a hot path.
		d.releaseApproved(ctx)
		if err := d.svc.Housekeep(ctx); err != nil {
			d.log.Warn("expiring sessions and projects", slog.Any("err", err))
		}
	}
}

// ensureProjectKeys gives every project that is not archived a random data
// key, wrapped with the cluster key-encryption key.
func (d *daemon) ensureProjectKeys(ctx context.Context) error {
	projects, err := d.store.Projects()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range projects {
		if p.State == model.ProjectArchived {
			continue
		}
		if _, err := d.store.ProjectKey(p.ID); err == nil {
			continue
		} else if !errors.Is(err, model.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		dek, err := storage.NewDEK()
		if err != nil {
			return err
		}
		wrapped, err := d.kek.Wrap(p.ID, dek)
		if err != nil {
			return err
		}
		if err := d.svc.PutProjectKey(ctx, p.ID, d.kek.ID(), wrapped); err != nil && !errors.Is(err, model.ErrAlreadyExists) {
			errs = append(errs, fmt.Errorf("project %s: %w", p.Slug, err))
			continue
		}
		d.log.Info("created project data key", slog.String("project", p.Slug))
		d.rec.Kick()
	}
	return errors.Join(errs...)
}

// releaseApproved finishes releases that a crash interrupted.
func (d *daemon) releaseApproved(ctx context.Context) {
	projects, err := d.store.Projects()
	if err != nil {
		return
	}
	for _, p := range projects {
		if p.State == model.ProjectActive {
			if err := d.airlock.ReleaseApproved(ctx, p.ID); err != nil {
				d.log.Warn("releasing approved airlock requests", slog.String("project", p.Slug), slog.Any("err", err))
			}
		}
	}
}

func (d *daemon) userNames(_ context.Context, id string) (string, string) {
	u, err := d.store.User(id)
	if err != nil {
		return "researcher", "Researcher"
	}
	return u.Username, u.DisplayName
}

// close stops everything in reverse order. Workstations and networks are
// left as they are: they belong to libvirt and the kernel, not to sded.
func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// loadOrCreateKEK loads the key-encryption key, creating it on a new node.
func loadOrCreateKEK(path string, log *slog.Logger) (*storage.KEK, error) {
	k, err := storage.LoadKEK(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("loading key-encryption key: %w", err)
	}
	k, err = storage.CreateKEK(path)
	if err != nil {
		return nil, fmt.Errorf("creating key-encryption key: %w", err)
	}
	log.Warn("created a new cluster key-encryption key: back it up now (see docs/install.md)", slog.String("path", path))
	return k, nil
}
