package fsm

import (
	"sort"

	"github.com/sded/sded/cluster/model"
)

// breakGlassSetting mirrors cluster.BreakGlassSetting: "true" lets admins
// open any desktop (audited as break-glass).
const breakGlassSetting = "desktop.break_glass"

// setProjectSchedule stores a project's nightly shutdown and idle stop. The
// proposer has checked that the time zone exists; this handler only checks
// the form (no zone database here: replicas must not depend on theirs).
func setProjectSchedule(c *applyCtx) (any, error) {
	p, err := decodePayload[model.SetProjectSchedule](c.cmd)
	if err != nil {
		return nil, err
	}
	pr, o, err := c.project(p.ProjectID)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActProjectSchedule, o); err != nil {
		return nil, err
	}
	if pr.State == model.ProjectArchived {
		return nil, conflict("project %s is archived", pr.Slug)
	}
	if pr.Schedule == p.Schedule {
		return pr, nil
	}
	from := pr.Schedule.String()
	pr.Schedule, pr.UpdatedAt = p.Schedule, c.cmd.Time
	if err := pr.Validate(); err != nil {
		return nil, err
	}
	if err := c.tx.PutProject(pr); err != nil {
		return nil, err
	}
	c.audit(o, map[string]string{"from": from, "to": pr.Schedule.String()})
	return pr, nil
}

// enforceSchedules stops the workstations that their project's schedule
// says must stop as of At: deterministic, from the state, At and the
// nightly instants the proposer computed. Each stop is audited with its
// reason; a pass that stops nothing records nothing. It returns the IDs of
// the workstations stopped.
func enforceSchedules(c *applyCtx) (any, error) {
	p, err := decodePayload[model.EnforceSchedules](c.cmd)
	if err != nil {
		return nil, err
	}
	if err := c.can(model.ActScheduleEnforce, model.Object{Kind: model.KindProject}); err != nil {
		return nil, err
	}
	if p.At.After(c.cmd.Time) {
		return nil, model.FieldError("at", "is in the future")
	}
	all, err := c.tx.Projects()
	if err != nil {
		return nil, err
	}
	stopped := []string{}
	for _, pr := range all {
		if pr.State != model.ProjectActive || pr.Schedule.Off() {
			continue
		}
		var nightly = p.Nightly[pr.ID]
		if nightly.Spec != pr.Schedule.NightlySpec() {
			nightly = model.NightlyInstant{} // computed from another schedule
		}
		ws, err := c.tx.Workstations(pr.ID)
		if err != nil {
			return nil, err
		}
		sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
		for _, w := range ws {
			reason, due := pr.Schedule.StopReason(w, p.At, nightly.At)
			if !due {
				continue
			}
			w.Desired, w.UpdatedAt, w.Desktops = model.DesiredStopped, c.cmd.Time, nil
			if err := c.tx.PutWorkstation(w); err != nil {
				return nil, err
			}
			stopped = append(stopped, w.ID)
			c.auditAs("workstation.auto_stop", model.OutcomeSuccess, wsObj(pr, w),
				map[string]string{"name": w.Name, "from": string(model.DesiredRunning), "to": string(model.DesiredStopped), "reason": reason})
		}
	}
	return stopped, nil
}

// desktopActivity records a desktop opening or closing on the workstation
// (its idle clock) and audits it as desktop.open or desktop.close in the
// same entry. Opening needs the connect grant, or an admin (not through a
// token) with break-glass on in a project that is not archived. Closing an
// unknown session (the workstation stopped since) is audited and changes
// nothing; closing another user's session is refused.
func desktopActivity(c *applyCtx) (any, error) {
	p, err := decodePayload[model.DesktopActivity](c.cmd)
	if err != nil {
		return nil, err
	}
	w, err := c.tx.Workstation(p.WorkstationID)
	if err != nil {
		return nil, err
	}
	pr, err := c.tx.Project(w.ProjectID)
	if err != nil {
		return nil, err
	}
	o := wsObj(pr, w)
	details := map[string]string{}
	for k, v := range p.Details {
		details[k] = v
	}
	details["desktop_id"] = p.SessionID
	if !p.Open {
		return c.closeDesktop(pr, w, p, details)
	}
	if err := c.can(model.ActWorkstationConnect, o); err != nil {
		if !c.breakGlass(pr) {
			return nil, err
		}
	}
	if w.Desired == model.DesiredDeleted {
		return nil, conflict("workstation %s is being deleted", w.Name)
	}
	for _, d := range w.Desktops {
		if d.ID == p.SessionID {
			return nil, model.Errorf(model.CodeAlreadyExists, "desktop session %s is already open", p.SessionID)
		}
	}
	if len(w.Desktops) >= model.MaxDesktopSessions {
		w.Desktops = w.Desktops[len(w.Desktops)-model.MaxDesktopSessions+1:]
	}
	w.Desktops = append(w.Desktops, model.DesktopSession{ID: p.SessionID, UserID: c.userID(), Node: p.Node, OpenedAt: c.cmd.Time})
	w.LastDesktopAt = c.cmd.Time
	if err := c.tx.PutWorkstation(w); err != nil {
		return nil, err
	}
	c.auditAs("desktop.open", model.OutcomeSuccess, o, details)
	return w, nil
}

func (c *applyCtx) closeDesktop(pr model.Project, w model.Workstation, p model.DesktopActivity, details map[string]string) (any, error) {
	o := wsObj(pr, w)
	c.target = o
	if c.userID() == "" && !c.who.IsSystem() {
		return nil, model.Errorf(model.CodeUnauthenticated, "not logged in")
	}
	i := -1
	for j, d := range w.Desktops {
		if d.ID == p.SessionID {
			i = j
		}
	}
	if i < 0 {
		details["recorded"] = "false"
		c.auditAs("desktop.close", model.OutcomeSuccess, o, details)
		return w, nil
	}
	if !c.who.IsSystem() && w.Desktops[i].UserID != c.userID() {
		return nil, model.Errorf(model.CodeForbidden, "desktop session %s is another user's", p.SessionID)
	}
	w.Desktops = append(w.Desktops[:i:i], w.Desktops[i+1:]...)
	if len(w.Desktops) == 0 {
		w.Desktops = nil
	}
	w.LastDesktopAt = c.cmd.Time
	if err := c.tx.PutWorkstation(w); err != nil {
		return nil, err
	}
	c.auditAs("desktop.close", model.OutcomeSuccess, o, details)
	return w, nil
}

// breakGlass reports whether the actor is an admin acting in person (not
// through a token) while the platform's break-glass setting is on, on a
// project that is not archived.
func (c *applyCtx) breakGlass(pr model.Project) bool {
	if !c.who.Admin || c.who.Token || pr.State == model.ProjectArchived {
		return false
	}
	s, err := c.tx.Setting(breakGlassSetting)
	return err == nil && s.Value == "true"
}
