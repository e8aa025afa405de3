package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

func (s *server) homePage(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx, a := r.Context(), p.actor()
	projects, err := s.svc.ListProjects(ctx, a)
	if err != nil {
		return err
	}
	h := view.Home{Name: s.layout(r, p, "").User, Admin: p.user.Admin}
	for _, pr := range projects {
		role := s.roleIn(r, p, pr.ID)
		h.Projects = append(h.Projects, projectRow(pr, role))
		if role == "" || pr.State != model.ProjectActive {
			continue
		}
		ws, err := s.svc.ListWorkstations(ctx, a, pr.ID)
		if err != nil {
			continue // listed projects may still refuse workstations (role); the project row says enough
		}
		for _, w := range ws {
			if w.OwnerID == p.user.ID {
				h.Workstations = append(h.Workstations, workstationRow(w, map[string]string{p.user.ID: "you"}))
			}
		}
	}
	return render(w, r, http.StatusOK, view.HomePage(s.layout(r, p, "Home", "/static/status.js"), h))
}

// roleIn returns p's role in a project, "" if none.
func (s *server) roleIn(r *http.Request, p *principal, projectID string) string {
	ms, err := s.svc.ListMembers(r.Context(), p.actor(), projectID)
	if err != nil {
		return ""
	}
	for _, m := range ms {
		if m.UserID == p.user.ID {
			return string(m.Role)
		}
	}
	return ""
}

func (s *server) projectsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	projects, err := s.svc.ListProjects(r.Context(), p.actor())
	if err != nil {
		return err
	}
	v := view.Projects{CanCreate: p.user.Admin}
	for _, pr := range projects {
		v.Rows = append(v.Rows, projectRow(pr, s.roleIn(r, p, pr.ID)))
	}
	return render(w, r, http.StatusOK, view.ProjectsPage(s.layout(r, p, "Projects"), v))
}

func (s *server) projectNewPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	now := s.cfg.Now()
	f := view.Form{Values: map[string]string{
		"starts_at": now.Format(dateFmt), "expires_at": now.AddDate(1, 0, 0).Format(dateFmt), "tier": "3",
		"quota.vcpu": "8", "quota.memory_mib": "16384", "quota.disk_gib": "200", "quota.workstations": "4",
	}, Errors: map[string]string{}}
	return s.renderProjectNew(w, r, p, f, http.StatusOK)
}

func (s *server) renderProjectNew(w http.ResponseWriter, r *http.Request, p *principal, f view.Form, status int) error {
	users, err := s.svc.ListUsers(r.Context(), p.actor())
	if err != nil {
		return err
	}
	opts := []view.Option{{Value: "", Label: "— none yet —"}}
	for _, u := range users {
		if !u.Disabled {
			opts = append(opts, view.Option{Value: u.ID, Label: u.DisplayName + " (" + u.Username + ")"})
		}
	}
	return render(w, r, status, view.ProjectNew(s.layout(r, p, "Create a project"), f, opts))
}

var projectFields = []string{"name", "slug", "approval_ref", "dsa_ref", "starts_at", "expires_at", "tier",
	"quota.vcpu", "quota.memory_mib", "quota.disk_gib", "quota.workstations", "owner"}

func (s *server) projectCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, projectFields...)
	c := model.CreateProject{
		Name: strings.TrimSpace(f.V("name")), Slug: strings.TrimSpace(f.V("slug")),
		ApprovalRef: strings.TrimSpace(f.V("approval_ref")), DSARef: strings.TrimSpace(f.V("dsa_ref")),
		StartsAt: formDate(&f, "starts_at"), ExpiresAt: formDate(&f, "expires_at"), Tier: formInt(&f, "tier"),
		Quota: model.Quota{VCPU: formInt(&f, "quota.vcpu"), MemoryMiB: formInt(&f, "quota.memory_mib"),
			DiskGiB: formInt(&f, "quota.disk_gib"), Workstations: formInt(&f, "quota.workstations")},
	}
	if o := f.V("owner"); o != "" {
		c.Owners = []string{o}
	}
	if len(f.Errors) == 0 {
		pr, err := s.svc.CreateProject(r.Context(), p.actor(), c)
		if err == nil {
			http.Redirect(w, r, "/projects/"+pr.ID, http.StatusSeeOther)
			return nil
		}
		if !isUserError(err) {
			return err
		}
		addError(&f, err, projectFields...)
	}
	return s.renderProjectNew(w, r, p, f, http.StatusBadRequest)
}

// formDate parses a yyyy-mm-dd field, noting an error on the form.
func formDate(f *view.Form, k string) time.Time {
	t, err := time.Parse(dateFmt, strings.TrimSpace(f.V(k)))
	if err != nil {
		f.Errors[k] = "Enter a date as yyyy-mm-dd."
	}
	return t
}

// formInt parses a whole-number field, noting an error on the form.
func formInt(f *view.Form, k string) int {
	n, err := strconv.Atoi(strings.TrimSpace(f.V(k)))
	if err != nil {
		f.Errors[k] = "Enter a whole number."
	}
	return n
}

func (s *server) projectPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.renderProject(w, r, p, r.PathValue("id"), projectForms{}, http.StatusOK)
}

// projectForms are the forms of a project's page, redisplayed with what
// was entered after an error.
type projectForms struct {
	Member, Workstation, Schedule view.Form
}

func (s *server) renderProject(w http.ResponseWriter, r *http.Request, p *principal, id string, forms projectForms, status int) error {
	ctx, a := r.Context(), p.actor()
	pr, err := s.svc.GetProject(ctx, a, id)
	if err != nil {
		return err
	}
	members, err := s.svc.ListMembers(ctx, a, id)
	if err != nil {
		return err
	}
	names := map[string]string{}
	var users []view.Option
	if p.user.Admin {
		if us, err := s.svc.ListUsers(ctx, a); err == nil {
			for _, u := range us {
				names[u.ID] = u.DisplayName
				if !u.Disabled {
					users = append(users, view.Option{Value: u.ID, Label: u.DisplayName + " (" + u.Username + ")"})
				}
			}
		}
	}
	if !p.user.Admin && s.namer != nil {
		if ns, err := s.namer.MemberNames(ctx, a, id); err == nil {
			names = ns
		}
	}
	names[p.user.ID] = p.user.DisplayName
	d := view.ProjectDetail{
		ID: pr.ID, Name: pr.Name, Slug: pr.Slug, State: string(pr.State), StateReason: pr.StateReason,
		Tier: strconv.Itoa(pr.Tier), Clipboard: clipboardText(pr.Tier), ApprovalRef: pr.ApprovalRef, DSARef: pr.DSARef,
		Starts: day(pr.StartsAt), Expires: day(pr.ExpiresAt), Quota: pr.Quota.String(), Subnet: pr.Subnet,
		Admin: p.user.Admin, MemberForm: forms.Member, WorkstationForm: forms.Workstation, Users: users,
		Schedule: pr.Schedule.String(), ScheduleForm: forms.Schedule,
	}
	role := ""
	for _, m := range members {
		n := names[m.UserID]
		if n == "" {
			n = m.UserID
		}
		d.Members = append(d.Members, view.MemberRow{UserID: m.UserID, Name: n, Role: string(m.Role)})
		if m.UserID == p.user.ID {
			role = string(m.Role)
		}
	}
	d.CanManage = p.user.Admin || role == string(model.RoleOwner)
	d.CanSchedule = d.CanManage && s.scheduler != nil && pr.State != model.ProjectArchived
	if d.ScheduleForm.Values == nil {
		d.ScheduleForm = scheduleForm(pr.Schedule)
	}
	for _, mr := range model.MemberRoles {
		d.Roles = append(d.Roles, view.Option{Value: string(mr), Label: strings.ReplaceAll(string(mr), "_", " ")})
	}
	if ws, err := s.svc.ListWorkstations(ctx, a, id); err == nil {
		for _, w := range ws {
			d.Workstations = append(d.Workstations, workstationRow(w, names))
		}
	} else if !errors.Is(err, model.ErrForbidden) {
		return err
	}
	d.CanCreateWorkstation = pr.State == model.ProjectActive && (role == string(model.RoleOwner) || role == string(model.RoleResearcher))
	images, err := s.svc.ListImages(ctx, a)
	if err != nil {
		return err
	}
	for _, im := range images {
		d.Images = append(d.Images, view.Option{Value: im.ID, Label: im.Name})
	}
	for _, fl := range s.svc.Flavours(ctx) {
		d.Flavours = append(d.Flavours, view.Option{Value: fl, Label: fl})
	}
	return render(w, r, status, view.ProjectPage(s.layout(r, p, pr.Name, "/static/status.js"), d))
}

func (s *server) projectSuspend(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	id := r.PathValue("id")
	if err := s.svc.SuspendProject(r.Context(), p.actor(), id, strings.TrimSpace(r.PostForm.Get("reason"))); err != nil {
		return err
	}
	http.Redirect(w, r, "/projects/"+id, http.StatusSeeOther)
	return nil
}

func (s *server) projectResume(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if err := s.svc.ResumeProject(r.Context(), p.actor(), id); err != nil {
		return err
	}
	http.Redirect(w, r, "/projects/"+id, http.StatusSeeOther)
	return nil
}

func (s *server) memberAdd(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	id := r.PathValue("id")
	f := formOf(r, "user_id", "role")
	m := model.AddMember{ProjectID: id, UserID: strings.TrimSpace(f.V("user_id")), Role: model.MemberRole(f.V("role"))}
	err := s.svc.AddMember(r.Context(), p.actor(), m)
	if err == nil {
		http.Redirect(w, r, "/projects/"+id, http.StatusSeeOther)
		return nil
	}
	if !isUserError(err) {
		return err
	}
	addError(&f, err, "user_id", "role")
	return s.renderProject(w, r, p, id, projectForms{Member: f}, statusOf(err))
}

func (s *server) memberRemove(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if err := s.svc.RemoveMember(r.Context(), p.actor(), id, r.PathValue("user")); err != nil {
		return err
	}
	http.Redirect(w, r, "/projects/"+id, http.StatusSeeOther)
	return nil
}
