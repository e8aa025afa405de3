package fsm

import (
	"strconv"

	"github.com/sded/sded/cluster/model"
)

func registerImage(c *applyCtx) (any, error) {
	p, err := decodePayload[model.RegisterImage](c.cmd)
	if err != nil {
		return nil, err
	}
	img := p.Image
	o := model.Object{Kind: model.KindImage, ID: img.ID}
	if err := c.can(model.ActImageManage, o); err != nil {
		return nil, err
	}
	all, err := c.tx.Images()
	if err != nil {
		return nil, err
	}
	for _, x := range all {
		if x.ID == img.ID {
			return nil, model.Errorf(model.CodeAlreadyExists, "image %q already exists", img.ID)
		}
		if x.Name == img.Name {
			return nil, model.Errorf(model.CodeAlreadyExists, "an image named %q already exists", img.Name)
		}
	}
	img.CreatedBy, img.CreatedAt = c.userID(), c.cmd.Time
	if err := c.tx.PutImage(img); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"name": img.Name, "format": string(img.Format), "sha256": img.SHA256, "size": strconv.FormatInt(img.Size, 10)})
	return img, nil
}

func deleteImage(c *applyCtx) (any, error) {
	p, err := decodePayload[model.DeleteImage](c.cmd)
	if err != nil {
		return nil, err
	}
	o := model.Object{Kind: model.KindImage, ID: p.ID}
	if err := c.can(model.ActImageManage, o); err != nil {
		return nil, err
	}
	img, err := c.tx.Image(p.ID)
	if err != nil {
		return nil, err
	}
	ws, err := c.tx.AllWorkstations()
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.ImageID == img.ID {
			return nil, conflict("image %s is in use by workstation %s", img.Name, w.ID)
		}
	}
	if err := c.tx.DeleteImage(img.ID); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"name": img.Name})
	return nil, nil
}

func wsObj(pr model.Project, w model.Workstation) model.Object {
	return model.Object{Kind: model.KindWorkstation, ID: w.ID, ProjectID: pr.ID, ProjectState: pr.State, OwnerID: w.OwnerID}
}

// createWorkstation checks the quota and allocates, from the state alone,
// the next workstation number (its MAC) and the lowest free host address of
// the project's subnet.
func createWorkstation(c *applyCtx) (any, error) {
	p, err := decodePayload[model.CreateWorkstation](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ProjectID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActWorkstationCreate, o); err != nil {
		return nil, err
	}
	if pr.State != model.ProjectActive {
		return nil, conflict("project %s is %s", pr.Slug, pr.State)
	}
	if _, err := c.tx.Image(p.ImageID); err != nil {
		return nil, err
	}
	if _, err := c.tx.Workstation(p.ID); exists(err, "workstation", p.ID) != nil {
		return nil, exists(err, "workstation", p.ID)
	}
	ws, err := c.tx.Workstations(pr.ID)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	var use model.Quota
	for _, w := range ws {
		if w.Name == p.Name {
			return nil, model.Errorf(model.CodeAlreadyExists, "project %s already has a workstation named %q", pr.Slug, p.Name)
		}
		used[w.IP] = true
		use.VCPU += w.VCPU
		use.MemoryMiB += w.MemoryMiB
		use.DiskGiB += w.DiskGiB
		use.Workstations++
	}
	use.VCPU += p.VCPU
	use.MemoryMiB += p.MemoryMiB
	use.DiskGiB += p.DiskGiB
	use.Workstations++
	if !fits(use, pr.Quota) {
		return nil, conflict("quota exceeded: project %s would use %s of %s", pr.Slug, use, pr.Quota)
	}
	ip := ""
	for h := model.FirstWorkstationHost; h <= model.LastWorkstationHost && ip == ""; h++ {
		a, err := model.HostIP(pr.Subnet, h)
		if err != nil {
			return nil, err
		}
		if !used[a] {
			ip = a
		}
	}
	if ip == "" {
		return nil, conflict("project %s has no free address", pr.Slug)
	}
	n, err := c.tx.NextWorkstationNumber()
	if err != nil {
		return nil, err
	}
	mac, err := freeMAC(c, p.ID)
	if err != nil {
		return nil, err
	}
	desired := p.Desired
	if desired == "" {
		desired = model.DesiredRunning
	}
	w := model.Workstation{ID: p.ID, ProjectID: pr.ID, OwnerID: c.userID(), Name: p.Name, ImageID: p.ImageID, Flavour: p.Flavour,
		VCPU: p.VCPU, MemoryMiB: p.MemoryMiB, DiskGiB: p.DiskGiB, MAC: mac, IP: ip, Number: n, Desired: desired,
		Status: model.Observed{State: model.ObservedPending, ObservedAt: c.cmd.Time}, CreatedAt: c.cmd.Time, UpdatedAt: c.cmd.Time}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if err := c.tx.PutWorkstation(w); err != nil {
		return nil, err
	}
	c.audit(wsObj(pr, w), map[string]string{"name": w.Name, "image_id": w.ImageID, "flavour": w.Flavour, "ip": w.IP, "mac": w.MAC})
	return w, nil
}

// freeMAC picks the first MAC candidate of workstation id that no
// workstation of the cluster has (from the state alone: deterministic).
func freeMAC(c *applyCtx, id string) (string, error) {
	all, err := c.tx.AllWorkstations()
	if err != nil {
		return "", err
	}
	used := make(map[string]bool, len(all))
	for _, w := range all {
		used[w.MAC] = true
	}
	for attempt := range 64 {
		if m := model.MACCandidate(id, attempt); !used[m] {
			return m, nil
		}
	}
	return "", conflict("no free MAC address for workstation %s", id)
}

func (c *applyCtx) workstation(id string, a model.Action) (model.Project, model.Workstation, error) {
	w, err := c.tx.Workstation(id)
	if err != nil {
		return model.Project{}, w, err
	}
	pr, err := c.tx.Project(w.ProjectID)
	if err != nil {
		return pr, w, err
	}
	return pr, w, c.can(a, wsObj(pr, w))
}

func setWorkstationRun(c *applyCtx) (any, error) {
	p, err := decodePayload[model.SetWorkstationRun](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, w, err := c.workstation(p.ID, model.ActWorkstationOperate)
	if err != nil {
		return nil, err
	}
	if w.Desired == model.DesiredDeleted {
		return nil, conflict("workstation %s is being deleted", w.Name)
	}
	details := map[string]string{"from": string(w.Desired), "to": string(p.Desired)}
	w.Desired, w.UpdatedAt = p.Desired, c.cmd.Time
	if err := c.tx.PutWorkstation(w); err != nil {
		return nil, err
	}
	c.audit(wsObj(pr, w), details)
	return w, nil
}

func deleteWorkstation(c *applyCtx) (any, error) {
	p, err := decodePayload[model.DeleteWorkstation](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, w, err := c.workstation(p.ID, model.ActWorkstationDelete)
	if err != nil {
		return nil, err
	}
	if w.Desired == model.DesiredDeleted {
		return nil, conflict("workstation %s is already being deleted", w.Name)
	}
	w.Desired, w.UpdatedAt = model.DesiredDeleted, c.cmd.Time
	if err := c.tx.PutWorkstation(w); err != nil {
		return nil, err
	}
	c.audit(wsObj(pr, w), map[string]string{"name": w.Name})
	return w, nil
}

// reportWorkstation records a reconciler's observation. An unchanged status
// changes nothing and records nothing; "gone" for a workstation being
// deleted removes its record (and frees its quota and address).
func reportWorkstation(c *applyCtx) (any, error) {
	p, err := decodePayload[model.ReportWorkstation](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, w, err := c.workstation(p.ID, model.ActWorkstationReport)
	if err != nil {
		return nil, err
	}
	if w.Status.State == p.State && w.Status.Reason == p.Reason && w.Status.Node == c.cmd.Actor.NodeID {
		return w, nil
	}
	details := map[string]string{"from": string(w.Status.State), "to": string(p.State), "node": c.cmd.Actor.NodeID}
	if p.Reason != "" {
		details["reason"] = truncate(p.Reason, model.MaxDetailLen)
	}
	if p.State == model.ObservedGone && w.Desired == model.DesiredDeleted {
		if err := c.tx.DeleteWorkstation(w); err != nil {
			return nil, err
		}
		c.auditAs("workstation.removed", model.OutcomeSuccess, wsObj(pr, w), details)
		return nil, nil
	}
	w.Status = model.Observed{State: p.State, Reason: p.Reason, ObservedAt: c.cmd.Time, Node: c.cmd.Actor.NodeID}
	if err := c.tx.PutWorkstation(w); err != nil {
		return nil, err
	}
	outcome := model.OutcomeSuccess
	if p.State == model.ObservedFailed {
		outcome = model.OutcomeFailure
	}
	c.auditAs(c.cmd.Type.String(), outcome, wsObj(pr, w), details)
	return w, nil
}

func putNode(c *applyCtx) (any, error) {
	p, err := decodePayload[model.PutNode](c.cmd)
	if err != nil {
		return nil, err
	}
	o := model.Object{Kind: model.KindNode, ID: p.Node.ID}
	if err := c.can(model.ActNodeManage, o); err != nil {
		return nil, err
	}
	n := p.Node
	n.UpdatedAt = c.cmd.Time
	if old, err := c.tx.Node(n.ID); err == nil && old.Address == n.Address && old.Voter == n.Voter {
		return old, nil
	}
	if err := c.tx.PutNode(n); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"address": n.Address, "voter": strconv.FormatBool(n.Voter)})
	return n, nil
}

func removeNode(c *applyCtx) (any, error) {
	p, err := decodePayload[model.RemoveNode](c.cmd)
	if err != nil {
		return nil, err
	}
	o := model.Object{Kind: model.KindNode, ID: p.ID}
	if err := c.can(model.ActNodeManage, o); err != nil {
		return nil, err
	}
	if _, err := c.tx.Node(p.ID); err != nil {
		return nil, err
	}
	if err := c.tx.DeleteNode(p.ID); err != nil {
		return nil, err
	}
	c.audit(o, nil)
	return nil, nil
}

// recordAudit writes an audit-only event: something that changes no state
// but must be on record (a failed login, a desktop opened, a denied request
// the API refused before proposing anything).
func recordAudit(c *applyCtx) (any, error) {
	p, err := decodePayload[model.RecordAudit](c.cmd)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActAuditRecord, model.Object{Kind: model.KindAudit}); err != nil {
		return nil, err
	}
	c.events = append(c.events, model.AuditEvent{Index: c.index, Time: c.cmd.Time, Actor: c.cmd.Actor, Action: p.Action,
		Object: p.Object, ProjectID: p.ProjectID, Outcome: p.Outcome, RequestID: c.cmd.RequestID, Details: p.Details})
	return nil, nil
}
