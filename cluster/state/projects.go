package state

import (
	"bytes"

	"github.com/sded/sded/cluster/model"
)

// Project returns a project.
func (t *Tx) Project(id string) (model.Project, error) {
	return get[model.Project](t, bProjects, []byte(id), "project", id)
}

// ProjectBySlug returns the project with a slug.
func (t *Tx) ProjectBySlug(slug string) (model.Project, error) {
	id := t.bucket(bProjectsBySlug).Get([]byte(slug))
	if id == nil {
		return model.Project{}, model.Errorf(model.CodeNotFound, "project %q not found", slug)
	}
	return t.Project(string(id))
}

// Projects returns every project.
func (t *Tx) Projects() ([]model.Project, error) { return list[model.Project](t, bProjects) }

// PutProject stores a project, keeping the slug index; a slug held by
// another project is already_exists. Slugs never change.
func (t *Tx) PutProject(p model.Project) error {
	idx := t.bucket(bProjectsBySlug)
	if id := idx.Get([]byte(p.Slug)); id != nil && string(id) != p.ID {
		return model.Errorf(model.CodeAlreadyExists, "project slug %q is taken", p.Slug)
	}
	if err := idx.Put([]byte(p.Slug), []byte(p.ID)); err != nil {
		return err
	}
	return put(t, bProjects, []byte(p.ID), p)
}

// Member returns a user's membership of a project.
func (t *Tx) Member(projectID, userID string) (model.Member, error) {
	return get[model.Member](t, bMembers, key(projectID, userID), "member", userID)
}

// Members returns a project's members.
func (t *Tx) Members(projectID string) ([]model.Member, error) {
	var out []model.Member
	p := key(projectID, "")
	c := t.bucket(bMembers).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		m, err := decode[model.Member](v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// PutMember stores a membership (one role per user and project).
func (t *Tx) PutMember(m model.Member) error {
	if err := t.bucket(bMembersByUser).Put(key(m.UserID, m.ProjectID), []byte(m.Role)); err != nil {
		return err
	}
	return put(t, bMembers, key(m.ProjectID, m.UserID), m)
}

// DeleteMember removes a membership.
func (t *Tx) DeleteMember(projectID, userID string) error {
	if err := t.bucket(bMembersByUser).Delete(key(userID, projectID)); err != nil {
		return err
	}
	return t.bucket(bMembers).Delete(key(projectID, userID))
}

// ProjectKey returns a project's wrapped data key.
func (t *Tx) ProjectKey(projectID string) (model.ProjectKey, error) {
	return get[model.ProjectKey](t, bProjectKeys, []byte(projectID), "project key", projectID)
}

// PutProjectKey stores a project's wrapped data key.
func (t *Tx) PutProjectKey(k model.ProjectKey) error {
	return put(t, bProjectKeys, []byte(k.ProjectID), k)
}

// DeleteProjectKey destroys a project's wrapped data key.
func (t *Tx) DeleteProjectKey(projectID string) error {
	return t.bucket(bProjectKeys).Delete([]byte(projectID))
}

// Workstation returns a workstation.
func (t *Tx) Workstation(id string) (model.Workstation, error) {
	return get[model.Workstation](t, bWorkstations, []byte(id), "workstation", id)
}

// Workstations returns a project's workstations.
func (t *Tx) Workstations(projectID string) ([]model.Workstation, error) {
	return indexed[model.Workstation](t, bWSByProject, bWorkstations, projectID, "workstation")
}

// AllWorkstations returns every workstation.
func (t *Tx) AllWorkstations() ([]model.Workstation, error) {
	return list[model.Workstation](t, bWorkstations)
}

// PutWorkstation stores a workstation.
func (t *Tx) PutWorkstation(w model.Workstation) error {
	if err := t.bucket(bWSByProject).Put(key(w.ProjectID, w.ID), nil); err != nil {
		return err
	}
	return put(t, bWorkstations, []byte(w.ID), w)
}

// DeleteWorkstation removes a workstation record.
func (t *Tx) DeleteWorkstation(w model.Workstation) error {
	if err := t.bucket(bWSByProject).Delete(key(w.ProjectID, w.ID)); err != nil {
		return err
	}
	return t.bucket(bWorkstations).Delete([]byte(w.ID))
}

// Airlock returns an airlock request.
func (t *Tx) Airlock(id string) (model.AirlockRequest, error) {
	return get[model.AirlockRequest](t, bAirlock, []byte(id), "airlock request", id)
}

// AirlockRequests returns a project's airlock requests.
func (t *Tx) AirlockRequests(projectID string) ([]model.AirlockRequest, error) {
	return indexed[model.AirlockRequest](t, bAirlockByProj, bAirlock, projectID, "airlock request")
}

// PutAirlock stores an airlock request.
func (t *Tx) PutAirlock(r model.AirlockRequest) error {
	if err := t.bucket(bAirlockByProj).Put(key(r.ProjectID, r.ID), nil); err != nil {
		return err
	}
	return put(t, bAirlock, []byte(r.ID), r)
}
