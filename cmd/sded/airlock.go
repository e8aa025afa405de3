package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/reconcile"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/staged"
	"github.com/sded/sded/ui/gateway"

	"github.com/sded/sded/cmd/sded/wire"
)

// The airlock: the engine (storage steps around the replicated state
// changes) and the gateway (each project's endpoint on its gateway address,
// for workstations). The adapters connect the engine's consumer-declared
// ports to the storage packages; they are the ones test/airlock exercises.
var (
	_ airlock.Requests  = (*cluster.Service)(nil)
	_ airlock.Commands  = (*cluster.Service)(nil)
	_ airlock.System    = (*cluster.Service)(nil)
	_ gateway.Directory = (*cluster.Service)(nil)
	_ gateway.System    = (*cluster.Service)(nil)
	_ gateway.Engine    = (*airlock.Engine)(nil)
	_ airlock.Keys      = (*airlockKeys)(nil)
)

// airlockKeys unwraps a project's data key from the replicated state with
// the cluster key-encryption key.
type airlockKeys struct {
	svc *cluster.Service
	kek *storage.KEK
}

func (k *airlockKeys) dek(ctx context.Context, project string) (*storage.DEK, error) {
	wrapped, err := k.svc.ProjectKey(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("reading the data key of project %s: %w", project, err)
	}
	return k.kek.Unwrap(project, wrapped)
}

func (k *airlockKeys) AirlockKeys(ctx context.Context, project string) ([]byte, []byte, error) {
	d, err := k.dek(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	return d.StagingKey(), d.PseudonymKey(), nil
}

// startAirlock builds the engine and the gateway. The gateway's listeners
// follow the project networks (see networkAdapter.onApplied).
func (d *daemon) startAirlock() error {
	store, err := staged.New(staged.Config{Root: filepath.Join(d.cfg.Storage.Dir, "staged"), MaxFileBytes: d.cfg.Airlock.MaxFileSize})
	if err != nil {
		return fmt.Errorf("opening the airlock store: %w", err)
	}
	linkKey, err := loadOrCreateSecret(filepath.Join(d.cfg.Node.DataDir, "keys", "airlock-links"))
	if err != nil {
		return err
	}
	keys := &airlockKeys{svc: d.svc, kek: d.kek}
	d.airlock, err = airlock.New(airlock.Config{
		Requests: d.svc, Commands: d.svc, System: d.svc,
		Files: wire.Staged{S: store}, Keys: keys, Checker: wire.Checker{Tiers: disclosure.DefaultTiers()},
		Pseudonym: wire.Pseudonymiser{}, Volumes: wire.DataVolumes{V: d.vols, DEK: keys.dek},
		Dir: filepath.Join(d.cfg.Node.DataDir, "airlock"), LinkKey: linkKey, LinkTTL: d.cfg.Airlock.DownloadLinkTTL,
		Logger: d.log.With(slog.String("component", "airlock")),
	})
	if err != nil {
		return fmt.Errorf("starting the airlock: %w", err)
	}
	d.gateway, err = gateway.New(gateway.Config{Engine: d.airlock, Directory: d.svc, System: d.svc,
		Logger: d.log.With(slog.String("component", "gateway"))})
	if err != nil {
		return fmt.Errorf("starting the airlock gateway: %w", err)
	}
	d.closers = append(d.closers, func() { d.gateway.Close() })
	return nil
}

// gatewayListeners moves the airlock endpoints to the gateway addresses of
// the networks just applied.
func (d *daemon) gatewayListeners(ctx context.Context, nets []reconcile.ProjectNetwork) {
	want := make(map[string]netip.AddrPort, len(nets))
	for _, n := range nets {
		want[n.ProjectID] = netip.AddrPortFrom(n.Gateway, uint16(d.cfg.Network.AirlockPort))
	}
	if err := d.gateway.Set(ctx, want); err != nil {
		d.log.Warn("airlock gateway listeners", slog.Any("err", err))
	}
}

// loadOrCreateSecret reads a 32-byte secret, creating it (0600) if absent.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: want 32 bytes (remove it to make a new one): %v", path, err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return b, nil
}
