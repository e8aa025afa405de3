package cluster

import (
	"context"

	"github.com/sded/sded/cluster/model"
)

// projectObject describes a project for the policy.
func (s *Service) projectObject(id string) (model.Project, model.Object, error) {
	p, err := s.st.Project(id)
	if err != nil {
		return p, model.Object{}, err
	}
	return p, model.Object{Kind: model.KindProject, ID: p.ID, ProjectID: p.ID, ProjectState: p.State}, nil
}

// CreateProject creates a project with its first owners (admin). The ID is
// stamped here; the slug must be unique (checked on the latest state here,
// and again by the FSM).
func (s *Service) CreateProject(ctx context.Context, actor model.Actor, p model.CreateProject) (model.Project, error) {
	p.ID, p.Pool = newID(), model.SubnetPool().String()
	if err := p.Validate(); err != nil {
		return model.Project{}, err
	}
	if err := s.check(ctx, actor, model.ActProjectCreate, model.Object{Kind: model.KindProject, ID: p.ID}); err != nil {
		return model.Project{}, err
	}
	if _, err := s.st.ProjectBySlug(p.Slug); err == nil {
		return model.Project{}, model.Errorf(model.CodeAlreadyExists, "project slug %q is taken", p.Slug)
	}
	var out model.Project
	return out, s.propose(ctx, model.CmdCreateProject, actor, p, &out)
}

// UpdateProject changes a project's details, quotas or network settings (admin).
func (s *Service) UpdateProject(ctx context.Context, actor model.Actor, p model.UpdateProject) (model.Project, error) {
	return s.projectCommand(ctx, actor, model.CmdUpdateProject, model.ActProjectUpdate, p.ID, p)
}

// SuspendProject suspends a project: its workstations stop and members are refused (admin).
func (s *Service) SuspendProject(ctx context.Context, actor model.Actor, id, reason string) error {
	_, err := s.projectCommand(ctx, actor, model.CmdSuspendProject, model.ActProjectLifecycle, id, model.ProjectStateChange{ID: id, Reason: reason})
	return err
}

// ResumeProject reactivates a suspended, unexpired project (admin).
func (s *Service) ResumeProject(ctx context.Context, actor model.Actor, id string) error {
	_, err := s.projectCommand(ctx, actor, model.CmdResumeProject, model.ActProjectLifecycle, id, model.ProjectStateChange{ID: id})
	return err
}

// ArchiveProject archives a project: workstations deleted, data key destroyed (admin).
func (s *Service) ArchiveProject(ctx context.Context, actor model.Actor, id, reason string) error {
	_, err := s.projectCommand(ctx, actor, model.CmdArchiveProject, model.ActProjectLifecycle, id, model.ProjectStateChange{ID: id, Reason: reason})
	return err
}

func (s *Service) projectCommand(ctx context.Context, actor model.Actor, t model.CommandType, a model.Action, id string, p model.Validator) (model.Project, error) {
	if err := p.Validate(); err != nil {
		return model.Project{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return model.Project{}, err
	}
	_, o, err := s.projectObject(id)
	if err != nil {
		return model.Project{}, err
	}
	if err := s.checkLocal(ctx, actor, a, o); err != nil {
		return model.Project{}, err
	}
	var out model.Project
	return out, s.propose(ctx, t, actor, p, &out)
}

// ExpireProjects suspends every project past its expiry (system, periodic).
func (s *Service) ExpireProjects(ctx context.Context) ([]string, error) {
	var out map[string][]string
	err := s.propose(ctx, model.CmdExpireProjects, s.system(), model.ExpireProjects{At: s.now()}, &out)
	return out["suspended"], err
}

// PutProjectKey stores a project's wrapped data key (system: the node that
// holds the key-encryption key).
func (s *Service) PutProjectKey(ctx context.Context, projectID, kekID string, wrapped []byte) error {
	return s.propose(ctx, model.CmdPutProjectKey, s.system(), model.PutProjectKey{ProjectID: projectID, KEKID: kekID, Wrapped: wrapped}, nil)
}

// GetProject returns a project the actor may see (admins, members).
func (s *Service) GetProject(ctx context.Context, actor model.Actor, id string) (model.Project, error) {
	p, err := s.principal(actor)
	if err != nil {
		return model.Project{}, err
	}
	pr, o, err := s.projectObject(id)
	if err != nil {
		return model.Project{}, err
	}
	if err := model.Can(p, model.ActProjectRead, o); err != nil {
		return model.Project{}, err
	}
	return pr, nil
}

// ListProjects lists the projects the actor may see.
func (s *Service) ListProjects(ctx context.Context, actor model.Actor) ([]model.Project, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	all, err := s.st.Projects()
	if err != nil {
		return nil, err
	}
	var out []model.Project
	for _, pr := range all {
		if model.Can(p, model.ActProjectRead, model.Object{Kind: model.KindProject, ID: pr.ID, ProjectID: pr.ID, ProjectState: pr.State}) == nil {
			out = append(out, pr)
		}
	}
	return out, nil
}

// AddMember adds a user to a project or changes their role (owner, admin).
func (s *Service) AddMember(ctx context.Context, actor model.Actor, p model.AddMember) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.memberCheck(ctx, actor, p.ProjectID, p.UserID); err != nil {
		return err
	}
	return s.propose(ctx, model.CmdAddMember, actor, p, nil)
}

// RemoveMember removes a user from a project (owner, admin).
func (s *Service) RemoveMember(ctx context.Context, actor model.Actor, projectID, userID string) error {
	p := model.RemoveMember{ProjectID: projectID, UserID: userID}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.memberCheck(ctx, actor, projectID, userID); err != nil {
		return err
	}
	return s.propose(ctx, model.CmdRemoveMember, actor, p, nil)
}

func (s *Service) memberCheck(ctx context.Context, actor model.Actor, projectID, userID string) error {
	if err := s.fresh(ctx); err != nil {
		return err
	}
	pr, _, err := s.projectObject(projectID)
	if err != nil {
		return err
	}
	return s.checkLocal(ctx, actor, model.ActMemberManage, model.Object{Kind: model.KindMember, ID: userID, ProjectID: pr.ID, ProjectState: pr.State})
}

// ListMembers lists a project's members (admins, members).
func (s *Service) ListMembers(ctx context.Context, actor model.Actor, projectID string) ([]model.Member, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	pr, _, err := s.projectObject(projectID)
	if err != nil {
		return nil, err
	}
	if err := model.Can(p, model.ActMemberRead, model.Object{Kind: model.KindMember, ProjectID: pr.ID, ProjectState: pr.State}); err != nil {
		return nil, err
	}
	return s.st.Members(projectID)
}

// MemberNames returns "Display Name (username)" of every member of a
// project, by user ID, to whoever may list its members (its members and
// admins): a member sees who else works on the study, nothing about other
// users.
func (s *Service) MemberNames(ctx context.Context, actor model.Actor, projectID string) (map[string]string, error) {
	ms, err := s.ListMembers(ctx, actor, projectID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		u, err := s.st.User(m.UserID)
		if err != nil {
			continue // removed meanwhile: shown by ID
		}
		out[m.UserID] = u.DisplayName + " (" + u.Username + ")"
	}
	return out, nil
}
