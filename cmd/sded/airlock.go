package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/reconcile"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/pseudonym"
	"github.com/sded/sded/storage/staged"
	"github.com/sded/sded/ui/gateway"
)

// The airlock: the engine (storage steps around the replicated state
// changes) and the gateway (each project's endpoint on its gateway address,
// for workstations). The adapters connect the engine's consumer-declared
// ports to the storage packages; they are the ones test/airlock exercises.
var (
	_ airlock.Requests      = (*cluster.Service)(nil)
	_ airlock.Commands      = (*cluster.Service)(nil)
	_ airlock.System        = (*cluster.Service)(nil)
	_ gateway.Directory     = (*cluster.Service)(nil)
	_ gateway.System        = (*cluster.Service)(nil)
	_ gateway.Engine        = (*airlock.Engine)(nil)
	_ airlock.FileStore     = stagedAdapter{}
	_ airlock.Checker       = checkerAdapter{}
	_ airlock.Pseudonymiser = pseudonymAdapter{}
	_ airlock.VolumeBuilder = dataVolumeAdapter{}
	_ airlock.Keys          = (*airlockKeys)(nil)
)

// refusal turns the staged store's input refusals into domain errors the
// engine reports to the user (and audits); other errors pass unchanged.
func refusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, staged.ErrTooLarge):
		return &model.Error{Code: model.CodeTooLarge, Field: "file", Message: err.Error()}
	case errors.Is(err, staged.ErrBadName), errors.Is(err, staged.ErrBlocked), errors.Is(err, staged.ErrArchive):
		return &model.Error{Code: model.CodeInvalid, Field: "file", Message: err.Error()}
	}
	var me *model.Error
	if errors.As(err, &me) { // a refusal from the pseudonymiser, read through the store
		return me
	}
	return err
}

// stagedAdapter adapts *staged.Store to airlock.FileStore.
type stagedAdapter struct{ s *staged.Store }

func (a stagedAdapter) CheckName(name string) error { return refusal(staged.CheckName(name)) }

func (a stagedAdapter) Put(ctx context.Context, project string, key []byte, name string, r io.Reader) (airlock.StoredFile, error) {
	f, err := a.s.Put(ctx, project, key, name, r)
	if err != nil {
		return airlock.StoredFile{}, refusal(err)
	}
	return airlock.StoredFile{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256}, nil
}

func (a stagedAdapter) Open(ctx context.Context, project string, key []byte, id string) (io.ReadCloser, error) {
	return a.s.Open(ctx, project, key, id)
}

func (a stagedAdapter) Delete(ctx context.Context, project, id string) error {
	return a.s.Delete(ctx, project, id)
}

// checkerAdapter adapts storage/disclosure to airlock.Checker: each file is
// checked with the tier's rules, the records are combined and fitted to the
// size the replicated state allows.
type checkerAdapter struct{ tiers disclosure.Tiers }

func (c checkerAdapter) Check(ctx context.Context, requestID string, tier int, files []airlock.CheckInput, maxRecord int) (airlock.CheckResult, error) {
	rules := c.tiers.For(tier)
	res := airlock.CheckResult{Status: map[string]string{}, Errors: map[string]string{}}
	recs := make([]disclosure.FileRecord, 0, len(files))
	for _, f := range files {
		rc, err := f.Open(ctx)
		if err != nil {
			return res, err
		}
		rec, err := disclosure.CheckFile(ctx, f.Name, rc, disclosure.Options{Rules: rules})
		rc.Close()
		if err != nil && (ctx.Err() != nil || errors.Is(err, staged.ErrCorrupt)) {
			return res, fmt.Errorf("checking %q: %w", f.Name, err)
		}
		res.Status[f.Name] = rec.Status // pass, fail, review or error (malformed, too large)
		if rec.Error != "" {
			res.Errors[f.Name] = rec.Error
		}
		recs = append(recs, rec)
	}
	b, err := disclosure.NewRecord(requestID, rules, recs).Fit(maxRecord)
	if err != nil {
		return res, err
	}
	res.Record = b
	return res, nil
}

// pseudonymAdapter adapts storage/pseudonym.Transform. Input problems
// (malformed CSV, unknown columns) are refusals; a closed pipe means the
// store stopped reading and reports its own error.
type pseudonymAdapter struct{}

func (pseudonymAdapter) Pseudonymise(ctx context.Context, key []byte, r io.Reader, w io.Writer, columns []string) error {
	_, err := pseudonym.Transform(ctx, key, r, w, pseudonym.Options{Columns: columns})
	if err == nil || ctx.Err() != nil || errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	return &model.Error{Code: model.CodeInvalid, Field: "pseudonymise", Message: err.Error()}
}

// dataVolumeAdapter adapts storage.Volumes.BuildDataVolume, deriving the data
// volume's secret from the project's data key.
type dataVolumeAdapter struct {
	v    *storage.Volumes
	keys *airlockKeys
}

func (a dataVolumeAdapter) BuildDataVolume(ctx context.Context, project string, files []airlock.DataFile) error {
	dek, err := a.keys.dek(ctx, project)
	if err != nil {
		return err
	}
	df := make([]storage.DataFile, len(files))
	for i, f := range files {
		df[i] = storage.DataFile{Name: f.Name, Open: f.Open}
	}
	_, err = a.v.BuildDataVolume(ctx, project, df, dek.VolumeSecret(storage.DataVolumeName))
	return err
}

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
		Files: stagedAdapter{store}, Keys: keys, Checker: checkerAdapter{disclosure.DefaultTiers()},
		Pseudonym: pseudonymAdapter{}, Volumes: dataVolumeAdapter{v: d.vols, keys: keys},
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
