package airlock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/sded/sded/cluster/model"
)

// Vote records a reviewer's decision on one file. The state refuses the
// requester (no one reviews their own request) and anyone without the
// reviewer role. When every file has the required independent approvals the
// request is approved and the engine releases it at once: an import's files
// go into the project's data volume, an export's become downloadable by the
// requester.
func (e *Engine) Vote(ctx context.Context, actor model.Actor, requestID, file string, d model.VoteDecision) (model.AirlockRequest, error) {
	r, err := e.cfg.Commands.VoteAirlock(ctx, actor, model.VoteAirlock{RequestID: requestID, File: file, Decision: d})
	if err != nil {
		return r, err
	}
	if r.State != model.AirlockApproved {
		return r, nil
	}
	return e.Release(ctx, r.ID)
}

// Comment adds a comment to a request.
func (e *Engine) Comment(ctx context.Context, actor model.Actor, requestID, text string) (model.AirlockRequest, error) {
	return e.cfg.Commands.CommentAirlock(ctx, actor, model.CommentAirlock{RequestID: requestID, Text: text})
}

// Transition moves a request by an explicit decision: returned for changes,
// rejected (reviewers, with a reason), withdrawn or cancelled (requester),
// revoked (reviewers, admins). Revoking a released import rebuilds the
// project's data volume without its files.
func (e *Engine) Transition(ctx context.Context, actor model.Actor, requestID string, to model.AirlockState, reason string) (model.AirlockRequest, error) {
	if to == model.AirlockReturned || to == model.AirlockRejected {
		// A reviewer's decision on a request nobody has picked up yet starts
		// the review first (submitted → in_review → to).
		cur, err := e.cfg.Requests.Airlock(ctx, actor, requestID)
		if err != nil {
			return cur, err
		}
		if cur.State == model.AirlockSubmitted {
			if _, err := e.cfg.Commands.TransitionAirlock(ctx, actor, model.TransitionAirlock{RequestID: requestID, To: model.AirlockInReview, Reason: "review started"}); err != nil {
				return cur, err
			}
		}
	}
	r, err := e.cfg.Commands.TransitionAirlock(ctx, actor, model.TransitionAirlock{RequestID: requestID, To: to, Reason: reason})
	if err != nil {
		return r, err
	}
	e.log.InfoContext(ctx, "airlock request moved", slog.String("request", r.ID), slog.String("state", string(r.State)), slog.String("actor", actor.String()))
	if r.Direction == model.AirlockImport && to == model.AirlockRevoked {
		if err := e.rebuild(ctx, r.ProjectID, ""); err != nil {
			return r, fmt.Errorf("rebuilding the data volume after revoking %s: %w", r.ID, err)
		}
	}
	return r, nil
}

// Release releases an approved request (idempotent: a released request is
// returned as it is). An import's approved files are built into the
// project's data volume first; if that fails the request moves to failed
// with the reason. Callers may retry Release for requests left approved by
// a crash.
func (e *Engine) Release(ctx context.Context, requestID string) (model.AirlockRequest, error) {
	r, err := e.cfg.System.AirlockRequest(ctx, requestID)
	if err != nil {
		return r, err
	}
	switch r.State {
	case model.AirlockReleased:
		return r, nil
	case model.AirlockApproved:
	default:
		return r, model.Errorf(model.CodeConflict, "a %s request cannot be released", r.State)
	}
	if r.Direction == model.AirlockImport {
		if err := e.rebuild(ctx, r.ProjectID, r.ID); err != nil {
			e.log.ErrorContext(ctx, "building the data volume", slog.String("request", r.ID), slog.Any("err", err))
			reason := truncate("building the data volume failed: "+err.Error(), model.MaxTextLen)
			if _, ferr := e.cfg.Commands.TransitionAirlockAsSystem(context.WithoutCancel(ctx), model.TransitionAirlock{RequestID: r.ID, To: model.AirlockFailed, Reason: reason}); ferr != nil {
				e.log.ErrorContext(ctx, "marking an import failed", slog.String("request", r.ID), slog.Any("err", ferr))
			}
			return r, fmt.Errorf("releasing import %s: %w", r.ID, err)
		}
	}
	out, err := e.cfg.Commands.TransitionAirlockAsSystem(ctx, model.TransitionAirlock{RequestID: r.ID, To: model.AirlockReleased,
		Reason: "every file has " + strconv.Itoa(r.RequiredApprovals) + " independent approvals"})
	if err != nil {
		return r, err
	}
	e.log.InfoContext(ctx, "airlock request released", slog.String("request", r.ID), slog.String("direction", string(r.Direction)))
	return out, nil
}

// rebuild builds the project's data volume from every released import plus
// the approved one being released (approving), later requests' files
// replacing earlier ones of the same name.
func (e *Engine) rebuild(ctx context.Context, project, approving string) error {
	mu := e.projectLock(project)
	mu.Lock()
	defer mu.Unlock()
	all, err := e.cfg.System.ProjectAirlockRequests(ctx, project)
	if err != nil {
		return err
	}
	var imports []model.AirlockRequest
	for _, r := range all {
		if r.Direction == model.AirlockImport && (r.State == model.AirlockReleased || (r.ID == approving && r.State == model.AirlockApproved)) {
			imports = append(imports, r)
		}
	}
	sort.SliceStable(imports, func(i, j int) bool { return releasedAt(imports[i]).Before(releasedAt(imports[j])) })
	staging, _, err := e.cfg.Keys.AirlockKeys(ctx, project)
	if err != nil {
		return err
	}
	byName := map[string]DataFile{}
	for _, r := range imports {
		for _, f := range r.Files {
			sf, err := e.stagedFile(r, f.Name)
			if err != nil {
				return err
			}
			byName[f.Name] = DataFile{Name: f.Name, Open: e.opener(project, staging, sf)}
		}
	}
	files := make([]DataFile, 0, len(byName))
	for _, f := range byName {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	if err := e.cfg.Volumes.BuildDataVolume(ctx, project, files); err != nil {
		return err
	}
	e.log.InfoContext(ctx, "data volume rebuilt", slog.String("project", project), slog.Int("files", len(files)))
	return nil
}

// releasedAt is when a request was approved (the last approval), or its
// last update.
func releasedAt(r model.AirlockRequest) (t time.Time) {
	for _, h := range r.History {
		if h.To == model.AirlockApproved {
			t = h.At
		}
	}
	if t.IsZero() {
		t = r.UpdatedAt
	}
	return t
}

// ReleaseApproved releases every approved request of a project: the leader
// calls it periodically so that a request left approved by a crash between
// the last vote and its release is not stuck. Errors are collected.
func (e *Engine) ReleaseApproved(ctx context.Context, projectID string) error {
	all, err := e.cfg.System.ProjectAirlockRequests(ctx, projectID)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range all {
		if r.State == model.AirlockApproved {
			if _, err := e.Release(ctx, r.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
