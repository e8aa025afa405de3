package ui

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
)

// decodeJSON reads one JSON object into v, refusing unknown fields, trailing
// data and non-JSON content.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return &model.Error{Code: model.CodeInvalid, Message: "send Content-Type: application/json"}
	}
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &model.Error{Code: model.CodeInvalid, Message: "malformed JSON: " + err.Error()}
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return &model.Error{Code: model.CodeInvalid, Message: "malformed JSON: trailing data after the object"}
	}
	return nil
}

func ok(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}

func created(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) apiMe(w http.ResponseWriter, r *http.Request, p *principal) error {
	return ok(w, p.user.Redacted())
}

func (s *server) apiProjects(w http.ResponseWriter, r *http.Request, p *principal) error {
	ps, err := s.svc.ListProjects(r.Context(), p.actor())
	if err != nil {
		return err
	}
	return ok(w, nonNil(ps))
}

func (s *server) apiProjectCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var c model.CreateProject
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	pr, err := s.svc.CreateProject(r.Context(), p.actor(), c)
	if err != nil {
		return err
	}
	return created(w, pr)
}

func (s *server) apiProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	pr, err := s.svc.GetProject(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return ok(w, pr)
}

func (s *server) apiProjectSuspend(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := s.svc.SuspendProject(r.Context(), p.actor(), r.PathValue("id"), body.Reason); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiProjectResume(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.ResumeProject(r.Context(), p.actor(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiMembers(w http.ResponseWriter, r *http.Request, p *principal) error {
	ms, err := s.svc.ListMembers(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return ok(w, nonNil(ms))
}

func (s *server) apiMemberAdd(w http.ResponseWriter, r *http.Request, p *principal) error {
	var m model.AddMember
	if err := decodeJSON(r, &m); err != nil {
		return err
	}
	if m.ProjectID != "" && m.ProjectID != r.PathValue("id") {
		return model.FieldError("project_id", "does not match the URL")
	}
	m.ProjectID = r.PathValue("id")
	if err := s.svc.AddMember(r.Context(), p.actor(), m); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiMemberRemove(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.RemoveMember(r.Context(), p.actor(), r.PathValue("id"), r.PathValue("user")); err != nil {
		return err
	}
	return noContent(w)
}

// workstationJSON is a workstation with the status the UI shows for it.
type workstationJSON struct {
	model.Workstation
	View workstationView `json:"view"`
}

func wsJSON(w model.Workstation) workstationJSON {
	return workstationJSON{Workstation: w, View: statusOfWorkstation(w)}
}

func (s *server) apiWorkstations(w http.ResponseWriter, r *http.Request, p *principal) error {
	ws, err := s.svc.ListWorkstations(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]workstationJSON, 0, len(ws))
	for _, x := range ws {
		out = append(out, wsJSON(x))
	}
	return ok(w, out)
}

func (s *server) apiWorkstationCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var c model.CreateWorkstation
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	if c.ProjectID != "" && c.ProjectID != r.PathValue("id") {
		return model.FieldError("project_id", "does not match the URL")
	}
	c.ProjectID = r.PathValue("id")
	ws, err := s.svc.CreateWorkstation(r.Context(), p.actor(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wsJSON(ws))
	return nil
}

func (s *server) apiWorkstation(w http.ResponseWriter, r *http.Request, p *principal) error {
	ws, err := s.svc.GetWorkstation(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return ok(w, wsJSON(ws))
}

func (s *server) apiWorkstationStart(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.SetWorkstationRun(r.Context(), p.actor(), r.PathValue("id"), model.DesiredRunning); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiWorkstationStop(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.SetWorkstationRun(r.Context(), p.actor(), r.PathValue("id"), model.DesiredStopped); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiWorkstationDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteWorkstation(r.Context(), p.actor(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiUsers(w http.ResponseWriter, r *http.Request, p *principal) error {
	us, err := s.svc.ListUsers(r.Context(), p.actor())
	if err != nil {
		return err
	}
	out := make([]model.User, 0, len(us))
	for _, u := range us {
		out = append(out, u.Redacted())
	}
	return ok(w, out)
}

// userCreateJSON is the API's new-user request.
type userCreateJSON struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email,omitempty"`
	Admin       bool   `json:"admin"`
	Password    string `json:"password"`
}

func (s *server) apiUserCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body userCreateJSON
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if len(body.Password) < minPassword {
		return model.FieldError("password", "must be at least %d characters", minPassword)
	}
	u, err := s.svc.CreateUser(r.Context(), p.actor(), model.CreateUser{Username: body.Username, DisplayName: body.DisplayName, Email: body.Email, Admin: body.Admin}, body.Password)
	if err != nil {
		return err
	}
	return created(w, u.Redacted())
}

func (s *server) apiUserDisable(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.SetUserDisabled(r.Context(), p.actor(), r.PathValue("id"), true); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiUserEnable(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.SetUserDisabled(r.Context(), p.actor(), r.PathValue("id"), false); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiImages(w http.ResponseWriter, r *http.Request, p *principal) error {
	ims, err := s.svc.ListImages(r.Context(), p.actor())
	if err != nil {
		return err
	}
	return ok(w, nonNil(ims))
}

func (s *server) apiNodes(w http.ResponseWriter, r *http.Request, p *principal) error {
	ns, err := s.svc.ListNodes(r.Context(), p.actor())
	if err != nil {
		return err
	}
	return ok(w, s.nodeHealth(r, ns))
}

func (s *server) apiAudit(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, f := auditQuery(r)
	for k, msg := range f.Errors {
		return model.FieldError(k, "%s", msg)
	}
	es, err := s.svc.ListAudit(r.Context(), p.actor(), q)
	if err != nil {
		return err
	}
	return ok(w, nonNil(es))
}

func (s *server) apiTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	ts, err := s.svc.ListAPITokens(r.Context(), p.actor())
	if err != nil {
		return err
	}
	out := make([]model.APIToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Redacted())
	}
	return ok(w, out)
}

// tokenCreateJSON is the API's new-token request.
type tokenCreateJSON struct {
	Name      string         `json:"name"`
	Scopes    []model.Action `json:"scopes"`
	ExpiresAt time.Time      `json:"expires_at,omitzero"`
}

func (s *server) apiTokenCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body tokenCreateJSON
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	for _, a := range body.Scopes {
		if a != model.ScopeAll && !a.Known() {
			return model.FieldError("scopes", "unknown action %q", a)
		}
	}
	raw, tok, err := s.svc.CreateAPIToken(r.Context(), p.actor(), body.Name, body.Scopes, body.ExpiresAt)
	if err != nil {
		return err
	}
	return created(w, map[string]any{"token": raw, "info": tok.Redacted()})
}

func (s *server) apiTokenDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteAPIToken(r.Context(), p.actor(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
