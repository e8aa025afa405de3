package fsm

import (
	"strconv"

	"github.com/sded/sded/cluster/model"
)

func airlockObj(pr model.Project, r model.AirlockRequest) model.Object {
	return model.Object{Kind: model.KindAirlock, ID: r.ID, ProjectID: pr.ID, ProjectState: pr.State, OwnerID: r.CreatedBy}
}

func reviewAction(d model.AirlockDirection) model.Action {
	if d == model.AirlockImport {
		return model.ActAirlockReviewImport
	}
	return model.ActAirlockReviewExport
}

// airlock loads a request and its project and checks a for the principal.
func (c *applyCtx) airlock(id string, a model.Action) (model.Project, model.AirlockRequest, error) {
	r, err := c.tx.Airlock(id)
	if err != nil {
		return model.Project{}, r, err
	}
	pr, err := c.tx.Project(r.ProjectID)
	if err != nil {
		return pr, r, err
	}
	return pr, r, c.can(a, airlockObj(pr, r))
}

// move applies one checked transition and records it.
func (c *applyCtx) move(pr model.Project, r *model.AirlockRequest, to model.AirlockState, reason string) error {
	if !model.CanTransition(r.State, to) {
		return conflict("airlock request cannot go from %s to %s", r.State, to)
	}
	if len(r.History) >= model.MaxAirlockTransitions {
		return model.Errorf(model.CodeTooLarge, "airlock request has had %d state changes: open a new request", len(r.History))
	}
	r.History = append(r.History, model.AirlockTransition{From: r.State, To: to, By: c.cmd.Actor.String(), Reason: reason, At: c.cmd.Time})
	details := map[string]string{"from": string(r.State), "to": string(to)}
	if reason != "" {
		details["reason"] = truncate(reason, model.MaxDetailLen)
	}
	r.State, r.UpdatedAt = to, c.cmd.Time
	c.auditAs("airlock.transition", model.OutcomeSuccess, airlockObj(pr, *r), details)
	return nil
}

func createAirlock(c *applyCtx) (any, error) {
	p, err := decodePayload[model.CreateAirlock](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ProjectID)
	if err != nil {
		return nil, err
	}
	a := model.ActAirlockCreateExport
	if p.Direction == model.AirlockImport {
		a = model.ActAirlockCreateImport
	}
	if err := c.can(a, o); err != nil {
		return nil, err
	}
	if pr.State != model.ProjectActive {
		return nil, conflict("project %s is %s", pr.Slug, pr.State)
	}
	if _, err := c.tx.Airlock(p.ID); exists(err, "airlock request", p.ID) != nil {
		return nil, exists(err, "airlock request", p.ID)
	}
	if p.WorkstationID != "" {
		w, err := c.tx.Workstation(p.WorkstationID)
		if err != nil {
			return nil, err
		}
		if w.ProjectID != pr.ID || w.OwnerID != c.userID() {
			return nil, model.Errorf(model.CodeForbidden, "workstation %s is not yours in project %s", w.ID, pr.Slug)
		}
	}
	r := model.AirlockRequest{ID: p.ID, ProjectID: pr.ID, Direction: p.Direction, CreatedBy: c.userID(), WorkstationID: p.WorkstationID,
		Title: p.Title, Context: p.Context, State: model.AirlockDraft, RequiredApprovals: p.RequiredApprovals, Files: []model.AirlockFile{},
		CreatedAt: c.cmd.Time, UpdatedAt: c.cmd.Time}
	if err := c.tx.PutAirlock(r); err != nil {
		return nil, err
	}
	c.audit(airlockObj(pr, r), map[string]string{"direction": string(r.Direction), "title": r.Title})
	return r, nil
}

func addAirlockFile(c *applyCtx) (any, error) {
	p, err := decodePayload[model.AddAirlockFile](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, r, err := c.airlock(p.RequestID, model.ActAirlockEdit)
	if err != nil {
		return nil, err
	}
	if r.State != model.AirlockDraft && r.State != model.AirlockReturned {
		return nil, conflict("files can be added only to a draft or returned request, not a %s one", r.State)
	}
	f := model.AirlockFile{Name: p.Name, Size: p.Size, SHA256: p.SHA256, AddedAt: c.cmd.Time}
	replaced := false
	for i := range r.Files {
		if r.Files[i].Name == p.Name {
			r.Files[i], replaced = f, true
		}
	}
	if !replaced {
		if len(r.Files) >= model.MaxAirlockFiles {
			return nil, model.Errorf(model.CodeTooLarge, "a request holds at most %d files", model.MaxAirlockFiles)
		}
		r.Files = append(r.Files, f)
	}
	r.UpdatedAt = c.cmd.Time
	if err := c.tx.PutAirlock(r); err != nil {
		return nil, err
	}
	c.audit(airlockObj(pr, r), map[string]string{"file": p.Name, "sha256": p.SHA256, "size": strconv.FormatInt(p.Size, 10), "replaced": strconv.FormatBool(replaced)})
	return r, nil
}

// submitAirlock submits (or resubmits) a request with its disclosure
// results. Earlier votes are cleared: every round is reviewed afresh. A file
// the checks blocked moves the request on to blocked.
func submitAirlock(c *applyCtx) (any, error) {
	p, err := decodePayload[model.SubmitAirlock](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, r, err := c.airlock(p.RequestID, model.ActAirlockEdit)
	if err != nil {
		return nil, err
	}
	if r.CreatedBy != c.userID() {
		return nil, model.Errorf(model.CodeForbidden, "only the requester may submit")
	}
	if len(r.Files) == 0 {
		return nil, model.FieldError("files", "a request needs at least one file")
	}
	if p.DisclosureControls != "" {
		r.DisclosureControls = p.DisclosureControls
	}
	if r.Direction == model.AirlockExport && r.DisclosureControls == "" {
		return nil, model.FieldError("disclosure_controls", "are required for an export")
	}
	for name := range p.Results {
		if _, ok := r.File(name); !ok {
			return nil, model.FieldError("results", "names %q, which is not in the request", name)
		}
	}
	blocked := false
	for i := range r.Files {
		res, ok := p.Results[r.Files[i].Name]
		if !ok {
			res = model.DisclosureReview
		}
		r.Files[i].Disclosure = res
		blocked = blocked || res == model.DisclosureBlocked
	}
	r.DisclosureRecord, r.Votes = p.Record, nil
	if err := c.move(pr, &r, model.AirlockSubmitted, ""); err != nil {
		return nil, err
	}
	if blocked {
		if err := c.move(pr, &r, model.AirlockBlocked, "a file was blocked by the automatic checks"); err != nil {
			return nil, err
		}
	}
	if err := c.tx.PutAirlock(r); err != nil {
		return nil, err
	}
	return r, nil
}

func voteAirlock(c *applyCtx) (any, error) {
	p, err := decodePayload[model.VoteAirlock](c.cmd)
	if err != nil {
		return nil, err
	}
	r0, err := c.tx.Airlock(p.RequestID)
	if err != nil {
		return nil, err
	}
	pr, r, err := c.airlock(p.RequestID, reviewAction(r0.Direction))
	if err != nil {
		return nil, err
	}
	if r.State != model.AirlockSubmitted && r.State != model.AirlockInReview {
		return nil, conflict("a %s request cannot be voted on", r.State)
	}
	if _, ok := r.File(p.File); !ok {
		return nil, model.Errorf(model.CodeNotFound, "file %q is not in the request", p.File)
	}
	if r.State == model.AirlockSubmitted {
		if err := c.move(pr, &r, model.AirlockInReview, "review started"); err != nil {
			return nil, err
		}
	}
	votes := r.Votes[:0:0]
	for _, v := range r.Votes {
		if !(v.Reviewer == c.userID() && v.File == p.File) {
			votes = append(votes, v)
		}
	}
	r.Votes = append(votes, model.AirlockVote{Reviewer: c.userID(), File: p.File, Decision: p.Decision, At: c.cmd.Time})
	r.UpdatedAt = c.cmd.Time
	c.audit(airlockObj(pr, r), map[string]string{"file": p.File, "decision": string(p.Decision), "approvals": strconv.Itoa(r.Approvals(p.File))})
	if r.AllApproved() {
		if err := c.move(pr, &r, model.AirlockApproved, "every file has "+strconv.Itoa(r.RequiredApprovals)+" independent approvals"); err != nil {
			return nil, err
		}
	}
	if err := c.tx.PutAirlock(r); err != nil {
		return nil, err
	}
	return r, nil
}

func commentAirlock(c *applyCtx) (any, error) {
	p, err := decodePayload[model.CommentAirlock](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, r, err := c.airlock(p.RequestID, model.ActAirlockComment)
	if err != nil {
		return nil, err
	}
	if len(r.Comments) >= model.MaxAirlockComments {
		return nil, model.Errorf(model.CodeTooLarge, "a request holds at most %d comments", model.MaxAirlockComments)
	}
	r.Comments = append(r.Comments, model.AirlockComment{Author: c.userID(), Text: p.Text, At: c.cmd.Time})
	r.UpdatedAt = c.cmd.Time
	if err := c.tx.PutAirlock(r); err != nil {
		return nil, err
	}
	c.audit(airlockObj(pr, r), map[string]string{"length": strconv.Itoa(len(p.Text))})
	return r, nil
}

// transitionActions says which action a principal needs to move a request
// to each state by an explicit transition. Submitted (use submit) and
// approved (reached by votes only) have none.
func transitionActions(to model.AirlockState, d model.AirlockDirection) []model.Action {
	switch to {
	case model.AirlockInReview, model.AirlockRejected, model.AirlockReturned:
		return []model.Action{reviewAction(d)}
	case model.AirlockCancelled, model.AirlockWithdrawn:
		return []model.Action{model.ActAirlockEdit}
	case model.AirlockBlocked, model.AirlockFailed:
		return []model.Action{model.ActAirlockSystem}
	case model.AirlockReleased:
		return []model.Action{model.ActAirlockSystem, reviewAction(d)}
	case model.AirlockRevoked:
		return []model.Action{model.ActAirlockRevoke, reviewAction(d)}
	}
	return nil
}

func transitionAirlock(c *applyCtx) (any, error) {
	p, err := decodePayload[model.TransitionAirlock](c.cmd)
	if err != nil {
		return nil, err
	}
	r, err := c.tx.Airlock(p.RequestID)
	if err != nil {
		return nil, err
	}
	pr, err := c.tx.Project(r.ProjectID)
	if err != nil {
		return nil, err
	}
	acts := transitionActions(p.To, r.Direction)
	if len(acts) == 0 {
		return nil, model.FieldError("to", "a request reaches %s only through %s", p.To, map[bool]string{true: "votes", false: "submit"}[p.To == model.AirlockApproved])
	}
	var denied error
	for _, a := range acts {
		if denied = c.can(a, airlockObj(pr, r)); denied == nil {
			break
		}
	}
	if denied != nil {
		return nil, denied
	}
	if p.To == model.AirlockWithdrawn && r.CreatedBy != c.userID() {
		return nil, model.Errorf(model.CodeForbidden, "only the requester may withdraw")
	}
	switch p.To {
	case model.AirlockRejected, model.AirlockReturned, model.AirlockRevoked, model.AirlockBlocked, model.AirlockFailed:
		if p.Reason == "" {
			return nil, model.FieldError("reason", "is required to move a request to %s", p.To)
		}
	}
	wasReleased := r.State == model.AirlockReleased
	if err := c.move(pr, &r, p.To, p.Reason); err != nil {
		return nil, err
	}
	if err := c.tx.PutAirlock(r); err != nil {
		return nil, err
	}
	// An import released, or a released one revoked, changes what the
	// project's data volume holds.
	if r.Direction == model.AirlockImport && (p.To == model.AirlockReleased || (p.To == model.AirlockRevoked && wasReleased)) {
		pr.DataUpdatedAt = c.cmd.Time
		if err := c.tx.PutProject(pr); err != nil {
			return nil, err
		}
	}
	return r, nil
}
