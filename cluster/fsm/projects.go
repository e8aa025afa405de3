package fsm

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
)

func createProject(c *applyCtx) (any, error) {
	p, err := decodePayload[model.CreateProject](c.cmd)
	if err != nil {
		return nil, err
	}
	o := model.Object{Kind: model.KindProject, ID: p.ID}
	if err := c.can(model.ActProjectCreate, o); err != nil {
		return nil, err
	}
	if _, err := c.tx.Project(p.ID); exists(err, "project", p.ID) != nil {
		return nil, exists(err, "project", p.ID)
	}
	if _, err := c.tx.ProjectBySlug(p.Slug); exists(err, "project slug", p.Slug) != nil {
		return nil, exists(err, "project slug", p.Slug)
	}
	if !p.ExpiresAt.After(c.cmd.Time) {
		return nil, model.FieldError("expires_at", "is in the past")
	}
	for _, id := range p.Owners {
		u, err := c.tx.User(id)
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			return nil, conflict("owner %s is disabled", u.Username)
		}
	}
	pool, err := c.subnetPool(p.Pool)
	if err != nil {
		return nil, err
	}
	pr := p.Project()
	if pr.Number, err = c.tx.NextProjectNumber(); err != nil {
		return nil, err
	}
	subnet, err := model.SubnetIn(pool, pr.Number)
	if err != nil {
		return nil, err
	}
	pr.Subnet, pr.CreatedAt, pr.UpdatedAt = subnet.String(), c.cmd.Time, c.cmd.Time
	if err := c.tx.PutProject(pr); err != nil {
		return nil, err
	}
	o.ProjectID, o.ProjectState = pr.ID, pr.State
	c.audit(o, map[string]string{"slug": pr.Slug, "tier": strconv.Itoa(pr.Tier), "approval_ref": pr.ApprovalRef,
		"dsa_ref": pr.DSARef, "expires_at": pr.ExpiresAt.Format("2006-01-02"), "subnet": pr.Subnet})
	for _, id := range p.Owners {
		m := model.Member{ProjectID: pr.ID, UserID: id, Role: model.RoleOwner, AddedAt: c.cmd.Time, AddedBy: c.userID()}
		if err := c.tx.PutMember(m); err != nil {
			return nil, err
		}
		c.auditAs(model.CmdAddMember.String(), model.OutcomeSuccess, model.Object{Kind: model.KindMember, ID: id, ProjectID: pr.ID}, map[string]string{"role": string(m.Role)})
	}
	return pr, nil
}

// subnetPool returns the cluster's project address pool: the one recorded in
// the state, or (first project) the proposer's, recorded now, or the
// default. A proposer configured with another pool is refused, so replicas
// never allocate from node-local configuration.
func (c *applyCtx) subnetPool(proposed string) (netip.Prefix, error) {
	recorded := c.tx.SubnetPool()
	if recorded == "" {
		recorded = model.DefaultSubnetPool.String()
		if proposed != "" {
			recorded = proposed
		}
		if err := c.tx.SetSubnetPool(recorded); err != nil {
			return netip.Prefix{}, err
		}
	} else if proposed != "" && proposed != recorded {
		return netip.Prefix{}, conflict("this node's network.pool %s differs from the cluster's %s", proposed, recorded)
	}
	pool, err := netip.ParsePrefix(recorded)
	if err != nil {
		return netip.Prefix{}, model.Errorf(model.CodeInternal, "recorded address pool %q: %v", recorded, err)
	}
	return pool, nil
}

// usage sums what a project's workstations use.
func (c *applyCtx) usage(projectID string) (model.Quota, error) {
	ws, err := c.tx.Workstations(projectID)
	if err != nil {
		return model.Quota{}, err
	}
	var q model.Quota
	for _, w := range ws {
		q.VCPU += w.VCPU
		q.MemoryMiB += w.MemoryMiB
		q.DiskGiB += w.DiskGiB
		q.Workstations++
	}
	return q, nil
}

func fits(use, limit model.Quota) bool {
	return use.VCPU <= limit.VCPU && use.MemoryMiB <= limit.MemoryMiB && use.DiskGiB <= limit.DiskGiB && use.Workstations <= limit.Workstations
}

func updateProject(c *applyCtx) (any, error) {
	p, err := decodePayload[model.UpdateProject](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActProjectUpdate, o); err != nil {
		return nil, err
	}
	if pr.State == model.ProjectArchived {
		return nil, conflict("project %s is archived", pr.Slug)
	}
	next := p.Apply(pr)
	if err := next.Validate(); err != nil {
		return nil, err
	}
	use, err := c.usage(pr.ID)
	if err != nil {
		return nil, err
	}
	if !fits(use, next.Quota) {
		return nil, conflict("the new quota (%s) is below what the project uses (%s)", next.Quota, use)
	}
	next.UpdatedAt = c.cmd.Time
	if err := c.tx.PutProject(next); err != nil {
		return nil, err
	}
	var changed []string
	for name, set := range map[string]bool{"name": p.Name != nil, "approval_ref": p.ApprovalRef != nil, "dsa_ref": p.DSARef != nil,
		"expires_at": p.ExpiresAt != nil, "tier": p.Tier != nil, "quota": p.Quota != nil, "network": p.Network != nil} {
		if set {
			changed = append(changed, name)
		}
	}
	sort.Strings(changed)
	c.audit(o, map[string]string{"changed": strings.Join(changed, ",")})
	return next, nil
}

// stopWorkstations sets every running workstation of a project to stopped
// (or all of them to deleted) and returns how many changed.
func (c *applyCtx) setAllWorkstations(projectID string, to model.DesiredState) (int, error) {
	ws, err := c.tx.Workstations(projectID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, w := range ws {
		if w.Desired == to || w.Desired == model.DesiredDeleted || (to == model.DesiredStopped && w.Desired != model.DesiredRunning) {
			continue
		}
		w.Desired, w.UpdatedAt = to, c.cmd.Time
		if err := c.tx.PutWorkstation(w); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (c *applyCtx) suspend(pr model.Project, reason string) (model.Project, int, error) {
	n, err := c.setAllWorkstations(pr.ID, model.DesiredStopped)
	if err != nil {
		return pr, 0, err
	}
	pr.State, pr.StateReason, pr.UpdatedAt = model.ProjectSuspended, reason, c.cmd.Time
	return pr, n, c.tx.PutProject(pr)
}

func suspendProject(c *applyCtx) (any, error) {
	p, err := decodePayload[model.ProjectStateChange](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActProjectLifecycle, o); err != nil {
		return nil, err
	}
	if pr.State != model.ProjectActive {
		return nil, conflict("project %s is %s, not active", pr.Slug, pr.State)
	}
	pr, n, err := c.suspend(pr, p.Reason)
	if err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"reason": p.Reason, "workstations_stopped": strconv.Itoa(n)})
	return pr, nil
}

func resumeProject(c *applyCtx) (any, error) {
	p, err := decodePayload[model.ProjectStateChange](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActProjectLifecycle, o); err != nil {
		return nil, err
	}
	if pr.State != model.ProjectSuspended {
		return nil, conflict("project %s is %s, not suspended", pr.Slug, pr.State)
	}
	if !pr.ExpiresAt.After(c.cmd.Time) {
		return nil, conflict("project %s has expired: extend its expiry date first", pr.Slug)
	}
	pr.State, pr.StateReason, pr.UpdatedAt = model.ProjectActive, p.Reason, c.cmd.Time
	if err := c.tx.PutProject(pr); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"reason": p.Reason})
	return pr, nil
}

// archiveProject deletes every workstation and destroys the project's
// wrapped data key in the same transaction (crypto-shredding): from here the
// project's encrypted volumes cannot be read by anyone.
func archiveProject(c *applyCtx) (any, error) {
	p, err := decodePayload[model.ProjectStateChange](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActProjectLifecycle, o); err != nil {
		return nil, err
	}
	if pr.State == model.ProjectArchived {
		return nil, conflict("project %s is already archived", pr.Slug)
	}
	n, err := c.setAllWorkstations(pr.ID, model.DesiredDeleted)
	if err != nil {
		return nil, err
	}
	// The data key is destroyed now, or after the retention period the
	// platform setting names (expireProjects destroys it then).
	retention := c.archiveRetention()
	destroyed := false
	if retention == 0 {
		_, kerr := c.tx.ProjectKey(pr.ID)
		if err := c.tx.DeleteProjectKey(pr.ID); err != nil {
			return nil, err
		}
		destroyed = kerr == nil
	}
	pr.State, pr.StateReason, pr.ArchivedAt, pr.UpdatedAt = model.ProjectArchived, p.Reason, c.cmd.Time, c.cmd.Time
	if err := c.tx.PutProject(pr); err != nil {
		return nil, err
	}
	details := map[string]string{"reason": p.Reason, "workstations_deleted": strconv.Itoa(n), "data_key_destroyed": strconv.FormatBool(destroyed)}
	if retention > 0 {
		details["data_key_destroyed_after"] = c.cmd.Time.Add(retention).UTC().Format(time.RFC3339)
	}
	c.audit(o, details)
	return pr, nil
}

func expireProjects(c *applyCtx) (any, error) {
	p, err := decodePayload[model.ExpireProjects](c.cmd)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActProjectExpire, model.Object{Kind: model.KindProject}); err != nil {
		return nil, err
	}
	if p.At.After(c.cmd.Time) {
		return nil, model.FieldError("at", "is in the future")
	}
	all, err := c.tx.Projects()
	if err != nil {
		return nil, err
	}
	var expired []string
	for _, pr := range all {
		if pr.State != model.ProjectActive || pr.ExpiresAt.After(p.At) {
			continue
		}
		pr, n, err := c.suspend(pr, "expired")
		if err != nil {
			return nil, err
		}
		expired = append(expired, pr.ID)
		c.auditAs(model.CmdSuspendProject.String(), model.OutcomeSuccess, model.Object{Kind: model.KindProject, ID: pr.ID, ProjectID: pr.ID},
			map[string]string{"reason": "expired", "workstations_stopped": strconv.Itoa(n)})
	}
	// Archived projects whose retention period is over lose their data key
	// (crypto-shredding).
	retention := c.archiveRetention()
	var shredded []string
	for _, pr := range all {
		if pr.State != model.ProjectArchived || pr.ArchivedAt.Add(retention).After(p.At) {
			continue
		}
		if _, err := c.tx.ProjectKey(pr.ID); err != nil {
			continue
		}
		if err := c.tx.DeleteProjectKey(pr.ID); err != nil {
			return nil, err
		}
		shredded = append(shredded, pr.ID)
		c.auditAs("project.key_destroyed", model.OutcomeSuccess, model.Object{Kind: model.KindProject, ID: pr.ID, ProjectID: pr.ID},
			map[string]string{"archived_at": pr.ArchivedAt.UTC().Format(time.RFC3339), "retention": retention.String()})
	}
	return map[string][]string{"suspended": expired, "keys_destroyed": shredded}, nil
}

// archiveRetention reads the retention period from the replicated settings.
func (c *applyCtx) archiveRetention() time.Duration {
	s, err := c.tx.Setting(model.ArchiveRetentionSetting)
	if err != nil {
		return 0
	}
	return model.ArchiveRetention(s.Value)
}

func memberObj(pr model.Project, userID string) model.Object {
	return model.Object{Kind: model.KindMember, ID: userID, ProjectID: pr.ID, ProjectState: pr.State}
}

func addMember(c *applyCtx) (any, error) {
	p, err := decodePayload[model.AddMember](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, _, err := c.project(p.ProjectID)
	if err != nil {
		return nil, err
	}
	o := memberObj(pr, p.UserID)
	if err := c.can(model.ActMemberManage, o); err != nil {
		return nil, err
	}
	if pr.State == model.ProjectArchived {
		return nil, conflict("project %s is archived", pr.Slug)
	}
	u, err := c.tx.User(p.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, conflict("user %s is disabled", u.Username)
	}
	details := map[string]string{"role": string(p.Role)}
	if old, err := c.tx.Member(pr.ID, u.ID); err == nil {
		if old.Role == p.Role {
			return nil, model.Errorf(model.CodeAlreadyExists, "%s is already %s of %s", u.Username, p.Role, pr.Slug)
		}
		if err := c.lastOwner(pr, old); err != nil {
			return nil, err
		}
		details["previous_role"] = string(old.Role)
	}
	m := model.Member{ProjectID: pr.ID, UserID: u.ID, Role: p.Role, AddedAt: c.cmd.Time, AddedBy: c.userID()}
	if err := c.tx.PutMember(m); err != nil {
		return nil, err
	}
	c.audit(o, details)
	return m, nil
}

// lastOwner refuses an owner removing or demoting the project's last owner
// (themselves); admins may, since they can always add an owner back.
func (c *applyCtx) lastOwner(pr model.Project, m model.Member) error {
	if m.Role != model.RoleOwner || c.who.Admin {
		return nil
	}
	ms, err := c.tx.Members(pr.ID)
	if err != nil {
		return err
	}
	for _, x := range ms {
		if x.UserID != m.UserID && x.Role == model.RoleOwner {
			return nil
		}
	}
	return conflict("cannot remove the last owner of %s", pr.Slug)
}

func removeMember(c *applyCtx) (any, error) {
	p, err := decodePayload[model.RemoveMember](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, _, err := c.project(p.ProjectID)
	if err != nil {
		return nil, err
	}
	o := memberObj(pr, p.UserID)
	if err := c.can(model.ActMemberManage, o); err != nil {
		return nil, err
	}
	m, err := c.tx.Member(pr.ID, p.UserID)
	if err != nil {
		return nil, err
	}
	if err := c.lastOwner(pr, m); err != nil {
		return nil, err
	}
	if err := c.tx.DeleteMember(pr.ID, p.UserID); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"role": string(m.Role)})
	return nil, nil
}

// putProjectKey stores a project's wrapped data key once: replacing it would
// shred the project's data, so an existing key is already_exists.
func putProjectKey(c *applyCtx) (any, error) {
	p, err := decodePayload[model.PutProjectKey](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ProjectID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActProjectKey, o); err != nil {
		return nil, err
	}
	if pr.State == model.ProjectArchived {
		return nil, conflict("project %s is archived", pr.Slug)
	}
	if _, err := c.tx.ProjectKey(pr.ID); exists(err, "data key of project", pr.ID) != nil {
		return nil, exists(err, "data key of project", pr.ID)
	}
	if err := c.tx.PutProjectKey(model.ProjectKey{ProjectID: pr.ID, KEKID: p.KEKID, Wrapped: p.Wrapped, CreatedAt: c.cmd.Time}); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"kek_id": p.KEKID})
	return nil, nil
}
