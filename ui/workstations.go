package ui

import (
	"net/http"
	"strings"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

var workstationFields = []string{"name", "image_id", "flavour"}

func (s *server) workstationCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	pid := r.PathValue("id")
	f := formOf(r, workstationFields...)
	c := model.CreateWorkstation{ProjectID: pid, Name: strings.TrimSpace(f.V("name")), ImageID: f.V("image_id"),
		Flavour: f.V("flavour"), Desired: model.DesiredRunning}
	if c.Name == "" {
		f.Errors["name"] = "Give the workstation a name."
	} else {
		ws, err := s.svc.CreateWorkstation(r.Context(), p.actor(), c)
		if err == nil {
			http.Redirect(w, r, "/workstations/"+ws.ID, http.StatusSeeOther)
			return nil
		}
		if !isUserError(err) {
			return err
		}
		addError(&f, err, workstationFields...)
	}
	return s.renderProject(w, r, p, pid, projectForms{Workstation: f}, http.StatusBadRequest)
}

func (s *server) workstationPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	ws, err := s.svc.GetWorkstation(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	row := workstationRow(ws, map[string]string{p.user.ID: "you"})
	row.ProjectName = ws.ProjectID
	if pr, err := s.svc.GetProject(r.Context(), p.actor(), ws.ProjectID); err == nil {
		row.ProjectName = pr.Name
		row.DataNote = dataNote(pr, ws)
	}
	if ims, err := s.svc.ListImages(r.Context(), p.actor()); err == nil {
		for _, im := range ims {
			if im.ID == ws.ImageID {
				row.Image = im.Name
			}
		}
	}
	l := s.layout(r, p, ws.Name, "/static/status.js")
	if row.Busy {
		l.Refresh = 5
	}
	return render(w, r, http.StatusOK, view.WorkstationPage(l, row))
}

// dataNote tells the owner of a running workstation that the project's
// data changed after it started (an import released or revoked): a running
// guest keeps the data volume it started with.
func dataNote(pr model.Project, ws model.Workstation) string {
	if ws.Status.State != model.ObservedRunning || ws.Status.ObservedAt.IsZero() || !pr.DataUpdatedAt.After(ws.Status.ObservedAt) {
		return ""
	}
	return "The project's data changed at " + stamp(pr.DataUpdatedAt) + ", after this workstation started: stop and start it to see the new files in /mnt/data."
}

func (s *server) workstationStart(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.workstationRun(w, r, p, model.DesiredRunning)
}

func (s *server) workstationStop(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.workstationRun(w, r, p, model.DesiredStopped)
}

func (s *server) workstationRun(w http.ResponseWriter, r *http.Request, p *principal, d model.DesiredState) error {
	id := r.PathValue("id")
	if err := s.svc.SetWorkstationRun(r.Context(), p.actor(), id, d); err != nil {
		return err
	}
	http.Redirect(w, r, "/workstations/"+id, http.StatusSeeOther)
	return nil
}

func (s *server) workstationDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	ws, err := s.svc.GetWorkstation(r.Context(), p.actor(), id)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteWorkstation(r.Context(), p.actor(), id); err != nil {
		return err
	}
	http.Redirect(w, r, "/projects/"+ws.ProjectID, http.StatusSeeOther)
	return nil
}
