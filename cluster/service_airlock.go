package cluster

import (
	"context"

	"github.com/sded/sded/cluster/model"
)

// airlockObject describes an airlock request for the policy.
func (s *Service) airlockObject(id string) (model.AirlockRequest, model.Object, error) {
	r, err := s.st.Airlock(id)
	if err != nil {
		return r, model.Object{}, err
	}
	pr, err := s.st.Project(r.ProjectID)
	if err != nil {
		return r, model.Object{}, err
	}
	return r, model.Object{Kind: model.KindAirlock, ID: r.ID, ProjectID: pr.ID, ProjectState: pr.State, OwnerID: r.CreatedBy}, nil
}

// AirlockObject returns the policy object of a request, for callers that
// authorise a file view or download.
func (s *Service) AirlockObject(ctx context.Context, id string) (model.Object, error) {
	_, o, err := s.airlockObject(id)
	return o, err
}

// CreateAirlock opens a draft import (admins, data managers) or export
// (owners, researchers) request. RequiredApprovals 0 takes the configured
// default.
func (s *Service) CreateAirlock(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error) {
	p.ID = newID()
	if p.RequiredApprovals == 0 {
		p.RequiredApprovals = s.cfg.AirlockApprovals
	}
	if err := p.Validate(); err != nil {
		return model.AirlockRequest{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return model.AirlockRequest{}, err
	}
	_, o, err := s.projectObject(p.ProjectID)
	if err != nil {
		return model.AirlockRequest{}, err
	}
	a := model.ActAirlockCreateExport
	if p.Direction == model.AirlockImport {
		a = model.ActAirlockCreateImport
	}
	if err := s.checkLocal(ctx, actor, a, o); err != nil {
		return model.AirlockRequest{}, err
	}
	var out model.AirlockRequest
	return out, s.propose(ctx, model.CmdCreateAirlock, actor, p, &out)
}

// AddAirlockFile records a staged file's metadata on a draft or returned request.
func (s *Service) AddAirlockFile(ctx context.Context, actor model.Actor, p model.AddAirlockFile) (model.AirlockRequest, error) {
	return s.airlockCommand(ctx, actor, model.CmdAddAirlockFile, model.ActAirlockEdit, p.RequestID, p)
}

// SubmitAirlock submits a request with the disclosure checks' results.
func (s *Service) SubmitAirlock(ctx context.Context, actor model.Actor, p model.SubmitAirlock) (model.AirlockRequest, error) {
	return s.airlockCommand(ctx, actor, model.CmdSubmitAirlock, model.ActAirlockEdit, p.RequestID, p)
}

// VoteAirlock records a reviewer's decision on one file.
func (s *Service) VoteAirlock(ctx context.Context, actor model.Actor, p model.VoteAirlock) (model.AirlockRequest, error) {
	r, err := s.st.Airlock(p.RequestID)
	if err != nil {
		return model.AirlockRequest{}, err
	}
	a := model.ActAirlockReviewExport
	if r.Direction == model.AirlockImport {
		a = model.ActAirlockReviewImport
	}
	return s.airlockCommand(ctx, actor, model.CmdVoteAirlock, a, p.RequestID, p)
}

// CommentAirlock adds a comment to a request.
func (s *Service) CommentAirlock(ctx context.Context, actor model.Actor, p model.CommentAirlock) (model.AirlockRequest, error) {
	return s.airlockCommand(ctx, actor, model.CmdCommentAirlock, model.ActAirlockComment, p.RequestID, p)
}

// TransitionAirlock moves a request to another state; the FSM decides who
// may, per target state, and whether the transition is legal.
func (s *Service) TransitionAirlock(ctx context.Context, actor model.Actor, p model.TransitionAirlock) (model.AirlockRequest, error) {
	if err := userOnly(actor); err != nil {
		return model.AirlockRequest{}, err
	}
	return s.transitionAirlock(ctx, actor, p)
}

func (s *Service) transitionAirlock(ctx context.Context, actor model.Actor, p model.TransitionAirlock) (model.AirlockRequest, error) {
	if err := p.Validate(); err != nil {
		return model.AirlockRequest{}, err
	}
	var out model.AirlockRequest
	return out, s.propose(ctx, model.CmdTransitionAirlock, actor, p, &out)
}

// TransitionAirlockAsSystem moves a request on behalf of the node (blocked,
// failed, released after the storage step).
func (s *Service) TransitionAirlockAsSystem(ctx context.Context, p model.TransitionAirlock) (model.AirlockRequest, error) {
	return s.transitionAirlock(ctx, s.system(), p)
}

func (s *Service) airlockCommand(ctx context.Context, actor model.Actor, t model.CommandType, a model.Action, id string, p model.Validator) (model.AirlockRequest, error) {
	if err := p.Validate(); err != nil {
		return model.AirlockRequest{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return model.AirlockRequest{}, err
	}
	_, o, err := s.airlockObject(id)
	if err != nil {
		return model.AirlockRequest{}, err
	}
	if err := s.checkLocal(ctx, actor, a, o); err != nil {
		return model.AirlockRequest{}, err
	}
	var out model.AirlockRequest
	return out, s.propose(ctx, t, actor, p, &out)
}

// Airlock returns a request the actor may read.
func (s *Service) Airlock(ctx context.Context, actor model.Actor, id string) (model.AirlockRequest, error) {
	p, err := s.principal(actor)
	if err != nil {
		return model.AirlockRequest{}, err
	}
	r, o, err := s.airlockObject(id)
	if err != nil {
		return model.AirlockRequest{}, err
	}
	if err := model.Can(p, model.ActAirlockRead, o); err != nil {
		return model.AirlockRequest{}, err
	}
	return r, nil
}

// AirlockRequests lists a project's requests the actor may read.
func (s *Service) AirlockRequests(ctx context.Context, actor model.Actor, projectID string) ([]model.AirlockRequest, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	pr, _, err := s.projectObject(projectID)
	if err != nil {
		return nil, err
	}
	all, err := s.st.AirlockRequests(projectID)
	if err != nil {
		return nil, err
	}
	out := []model.AirlockRequest{}
	for _, r := range all {
		if model.Can(p, model.ActAirlockRead, model.Object{Kind: model.KindAirlock, ID: r.ID, ProjectID: pr.ID, ProjectState: pr.State, OwnerID: r.CreatedBy}) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
