package ui

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

func (s *server) airlockHome(w http.ResponseWriter, r *http.Request, p *principal) error {
	outstanding, mine, projects, err := s.airlockOverview(r, p)
	if err != nil {
		return err
	}
	byProject := map[string]names{}
	row := func(it airlockItem) view.AirlockRow {
		n, ok := byProject[it.project.ID]
		if !ok {
			n = s.airlockNames(r.Context(), p, it.project.ID)
			byProject[it.project.ID] = n
		}
		return airlockRow(it.req, it.project, it.viewer, n)
	}
	var h view.AirlockHome
	for _, it := range outstanding {
		h.Outstanding = append(h.Outstanding, row(it))
	}
	for _, it := range mine {
		h.Mine = append(h.Mine, row(it))
	}
	for _, pr := range projects {
		h.Projects = append(h.Projects, view.Option{Value: pr.ID, Label: pr.Name})
	}
	return render(w, r, http.StatusOK, view.AirlockHomePage(s.layout(r, p, "Airlock"), h))
}

func (s *server) airlockProjectPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.renderAirlockProject(w, r, p, view.Form{Values: map[string]string{}, Errors: map[string]string{}}, http.StatusOK)
}

func (s *server) renderAirlockProject(w http.ResponseWriter, r *http.Request, p *principal, f view.Form, status int) error {
	_, dir, err := s.airlockOn()
	if err != nil {
		return err
	}
	ctx := r.Context()
	pr, err := s.svc.GetProject(ctx, p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	reqs, err := dir.AirlockRequests(ctx, p.actor(), pr.ID)
	if err != nil {
		return err
	}
	v := s.airlockViewer(ctx, p, pr)
	n := s.airlockNames(ctx, p, pr.ID)
	items := make([]airlockItem, 0, len(reqs))
	for _, req := range reqs {
		items = append(items, airlockItem{req, pr, v})
	}
	sortItems(items, false)
	d := view.AirlockProject{ProjectID: pr.ID, ProjectName: pr.Name, Form: f,
		CanImport: model.Can(v.p, model.ActAirlockCreateImport, model.Object{Kind: model.KindProject, ID: pr.ID, ProjectID: pr.ID, ProjectState: pr.State}) == nil}
	for _, it := range items {
		d.Rows = append(d.Rows, airlockRow(it.req, pr, v, n))
	}
	return render(w, r, status, view.AirlockProjectPage(s.layout(r, p, "Airlock of "+pr.Name), d))
}

func (s *server) airlockCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, "title", "context")
	req, err := s.airlockCreateImport(r.Context(), p, r.PathValue("id"), f.V("title"), f.V("context"))
	if err == nil {
		http.Redirect(w, r, "/airlock/"+url.PathEscape(req.ID), http.StatusSeeOther)
		return nil
	}
	if !isFormError(err) {
		return err
	}
	addError(&f, err, "title", "context")
	return s.renderAirlockProject(w, r, p, f, statusOf(err))
}

// airlockForms are the request page's forms as redisplayed after an error.
type airlockForms struct {
	upload, submit, comment, vote, decide view.Form
}

func emptyForm() view.Form {
	return view.Form{Values: map[string]string{}, Errors: map[string]string{}}
}

func (s *server) airlockRequestPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, pr, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	return s.renderAirlock(w, r, p, req, pr, airlockForms{}, http.StatusOK)
}

func (s *server) renderAirlock(w http.ResponseWriter, r *http.Request, p *principal, req model.AirlockRequest, pr model.Project, forms airlockForms, status int) error {
	eng, _, err := s.airlockOn()
	if err != nil {
		return err
	}
	ctx := r.Context()
	v := s.airlockViewer(ctx, p, pr)
	links := map[string]airlock.Link{}
	if v.perms(req).download {
		for _, f := range req.Files {
			l, err := eng.Link(ctx, p.actor(), req.ID, f.Name)
			if err != nil {
				// The page still shows the request; the file has no link.
				s.log.Warn("signing an airlock download link", "request", req.ID, "err", err)
				continue
			}
			links[f.Name] = l
		}
	}
	d := airlockDetail(req, pr, v, s.airlockNames(ctx, p, pr.ID), links, s.cfg.AirlockMaxUpload)
	d.UploadForm, d.SubmitForm, d.CommentForm, d.VoteForm, d.DecideForm = forms.upload, forms.submit, forms.comment, forms.vote, forms.decide
	return render(w, r, status, view.AirlockRequestPage(s.layout(r, p, req.Title), d))
}

// airlockFormDone redirects to the request page after a form's success,
// or redisplays the page with the form's error next to its field.
func (s *server) airlockFormDone(w http.ResponseWriter, r *http.Request, p *principal, req model.AirlockRequest, pr model.Project,
	f view.Form, set func(*airlockForms, view.Form), err error, fields ...string) error {
	if err == nil {
		http.Redirect(w, r, "/airlock/"+url.PathEscape(req.ID), http.StatusSeeOther)
		return nil
	}
	if !isFormError(err) {
		return err
	}
	addError(&f, err, fields...)
	var forms airlockForms
	set(&forms, f)
	if fresh, _, lerr := s.loadAirlock(r, p); lerr == nil {
		req = fresh
	}
	return s.renderAirlock(w, r, p, req, pr, forms, statusOf(err))
}

func (s *server) airlockSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, pr, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, "context", "disclosure_controls")
	_, err = s.airlockSubmitReq(r.Context(), p, req, f.V("context"), f.V("disclosure_controls"))
	return s.airlockFormDone(w, r, p, req, pr, f, func(fs *airlockForms, f view.Form) { fs.submit = f }, err, "context", "disclosure_controls", "files")
}

func (s *server) airlockComment(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, pr, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, "text")
	_, err = s.airlockCommentReq(r.Context(), p, req, f.V("text"))
	return s.airlockFormDone(w, r, p, req, pr, f, func(fs *airlockForms, f view.Form) { fs.comment = f }, err, "text")
}

func (s *server) airlockVote(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, pr, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, "file", "decision", "reason")
	_, err = s.airlockVoteReq(r.Context(), p, req, f.V("file"), f.V("decision"), f.V("reason"))
	return s.airlockFormDone(w, r, p, req, pr, f, func(fs *airlockForms, f view.Form) { fs.vote = f }, err, "reason")
}

// airlockMove handles the forms that move a request: return for changes,
// reject, revoke (with a reason), withdraw and cancel.
func (s *server) airlockMove(to model.AirlockState) func(http.ResponseWriter, *http.Request, *principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		req, pr, err := s.loadAirlock(r, p)
		if err != nil {
			return err
		}
		if err := r.ParseForm(); err != nil {
			return formError(err)
		}
		f := formOf(r, "reason")
		_, err = s.airlockMoveReq(r.Context(), p, req, to, f.V("reason"))
		return s.airlockFormDone(w, r, p, req, pr, f, func(fs *airlockForms, f view.Form) { fs.decide = f }, err, "reason")
	}
}

func (s *server) airlockFilePage(w http.ResponseWriter, r *http.Request, p *principal) error {
	eng, _, err := s.airlockOn()
	if err != nil {
		return err
	}
	req, pr, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	fv, err := eng.View(r.Context(), p.actor(), req.ID, r.PathValue("file"))
	if err != nil {
		return err
	}
	v := s.airlockViewer(r.Context(), p, pr)
	d := airlockFileDetail(req, fv, v.perms(req))
	return render(w, r, http.StatusOK, view.AirlockFilePage(s.layout(r, p, fv.File.Name), d))
}

// isFormError reports whether err is about what was entered in a form,
// shown next to the form; a refusal (forbidden, not found, a state that no
// longer allows the action) gets the error page, since the viewer's page
// may not even show the form.
func isFormError(err error) bool {
	switch model.CodeOf(err) {
	case model.CodeInvalid, model.CodeTooLarge:
		return true
	}
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}
