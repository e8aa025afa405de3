package airlock

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/sded/sded/cluster/model"
)

// Create opens a draft request. An export needs the researcher's context
// (what the outputs are and how they were made); it may also be given at
// submit.
func (e *Engine) Create(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error) {
	r, err := e.cfg.Commands.CreateAirlock(ctx, actor, p)
	if err != nil {
		return r, err
	}
	e.log.InfoContext(ctx, "airlock request created", slog.String("request", r.ID), slog.String("project", r.ProjectID),
		slog.String("direction", string(r.Direction)), slog.String("actor", actor.String()))
	return r, nil
}

// FileOptions are per-upload options.
type FileOptions struct {
	// Pseudonymise names CSV columns whose values are replaced with the
	// project's keyed pseudonyms on the way in (imports only).
	Pseudonymise []string
}

// AddFile streams one file into the staged store and records its name, size
// and SHA-256 on a draft or returned request; a file of the same name is
// replaced. The actor's right to edit the request is checked before any
// byte is read. Refused input (bad or odd name, blocked type, too large,
// archive bomb, malformed CSV, unknown pseudonymisation column) gets a clear
// error, is audited, and leaves nothing stored.
func (e *Engine) AddFile(ctx context.Context, actor model.Actor, requestID, name string, body io.Reader, opt FileOptions) (model.AirlockRequest, error) {
	r, err := e.load(ctx, actor, model.ActAirlockEdit, requestID)
	if err != nil {
		return r, err
	}
	if err := e.authorize(ctx, actor, model.ActAirlockEdit, r); err != nil {
		return r, err
	}
	if r.State != model.AirlockDraft && r.State != model.AirlockReturned {
		return r, model.Errorf(model.CodeConflict, "files can be added only to a draft or returned request; this one is %s", r.State)
	}
	if err := model.CheckFileName(name); err != nil {
		return r, e.refused(ctx, actor, r, "airlock.upload", name, err)
	}
	if err := e.cfg.Files.CheckName(name); err != nil {
		return r, e.refused(ctx, actor, r, "airlock.upload", name, err)
	}
	if _, exists := r.File(name); !exists && len(r.Files) >= model.MaxAirlockFiles {
		return r, e.refused(ctx, actor, r, "airlock.upload", name, model.Errorf(model.CodeTooLarge, "a request holds at most %d files", model.MaxAirlockFiles))
	}
	if len(opt.Pseudonymise) > 0 {
		if r.Direction != model.AirlockImport {
			return r, e.refused(ctx, actor, r, "airlock.upload", name, model.FieldError("pseudonymise", "applies to imports only"))
		}
		if !strings.EqualFold(extension(name), "csv") {
			return r, e.refused(ctx, actor, r, "airlock.upload", name, model.FieldError("pseudonymise", "applies to CSV files only"))
		}
	}
	staging, pkey, err := e.cfg.Keys.AirlockKeys(ctx, r.ProjectID)
	if err != nil {
		return r, err
	}
	// An exported table is checked while it streams into the store (a
	// second reader of the same bytes), so that a table the checks cannot
	// read is refused at upload without reading the file twice.
	var checked <-chan checkOutcome
	var tee *io.PipeWriter
	if r.Direction == model.AirlockExport && strings.EqualFold(extension(name), "csv") {
		var pr *io.PipeReader
		pr, tee = io.Pipe()
		body = io.TeeReader(body, tee)
		checked = e.checkStream(ctx, r.ID, name, pr)
	}
	sf, err := e.put(ctx, r.ProjectID, staging, pkey, name, body, opt)
	if tee != nil {
		tee.CloseWithError(err) // nil: the checker sees the end of the file
	}
	var check checkOutcome
	if checked != nil {
		check = <-checked
	}
	if err != nil {
		if isRefusal(err) {
			return r, e.refused(ctx, actor, r, "airlock.upload", name, err)
		}
		return r, err
	}
	discard := func() {
		if derr := e.cfg.Files.Delete(context.WithoutCancel(ctx), r.ProjectID, sf.ID); derr != nil {
			e.log.ErrorContext(ctx, "removing a refused staged file", slog.String("request", r.ID), slog.Any("err", derr))
		}
	}
	if checked != nil {
		if check.err != nil {
			discard()
			return r, check.err
		}
		if check.res.Status[name] == StatusError {
			discard()
			return r, e.refused(ctx, actor, r, "airlock.upload", name, model.FieldError("file", "%s cannot be checked: %s", quote(name), check.res.Errors[name]))
		}
	}
	out, err := e.cfg.Commands.AddAirlockFile(ctx, actor, model.AddAirlockFile{RequestID: r.ID, Name: sf.Name, Size: sf.Size, SHA256: sf.SHA256})
	if err != nil {
		discard()
		return r, err
	}
	old, had, err := e.idx.put(r.ProjectID, r.ID, sf)
	if err != nil {
		return out, err
	}
	if had && old.ID != sf.ID {
		if err := e.cfg.Files.Delete(ctx, r.ProjectID, old.ID); err != nil {
			e.log.WarnContext(ctx, "removing a replaced staged file", slog.String("request", r.ID), slog.Any("err", err))
		}
	}
	e.log.InfoContext(ctx, "airlock file staged", slog.String("request", r.ID), slog.String("file", quote(name)),
		slog.Int64("size", sf.Size), slog.String("sha256", sf.SHA256), slog.Bool("pseudonymised", len(opt.Pseudonymise) > 0))
	return out, nil
}

// put stores body, pseudonymising it on the way when asked.
func (e *Engine) put(ctx context.Context, project string, staging, pkey []byte, name string, body io.Reader, opt FileOptions) (StoredFile, error) {
	if len(opt.Pseudonymise) == 0 {
		return e.cfg.Files.Put(ctx, project, staging, name, body)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := e.cfg.Pseudonym.Pseudonymise(ctx, pkey, body, pw, opt.Pseudonymise)
		pw.CloseWithError(err)
		done <- err
	}()
	sf, err := e.cfg.Files.Put(ctx, project, staging, name, pr)
	pr.CloseWithError(errors.New("staged store stopped reading"))
	perr := <-done
	if perr != nil && err == nil {
		// The store accepted a partial stream: drop it.
		e.cfg.Files.Delete(context.WithoutCancel(ctx), project, sf.ID)
		return StoredFile{}, perr
	}
	if perr != nil && isRefusal(perr) {
		return StoredFile{}, perr
	}
	return sf, err
}

func extension(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

type checkOutcome struct {
	res CheckResult
	err error
}

// checkStream runs the disclosure check over r on its own goroutine. It
// always reads r to the end, so the writer feeding it never blocks.
func (e *Engine) checkStream(ctx context.Context, requestID, name string, r *io.PipeReader) <-chan checkOutcome {
	out := make(chan checkOutcome, 1)
	go func() {
		res, err := e.cfg.Checker.Check(ctx, requestID, 0, []CheckInput{{Name: name, Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(r), nil
		}}}, model.MaxDisclosureRecordLen)
		io.Copy(io.Discard, r)
		out <- checkOutcome{res, err}
	}()
	return out
}
