package ui

import (
	"context"
	"io"
	"net/http"
	"slices"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// Airlock is what the UI needs of the airlock engine (*airlock.Engine):
// the steps a requester takes and the ones a reviewer takes. The engine
// checks policy itself (and the FSM again); the UI only hides what the
// viewer may not do.
type Airlock interface {
	AirlockRequester
	AirlockReviewer
}

// AirlockRequester opens, fills, submits and downloads requests.
type AirlockRequester interface {
	Create(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error)
	// AddFile streams one file into the request (refused input gets a
	// clear error, is audited and leaves nothing stored).
	AddFile(ctx context.Context, actor model.Actor, requestID, name string, body io.Reader, opt airlock.FileOptions) (model.AirlockRequest, error)
	Submit(ctx context.Context, actor model.Actor, s airlock.Submission) (model.AirlockRequest, error)
	Transition(ctx context.Context, actor model.Actor, requestID string, to model.AirlockState, reason string) (model.AirlockRequest, error)
	// Link signs an expiring download link for a released export's file;
	// Download opens the file a link names (audited).
	Link(ctx context.Context, actor model.Actor, requestID, file string) (airlock.Link, error)
	Download(ctx context.Context, actor model.Actor, token string) (airlock.Download, error)
}

// AirlockReviewer reads, votes on and comments on requests.
type AirlockReviewer interface {
	// View returns a file's disclosure record and summaries (audited).
	View(ctx context.Context, actor model.Actor, requestID, file string) (airlock.FileView, error)
	// OpenForReview returns a file's bytes to a reviewer (audited).
	OpenForReview(ctx context.Context, actor model.Actor, requestID, file string) (airlock.Download, error)
	Vote(ctx context.Context, actor model.Actor, requestID, file string, d model.VoteDecision) (model.AirlockRequest, error)
	Comment(ctx context.Context, actor model.Actor, requestID, text string) (model.AirlockRequest, error)
}

// AirlockDirectory reads airlock requests from the replicated state with
// the actor's rights (*cluster.Service implements it).
type AirlockDirectory interface {
	Airlock(ctx context.Context, actor model.Actor, id string) (model.AirlockRequest, error)
	AirlockRequests(ctx context.Context, actor model.Actor, projectID string) ([]model.AirlockRequest, error)
}

// errNoAirlock answers the airlock routes of a server configured without
// an engine.
var errNoAirlock = &model.Error{Code: model.CodeUnavailable, Message: "the airlock is not configured on this server"}

// airlockOn returns the engine and the directory, or errNoAirlock.
func (s *server) airlockOn() (Airlock, AirlockDirectory, error) {
	if s.cfg.Airlock == nil || s.airlockDir == nil {
		return nil, nil, errNoAirlock
	}
	return s.cfg.Airlock, s.airlockDir, nil
}

// resolveAirlockDirectory picks the configured directory, or the service
// itself when it can read airlock requests.
func resolveAirlockDirectory(cfg Config, svc Service) AirlockDirectory {
	if cfg.AirlockDirectory != nil {
		return cfg.AirlockDirectory
	}
	if d, ok := svc.(AirlockDirectory); ok {
		return d
	}
	return nil
}

// uploadRoutes take file bodies: their limit is Config.AirlockMaxUpload
// instead of MaxBodyBytes.
var uploadRoutes = map[string]bool{
	"POST /airlock/{id}/files":              true,
	"PUT /api/v1/airlock/{id}/files/{file}": true,
}

// bodyLimit is the request body limit of a route.
func (s *server) bodyLimit(rt route) int64 {
	if uploadRoutes[rt.method+" "+rt.pattern] {
		return s.cfg.AirlockMaxUpload
	}
	return s.cfg.MaxBodyBytes
}

// airlockViewer is who looks at a project's requests: enough to ask the
// policy (model.Can, the same pure function the service and the FSM use)
// which actions to offer. The engine checks again on every action.
type airlockViewer struct {
	userID  string
	p       model.Principal
	project model.Project
}

func (s *server) airlockViewer(ctx context.Context, p *principal, project model.Project) airlockViewer {
	pp := p.policyPrincipal()
	pp.Roles = map[string]model.MemberRole{}
	if ms, err := s.svc.ListMembers(ctx, p.actor(), project.ID); err == nil {
		for _, m := range ms {
			if m.UserID == p.user.ID {
				pp.Roles[project.ID] = m.Role
			}
		}
	}
	return airlockViewer{userID: p.user.ID, p: pp, project: project}
}

func (v airlockViewer) can(a model.Action, r model.AirlockRequest) bool {
	o := model.Object{Kind: model.KindAirlock, ID: r.ID, ProjectID: v.project.ID, ProjectState: v.project.State, OwnerID: r.CreatedBy}
	return model.Can(v.p, a, o) == nil
}

func reviewActionOf(d model.AirlockDirection) model.Action {
	if d == model.AirlockImport {
		return model.ActAirlockReviewImport
	}
	return model.ActAirlockReviewExport
}

// airlockPerms is what the viewer may do with one request.
type airlockPerms struct {
	mine, upload, submit, comment, vote, decide, withdraw, cancel, revoke, download, content bool
}

func (v airlockViewer) perms(r model.AirlockRequest) airlockPerms {
	mine := r.CreatedBy == v.userID
	editable := r.State == model.AirlockDraft || r.State == model.AirlockReturned
	review := v.can(reviewActionOf(r.Direction), r) && !mine
	inReview := r.State == model.AirlockSubmitted || r.State == model.AirlockInReview
	return airlockPerms{
		mine:     mine,
		upload:   editable && r.Direction == model.AirlockImport && v.can(model.ActAirlockEdit, r),
		submit:   editable && mine && v.can(model.ActAirlockEdit, r),
		comment:  v.can(model.ActAirlockComment, r),
		vote:     inReview && review,
		decide:   inReview && review,
		withdraw: mine && model.CanTransition(r.State, model.AirlockWithdrawn) && v.can(model.ActAirlockEdit, r),
		cancel:   model.CanTransition(r.State, model.AirlockCancelled) && v.can(model.ActAirlockEdit, r),
		revoke:   model.CanTransition(r.State, model.AirlockRevoked) && (review || v.can(model.ActAirlockRevoke, r)),
		download: mine && r.Direction == model.AirlockExport && r.State == model.AirlockReleased && v.can(model.ActAirlockDownload, r),
		content: review && slices.Contains([]model.AirlockState{model.AirlockSubmitted, model.AirlockInReview,
			model.AirlockApproved, model.AirlockReleased}, r.State),
	}
}

// votedAll reports whether the user has voted on every file.
func votedAll(r model.AirlockRequest, userID string) bool {
	for _, f := range r.Files {
		if myVote(r, f.Name, userID) == "" {
			return false
		}
	}
	return true
}

func myVote(r model.AirlockRequest, file, userID string) model.VoteDecision {
	for _, v := range r.Votes {
		if v.File == file && v.Reviewer == userID {
			return v.Decision
		}
	}
	return ""
}

// outstanding is the viewer's next step on a request, "" if none.
func (v airlockViewer) outstanding(r model.AirlockRequest) string {
	pm := v.perms(r)
	switch {
	case pm.vote && !votedAll(r, v.userID):
		return "review"
	case pm.submit && r.State == model.AirlockReturned:
		return "resubmit"
	case pm.submit:
		return "submit"
	case pm.download:
		return "download"
	}
	return ""
}

// scoped checks an API token also carries action a (routes name one action;
// a vote or decision on an import needs the import review scope as well).
func scoped(p *principal, a model.Action) error {
	if p.apiToken != nil && !slices.Contains(p.apiToken.Scopes, model.ScopeAll) && !slices.Contains(p.apiToken.Scopes, a) {
		return model.Errorf(model.CodeForbidden, "API token lacks scope %q", a)
	}
	return nil
}

// loadAirlock reads a request and its project for the principal.
func (s *server) loadAirlock(r *http.Request, p *principal) (model.AirlockRequest, model.Project, error) {
	_, dir, err := s.airlockOn()
	if err != nil {
		return model.AirlockRequest{}, model.Project{}, err
	}
	req, err := dir.Airlock(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return req, model.Project{}, err
	}
	pr, err := s.svc.GetProject(r.Context(), p.actor(), req.ProjectID)
	return req, pr, err
}
