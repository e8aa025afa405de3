package cluster

import (
	"context"
	"sort"

	"github.com/sded/sded/cluster/model"
)

// RegisterImage registers a base image (admin). The caller (storage) has
// checked the file and computed its SHA-256; the ID is stamped here.
func (s *Service) RegisterImage(ctx context.Context, actor model.Actor, img model.Image) (model.Image, error) {
	img.ID = newID()
	p := model.RegisterImage{Image: img}
	if err := p.Validate(); err != nil {
		return model.Image{}, err
	}
	if err := s.check(ctx, actor, model.ActImageManage, model.Object{Kind: model.KindImage, ID: img.ID}); err != nil {
		return model.Image{}, err
	}
	var out model.Image
	return out, s.propose(ctx, model.CmdRegisterImage, actor, p, &out)
}

// DeleteImage removes an image no workstation uses (admin).
func (s *Service) DeleteImage(ctx context.Context, actor model.Actor, id string) error {
	p := model.DeleteImage{ID: id}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.check(ctx, actor, model.ActImageManage, model.Object{Kind: model.KindImage, ID: id}); err != nil {
		return err
	}
	return s.propose(ctx, model.CmdDeleteImage, actor, p, nil)
}

// ListImages lists the images (any user).
func (s *Service) ListImages(ctx context.Context, actor model.Actor) ([]model.Image, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	if err := model.Can(p, model.ActImageRead, model.Object{Kind: model.KindImage}); err != nil {
		return nil, err
	}
	return s.st.Images()
}

// Flavours lists the names of the configured workstation sizes, sorted.
func (s *Service) Flavours(ctx context.Context) []string {
	out := make([]string, 0, len(s.cfg.Flavours))
	for name := range s.cfg.Flavours {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// CreateWorkstation creates a workstation of a configured flavour in a
// project (owners, researchers): the ID is stamped and the sizes come from
// the flavour (p's are ignored); the FSM checks the quota and allocates its
// MAC and address.
func (s *Service) CreateWorkstation(ctx context.Context, actor model.Actor, p model.CreateWorkstation) (model.Workstation, error) {
	f, ok := s.cfg.Flavours[p.Flavour]
	if !ok {
		return model.Workstation{}, model.FieldError("flavour", "unknown flavour %q", p.Flavour)
	}
	p.ID, p.VCPU, p.MemoryMiB, p.DiskGiB = newID(), f.VCPU, f.MemoryMiB, f.DiskGiB
	if err := p.Validate(); err != nil {
		return model.Workstation{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return model.Workstation{}, err
	}
	_, o, err := s.projectObject(p.ProjectID)
	if err != nil {
		return model.Workstation{}, err
	}
	if err := s.checkLocal(ctx, actor, model.ActWorkstationCreate, o); err != nil {
		return model.Workstation{}, err
	}
	var out model.Workstation
	return out, s.propose(ctx, model.CmdCreateWorkstation, actor, p, &out)
}

// workstationObject describes a workstation for the policy.
func (s *Service) workstationObject(id string) (model.Workstation, model.Object, error) {
	w, err := s.st.Workstation(id)
	if err != nil {
		return w, model.Object{}, err
	}
	pr, err := s.st.Project(w.ProjectID)
	if err != nil {
		return w, model.Object{}, err
	}
	return w, model.Object{Kind: model.KindWorkstation, ID: w.ID, ProjectID: pr.ID, ProjectState: pr.State, OwnerID: w.OwnerID}, nil
}

// WorkstationObject returns the policy object of a workstation, for callers
// that authorise an action on it (opening its desktop).
func (s *Service) WorkstationObject(ctx context.Context, id string) (model.Object, error) {
	_, o, err := s.workstationObject(id)
	return o, err
}

// SetWorkstationRun starts or stops a workstation (its creator, owners).
func (s *Service) SetWorkstationRun(ctx context.Context, actor model.Actor, id string, desired model.DesiredState) error {
	_, err := s.workstationCommand(ctx, actor, model.CmdSetWorkstationRun, model.ActWorkstationOperate, id, model.SetWorkstationRun{ID: id, Desired: desired})
	return err
}

// DeleteWorkstation deletes a workstation (its creator, owners).
func (s *Service) DeleteWorkstation(ctx context.Context, actor model.Actor, id string) error {
	_, err := s.workstationCommand(ctx, actor, model.CmdDeleteWorkstation, model.ActWorkstationDelete, id, model.DeleteWorkstation{ID: id})
	return err
}

func (s *Service) workstationCommand(ctx context.Context, actor model.Actor, t model.CommandType, a model.Action, id string, p model.Validator) (model.Workstation, error) {
	if err := p.Validate(); err != nil {
		return model.Workstation{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return model.Workstation{}, err
	}
	_, o, err := s.workstationObject(id)
	if err != nil {
		return model.Workstation{}, err
	}
	if err := s.checkLocal(ctx, actor, a, o); err != nil {
		return model.Workstation{}, err
	}
	var out model.Workstation
	return out, s.propose(ctx, t, actor, p, &out)
}

// ReportWorkstation records what this node's reconciler observed (system).
// The FSM ignores a report that changes nothing.
func (s *Service) ReportWorkstation(ctx context.Context, id string, st model.ObservedState, reason string) error {
	return s.propose(ctx, model.CmdReportWorkstation, s.system(), model.ReportWorkstation{ID: id, State: st, Reason: reason}, nil)
}

// GetWorkstation returns a workstation the actor may see.
func (s *Service) GetWorkstation(ctx context.Context, actor model.Actor, id string) (model.Workstation, error) {
	p, err := s.principal(actor)
	if err != nil {
		return model.Workstation{}, err
	}
	w, o, err := s.workstationObject(id)
	if err != nil {
		return model.Workstation{}, err
	}
	if err := model.Can(p, model.ActWorkstationRead, o); err != nil {
		return model.Workstation{}, err
	}
	return w, nil
}

// ListWorkstations lists a project's workstations the actor may see: owners
// all, researchers their own, admins all (metadata only).
func (s *Service) ListWorkstations(ctx context.Context, actor model.Actor, projectID string) ([]model.Workstation, error) {
	p, err := s.principal(actor)
	if err != nil {
		return nil, err
	}
	pr, _, err := s.projectObject(projectID)
	if err != nil {
		return nil, err
	}
	all, err := s.st.Workstations(projectID)
	if err != nil {
		return nil, err
	}
	out := []model.Workstation{}
	for _, w := range all {
		if model.Can(p, model.ActWorkstationRead, model.Object{Kind: model.KindWorkstation, ID: w.ID, ProjectID: pr.ID, ProjectState: pr.State, OwnerID: w.OwnerID}) == nil {
			out = append(out, w)
		}
	}
	return out, nil
}
