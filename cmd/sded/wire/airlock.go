// Package wire adapts sded's storage packages (staged store, disclosure
// checks, pseudonymisation, data volumes) to the airlock engine's declared
// ports. The daemon and the airlock tests use the same adapters.
package wire

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/pseudonym"
	"github.com/sded/sded/storage/staged"
)

var (
	_ airlock.FileStore     = Staged{}
	_ airlock.Checker       = Checker{}
	_ airlock.Pseudonymiser = Pseudonymiser{}
	_ airlock.VolumeBuilder = DataVolumes{}
)

// Refusal turns the staged store's input refusals into domain errors the
// engine reports to the user (and audits); other errors pass unchanged.
func Refusal(err error) error {
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

// Staged adapts *staged.Store to airlock.FileStore.
type Staged struct{ S *staged.Store }

func (a Staged) CheckName(name string) error { return Refusal(staged.CheckName(name)) }

func (a Staged) Put(ctx context.Context, project string, key []byte, name string, r io.Reader) (airlock.StoredFile, error) {
	f, err := a.S.Put(ctx, project, key, name, r)
	if err != nil {
		return airlock.StoredFile{}, Refusal(err)
	}
	return airlock.StoredFile{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256}, nil
}

func (a Staged) Open(ctx context.Context, project string, key []byte, id string) (io.ReadCloser, error) {
	return a.S.Open(ctx, project, key, id)
}

func (a Staged) Delete(ctx context.Context, project, id string) error {
	return a.S.Delete(ctx, project, id)
}

// Checker adapts storage/disclosure to airlock.Checker: each file is
// checked with the tier's rules, the records are combined and fitted to the
// size the replicated state allows.
type Checker struct{ Tiers disclosure.Tiers }

func (c Checker) Check(ctx context.Context, requestID string, tier int, files []airlock.CheckInput, maxRecord int) (airlock.CheckResult, error) {
	rules := c.Tiers.For(tier)
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

// Pseudonymiser adapts storage/pseudonym.Transform. Input problems
// (malformed CSV, unknown columns) are refusals; a closed pipe means the
// store stopped reading and reports its own error.
type Pseudonymiser struct{}

func (Pseudonymiser) Pseudonymise(ctx context.Context, key []byte, r io.Reader, w io.Writer, columns []string) error {
	_, err := pseudonym.Transform(ctx, key, r, w, pseudonym.Options{Columns: columns})
	if err == nil || ctx.Err() != nil || errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	return &model.Error{Code: model.CodeInvalid, Field: "pseudonymise", Message: err.Error()}
}

// DataVolumes adapts storage.Volumes.BuildDataVolume, deriving the data
// volume's secret from the project's data key.
type DataVolumes struct {
	V *storage.Volumes
	// DEK returns the project's data key.
	DEK func(ctx context.Context, project string) (*storage.DEK, error)
}

func (a DataVolumes) BuildDataVolume(ctx context.Context, project string, files []airlock.DataFile) error {
	dek, err := a.DEK(ctx, project)
	if err != nil {
		return err
	}
	df := make([]storage.DataFile, len(files))
	for i, f := range files {
		df[i] = storage.DataFile{Name: f.Name, Open: f.Open}
	}
	_, err = a.V.BuildDataVolume(ctx, project, df, dek.VolumeSecret(storage.DataVolumeName))
	return err
}
