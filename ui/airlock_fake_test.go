package ui

import (
	"context"
	"io"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// The real engine satisfies the UI's interface (cmd/sded passes it).
var _ Airlock = (*airlock.Engine)(nil)

// fakeAirlock is an Airlock whose methods call its function fields; an
// unset field fails the call with an internal error naming it.
type fakeAirlock struct {
	CreateFn        func(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error)
	AddFileFn       func(ctx context.Context, actor model.Actor, requestID, name string, body io.Reader, opt airlock.FileOptions) (model.AirlockRequest, error)
	SubmitFn        func(ctx context.Context, actor model.Actor, s airlock.Submission) (model.AirlockRequest, error)
	TransitionFn    func(ctx context.Context, actor model.Actor, requestID string, to model.AirlockState, reason string) (model.AirlockRequest, error)
	LinkFn          func(ctx context.Context, actor model.Actor, requestID, file string) (airlock.Link, error)
	DownloadFn      func(ctx context.Context, actor model.Actor, token string) (airlock.Download, error)
	ViewFn          func(ctx context.Context, actor model.Actor, requestID, file string) (airlock.FileView, error)
	OpenForReviewFn func(ctx context.Context, actor model.Actor, requestID, file string) (airlock.Download, error)
	VoteFn          func(ctx context.Context, actor model.Actor, requestID, file string, d model.VoteDecision) (model.AirlockRequest, error)
	CommentFn       func(ctx context.Context, actor model.Actor, requestID, text string) (model.AirlockRequest, error)
}

var _ Airlock = (*fakeAirlock)(nil)

func (f *fakeAirlock) Create(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error) {
	if f.CreateFn == nil {
		return model.AirlockRequest{}, notSet("Create")
	}
	return f.CreateFn(ctx, actor, p)
}

func (f *fakeAirlock) AddFile(ctx context.Context, actor model.Actor, requestID, name string, body io.Reader, opt airlock.FileOptions) (model.AirlockRequest, error) {
	if f.AddFileFn == nil {
		return model.AirlockRequest{}, notSet("AddFile")
	}
	return f.AddFileFn(ctx, actor, requestID, name, body, opt)
}

func (f *fakeAirlock) Submit(ctx context.Context, actor model.Actor, s airlock.Submission) (model.AirlockRequest, error) {
	if f.SubmitFn == nil {
		return model.AirlockRequest{}, notSet("Submit")
	}
	return f.SubmitFn(ctx, actor, s)
}

func (f *fakeAirlock) Transition(ctx context.Context, actor model.Actor, requestID string, to model.AirlockState, reason string) (model.AirlockRequest, error) {
	if f.TransitionFn == nil {
		return model.AirlockRequest{}, notSet("Transition")
	}
	return f.TransitionFn(ctx, actor, requestID, to, reason)
}

func (f *fakeAirlock) Link(ctx context.Context, actor model.Actor, requestID, file string) (airlock.Link, error) {
	if f.LinkFn == nil {
		return airlock.Link{}, notSet("Link")
	}
	return f.LinkFn(ctx, actor, requestID, file)
}

func (f *fakeAirlock) Download(ctx context.Context, actor model.Actor, token string) (airlock.Download, error) {
	if f.DownloadFn == nil {
		return airlock.Download{}, notSet("Download")
	}
	return f.DownloadFn(ctx, actor, token)
}

func (f *fakeAirlock) View(ctx context.Context, actor model.Actor, requestID, file string) (airlock.FileView, error) {
	if f.ViewFn == nil {
		return airlock.FileView{}, notSet("View")
	}
	return f.ViewFn(ctx, actor, requestID, file)
}

func (f *fakeAirlock) OpenForReview(ctx context.Context, actor model.Actor, requestID, file string) (airlock.Download, error) {
	if f.OpenForReviewFn == nil {
		return airlock.Download{}, notSet("OpenForReview")
	}
	return f.OpenForReviewFn(ctx, actor, requestID, file)
}

func (f *fakeAirlock) Vote(ctx context.Context, actor model.Actor, requestID, file string, d model.VoteDecision) (model.AirlockRequest, error) {
	if f.VoteFn == nil {
		return model.AirlockRequest{}, notSet("Vote")
	}
	return f.VoteFn(ctx, actor, requestID, file, d)
}

func (f *fakeAirlock) Comment(ctx context.Context, actor model.Actor, requestID, text string) (model.AirlockRequest, error) {
	if f.CommentFn == nil {
		return model.AirlockRequest{}, notSet("Comment")
	}
	return f.CommentFn(ctx, actor, requestID, text)
}

// fakeDirectory is an AirlockDirectory over fixed requests that applies
// the read policy as the service does.
type fakeDirectory struct {
	reqs    []model.AirlockRequest
	project model.Project
	roles   map[string]model.MemberRole // user → role in the project
	admins  map[string]bool
}

func (d *fakeDirectory) principal(a model.Actor) model.Principal {
	p := model.Principal{UserID: a.UserID, Admin: d.admins[a.UserID], Roles: map[string]model.MemberRole{}}
	if r, ok := d.roles[a.UserID]; ok {
		p.Roles[d.project.ID] = r
	}
	return p
}

func (d *fakeDirectory) obj(r model.AirlockRequest) model.Object {
	return model.Object{Kind: model.KindAirlock, ID: r.ID, ProjectID: d.project.ID, ProjectState: d.project.State, OwnerID: r.CreatedBy}
}

func (d *fakeDirectory) Airlock(_ context.Context, a model.Actor, id string) (model.AirlockRequest, error) {
	for _, r := range d.reqs {
		if r.ID == id {
			return r, model.Can(d.principal(a), model.ActAirlockRead, d.obj(r))
		}
	}
	return model.AirlockRequest{}, model.ErrNotFound
}

func (d *fakeDirectory) AirlockRequests(_ context.Context, a model.Actor, projectID string) ([]model.AirlockRequest, error) {
	var out []model.AirlockRequest
	for _, r := range d.reqs {
		if r.ProjectID == projectID && model.Can(d.principal(a), model.ActAirlockRead, d.obj(r)) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
