package airlocktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/pseudonym"
	"github.com/sded/sded/storage/staged"
	"github.com/sded/sded/ui/gateway"
)

// The adapters below are the shapes cmd/sded needs to wire the airlock
// engine to the real storage packages; they are written to be copied there
// as they are (only keysAdapter's key source differs: the daemon unwraps the
// project's wrapped key from state with the cluster KEK).

// The Service satisfies the engine's and the gateway's interfaces directly.
var (
	_ airlock.Requests      = (*cluster.Service)(nil)
	_ airlock.Commands      = (*cluster.Service)(nil)
	_ gateway.Directory     = (*cluster.Service)(nil)
	_ gateway.Engine        = (*airlock.Engine)(nil)
	_ airlock.FileStore     = stagedAdapter{}
	_ airlock.Checker       = checkerAdapter{}
	_ airlock.Pseudonymiser = pseudonymAdapter{}
	_ airlock.VolumeBuilder = volumeAdapter{}
	_ airlock.Keys          = (*keysAdapter)(nil)
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

// volumeAdapter adapts storage.Volumes.BuildDataVolume, deriving the data
// volume's secret from the project's data key.
type volumeAdapter struct {
	v    *storage.Volumes
	keys *keysAdapter
}

func (a volumeAdapter) BuildDataVolume(ctx context.Context, project string, files []airlock.DataFile) error {
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

// keysAdapter gives each project a data key. The daemon's version unwraps
// the project's key from state (state.ProjectKey + KEK.Unwrap) instead.
type keysAdapter struct {
	mu   sync.Mutex
	deks map[string]*storage.DEK
}

func (k *keysAdapter) dek(_ context.Context, project string) (*storage.DEK, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.deks == nil {
		k.deks = map[string]*storage.DEK{}
	}
	d, ok := k.deks[project]
	if !ok {
		var err error
		if d, err = storage.NewDEK(); err != nil {
			return nil, err
		}
		k.deks[project] = d
	}
	return d, nil
}

func (k *keysAdapter) AirlockKeys(ctx context.Context, project string) ([]byte, []byte, error) {
	d, err := k.dek(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	return d.StagingKey(), d.PseudonymKey(), nil
}

// systemAdapter is the node's own access for the engine and the gateway:
// reads from the local replica without a user, and audit events proposed as
// the node.
type systemAdapter struct {
	node  *cluster.Node
	st    *state.Store
	clock func() time.Time
}

func (a systemAdapter) AirlockRequest(_ context.Context, id string) (model.AirlockRequest, error) {
	return a.st.Airlock(id)
}

func (a systemAdapter) ProjectAirlockRequests(_ context.Context, projectID string) ([]model.AirlockRequest, error) {
	return a.st.AirlockRequests(projectID)
}

func (a systemAdapter) ProjectWorkstations(_ context.Context, projectID string) ([]model.Workstation, error) {
	return a.st.Workstations(projectID)
}

func (a systemAdapter) RecordSystemAudit(ctx context.Context, ev model.RecordAudit) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	id := make([]byte, 16)
	rand.Read(id)
	cmd, err := model.NewCommand(model.CmdRecordAudit, hex.EncodeToString(id), model.Actor{NodeID: a.node.ID()}, a.clock().UTC(), ev)
	if err != nil {
		return err
	}
	res, err := a.node.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}
