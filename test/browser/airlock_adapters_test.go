package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/pseudonym"
	"github.com/sded/sded/storage/staged"
)

// The adapters between the airlock engine and the real storage packages,
// as test/airlock (and cmd/sded) write them: the staged store, the
// disclosure checker, the pseudonymiser and the data volumes. Only the
// key source differs from the daemon's (fresh data keys per project).

func stagedRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, staged.ErrTooLarge):
		return &model.Error{Code: model.CodeTooLarge, Field: "file", Message: err.Error()}
	case errors.Is(err, staged.ErrBadName), errors.Is(err, staged.ErrBlocked), errors.Is(err, staged.ErrArchive):
		return &model.Error{Code: model.CodeInvalid, Field: "file", Message: err.Error()}
	}
	var me *model.Error
	if errors.As(err, &me) {
		return me
	}
	return err
}

type stagedFiles struct{ s *staged.Store }

func (a stagedFiles) CheckName(name string) error { return stagedRefusal(staged.CheckName(name)) }

func (a stagedFiles) Put(ctx context.Context, project string, key []byte, name string, r io.Reader) (airlock.StoredFile, error) {
	f, err := a.s.Put(ctx, project, key, name, r)
	if err != nil {
		return airlock.StoredFile{}, stagedRefusal(err)
	}
	return airlock.StoredFile{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256}, nil
}

func (a stagedFiles) Open(ctx context.Context, project string, key []byte, id string) (io.ReadCloser, error) {
	return a.s.Open(ctx, project, key, id)
}

func (a stagedFiles) Delete(ctx context.Context, project, id string) error {
	return a.s.Delete(ctx, project, id)
}

type disclosureChecker struct{ tiers disclosure.Tiers }

func (c disclosureChecker) Check(ctx context.Context, requestID string, tier int, files []airlock.CheckInput, maxRecord int) (airlock.CheckResult, error) {
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
		res.Status[f.Name] = rec.Status
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

type pseudonymiser struct{}

func (pseudonymiser) Pseudonymise(ctx context.Context, key []byte, r io.Reader, w io.Writer, columns []string) error {
	_, err := pseudonym.Transform(ctx, key, r, w, pseudonym.Options{Columns: columns})
	if err == nil || ctx.Err() != nil || errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	return &model.Error{Code: model.CodeInvalid, Field: "pseudonymise", Message: err.Error()}
}

type dataVolumes struct {
	v    *storage.Volumes
	keys *projectKeys
}

func (a dataVolumes) BuildDataVolume(ctx context.Context, project string, files []airlock.DataFile) error {
	dek, err := a.keys.dek(project)
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

// projectKeys gives each project a fresh data key (the daemon unwraps the
// project's key from state with the cluster KEK instead).
type projectKeys struct {
	mu   sync.Mutex
	deks map[string]*storage.DEK
}

func (k *projectKeys) dek(project string) (*storage.DEK, error) {
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

func (k *projectKeys) AirlockKeys(_ context.Context, project string) ([]byte, []byte, error) {
	d, err := k.dek(project)
	if err != nil {
		return nil, nil, err
	}
	return d.StagingKey(), d.PseudonymKey(), nil
}
