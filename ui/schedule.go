package ui

import (
	"context"
	"net/http"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

// ProjectScheduler sets a project's power schedule: a nightly shutdown in
// a time zone and an idle auto-stop (*cluster.Service implements it). It
// checks policy itself (admins and the project's owners) and that the
// zone exists. The UI finds it on the Service passed to New; a Service
// without it leaves the schedule read-only (503 on the routes).
type ProjectScheduler interface {
	SetProjectSchedule(ctx context.Context, actor model.Actor, projectID string, sch model.Schedule) (model.Project, error)
}

// MemberNamer names a project's members for whoever may list them
// (*cluster.Service implements it), so members who are not admins see who
// else is on the project. Without it they see user IDs.
type MemberNamer interface {
	MemberNames(ctx context.Context, actor model.Actor, projectID string) (map[string]string, error)
}

// The schedule form's fields: the names the model's errors use.
const (
	fieldNightly = "schedule.nightly_shutdown"
	fieldZone    = "schedule.time_zone"
	fieldIdle    = "schedule.idle_stop_after"
)

var scheduleFields = []string{fieldNightly, fieldZone, fieldIdle}

var errNoScheduler = &model.Error{Code: model.CodeUnavailable, Message: "project schedules cannot be changed on this server"}

// scheduleForm is the form showing a project's current schedule.
func scheduleForm(sch model.Schedule) view.Form {
	f := view.Form{Values: map[string]string{fieldNightly: sch.NightlyShutdown, fieldZone: sch.TimeZone}, Errors: map[string]string{}}
	if sch.IdleStopAfter != 0 {
		f.Values[fieldIdle] = model.ShortDuration(sch.IdleStopAfter)
	}
	return f
}

func (s *server) projectSchedule(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.scheduler == nil {
		return errNoScheduler
	}
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	id := r.PathValue("id")
	f := formOf(r, scheduleFields...)
	sch, err := model.ParseSchedule(f.V(fieldNightly), f.V(fieldZone), f.V(fieldIdle))
	if err == nil {
		if _, err = s.scheduler.SetProjectSchedule(r.Context(), p.actor(), id, sch); err == nil {
			http.Redirect(w, r, "/projects/"+id, http.StatusSeeOther)
			return nil
		}
	}
	if !isUserError(err) || model.CodeOf(err) == model.CodeForbidden {
		return err // the error page: one who may not schedule has no form to go back to
	}
	addError(&f, err, scheduleFields...)
	return s.renderProject(w, r, p, id, projectForms{Schedule: f}, statusOf(err))
}

// scheduleJSON is the API's schedule: the same strings as the form, each
// empty (or idle "0") for off.
type scheduleJSON struct {
	NightlyShutdown string `json:"nightly_shutdown"`
	TimeZone        string `json:"time_zone"`
	IdleStopAfter   string `json:"idle_stop_after"`
}

func (s *server) apiProjectSchedule(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.scheduler == nil {
		return errNoScheduler
	}
	var body scheduleJSON
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	sch, err := model.ParseSchedule(body.NightlyShutdown, body.TimeZone, body.IdleStopAfter)
	if err != nil {
		return err
	}
	pr, err := s.scheduler.SetProjectSchedule(r.Context(), p.actor(), r.PathValue("id"), sch)
	if err != nil {
		return err
	}
	return ok(w, pr)
}
