package airlock

import (
	"context"
	"log/slog"
	"strings"

	"github.com/sded/sded/cluster/model"
)

// Submission is what a requester sends with a request.
type Submission struct {
	RequestID string
	// DisclosureControls says which disclosure controls were applied
	// (rounding, suppression, ...); free text, required for an export.
	DisclosureControls string
	// Context, if set and different from the request's, is recorded as a
	// comment (what changed on a resubmission). An export needs a context,
	// given here or when the request was created.
	Context string
}

// Submit submits (or resubmits) a draft or returned request. For an export
// it first runs the automatic disclosure checks on every file with the
// project tier's rules and attaches the machine-readable record: a CSV
// table passes, fails or needs review by its cells; any other file always
// needs review; a table that cannot be checked is blocked (the state then
// moves the request on to blocked).
func (e *Engine) Submit(ctx context.Context, actor model.Actor, s Submission) (model.AirlockRequest, error) {
	r, err := e.load(ctx, actor, model.ActAirlockEdit, s.RequestID)
	if err != nil {
		return r, err
	}
	if err := e.authorize(ctx, actor, model.ActAirlockEdit, r); err != nil {
		return r, err
	}
	if r.CreatedBy != actor.UserID {
		return r, model.Errorf(model.CodeForbidden, "only the requester may submit")
	}
	if r.State != model.AirlockDraft && r.State != model.AirlockReturned {
		return r, model.Errorf(model.CodeConflict, "a %s request cannot be submitted", r.State)
	}
	if len(r.Files) == 0 {
		return r, model.FieldError("files", "a request needs at least one file")
	}
	s.DisclosureControls = strings.TrimSpace(s.DisclosureControls)
	s.Context = strings.TrimSpace(s.Context)
	p := model.SubmitAirlock{RequestID: r.ID, DisclosureControls: s.DisclosureControls}
	if r.Direction == model.AirlockExport {
		if s.DisclosureControls == "" {
			return r, model.FieldError("disclosure_controls", "are required: say which disclosure controls you applied")
		}
		if strings.TrimSpace(r.Context) == "" && s.Context == "" {
			return r, model.FieldError("context", "is required: say what the outputs are and how they were produced")
		}
	}
	if err := p.Validate(); err != nil {
		return r, err
	}
	if s.Context != "" && s.Context != r.Context {
		if _, err := e.cfg.Commands.CommentAirlock(ctx, actor, model.CommentAirlock{RequestID: r.ID, Text: "Context: " + s.Context}); err != nil {
			return r, err
		}
	}
	if r.Direction == model.AirlockExport {
		if p.Results, p.Record, err = e.check(ctx, actor, r); err != nil {
			return r, err
		}
	}
	out, err := e.cfg.Commands.SubmitAirlock(ctx, actor, p)
	if err != nil {
		return r, err
	}
	e.log.InfoContext(ctx, "airlock request submitted", slog.String("request", r.ID), slog.String("state", string(out.State)),
		slog.Int("files", len(out.Files)))
	return out, nil
}

// check runs the disclosure checks of an export's files.
func (e *Engine) check(ctx context.Context, actor model.Actor, r model.AirlockRequest) (map[string]model.DisclosureResult, []byte, error) {
	pr, err := e.cfg.Requests.GetProject(ctx, actor, r.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	staging, _, err := e.cfg.Keys.AirlockKeys(ctx, r.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	in := make([]CheckInput, 0, len(r.Files))
	for _, f := range r.Files {
		sf, err := e.stagedFile(r, f.Name)
		if err != nil {
			return nil, nil, err
		}
		in = append(in, CheckInput{Name: f.Name, Open: e.opener(r.ProjectID, staging, sf)})
	}
	res, err := e.cfg.Checker.Check(ctx, r.ID, pr.Tier, in, model.MaxDisclosureRecordLen)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]model.DisclosureResult, len(r.Files))
	for _, f := range r.Files {
		out[f.Name] = result(res.Status[f.Name])
	}
	return out, res.Record, nil
}

// result maps a checker status to the state's result. Anything unknown
// needs a human; a table that could not be checked is blocked.
func result(status string) model.DisclosureResult {
	switch status {
	case StatusPass:
		return model.DisclosurePass
	case StatusFail:
		return model.DisclosureFail
	case StatusError:
		return model.DisclosureBlocked
	}
	return model.DisclosureReview
}
