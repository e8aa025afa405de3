package ui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

func (s *server) usersPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.renderUsers(w, r, p, view.Form{}, http.StatusOK)
}

func (s *server) renderUsers(w http.ResponseWriter, r *http.Request, p *principal, f view.Form, status int) error {
	users, err := s.svc.ListUsers(r.Context(), p.actor())
	if err != nil {
		return err
	}
	v := view.Users{Form: f}
	for _, u := range users {
		v.Rows = append(v.Rows, userRow(u))
	}
	return render(w, r, status, view.UsersPage(s.layout(r, p, "Users"), v))
}

var userFields = []string{"username", "display_name", "email", "admin"}

// minPassword is the shortest initial password the UI accepts.
const minPassword = 12

func (s *server) userCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, userFields...)
	c := model.CreateUser{Username: strings.TrimSpace(f.V("username")), DisplayName: strings.TrimSpace(f.V("display_name")),
		Email: strings.TrimSpace(f.V("email")), Admin: f.V("admin") == "on"}
	password := r.PostForm.Get("password")
	if len(password) < minPassword {
		f.Errors["password"] = "Use at least 12 characters."
	} else {
		_, err := s.svc.CreateUser(r.Context(), p.actor(), c, password)
		if err == nil {
			http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
			return nil
		}
		if !isUserError(err) {
			return err
		}
		addError(&f, err, append(userFields, "password")...)
	}
	return s.renderUsers(w, r, p, f, http.StatusBadRequest)
}

func (s *server) userDisable(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.userSetDisabled(w, r, p, true)
}

func (s *server) userEnable(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.userSetDisabled(w, r, p, false)
}

func (s *server) userSetDisabled(w http.ResponseWriter, r *http.Request, p *principal, disabled bool) error {
	if err := s.svc.SetUserDisabled(r.Context(), p.actor(), r.PathValue("id"), disabled); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
	return nil
}

func (s *server) nodesPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	nodes, err := s.svc.ListNodes(r.Context(), p.actor())
	if err != nil {
		return err
	}
	var rows []view.NodeRow
	for _, n := range s.nodeHealth(r, nodes) {
		rows = append(rows, view.NodeRow{ID: n.Node.ID, Address: n.Node.Address, Voter: n.Node.Voter, Leader: n.Leader,
			Healthy: n.Healthy, Known: n.known, LastSeen: stamp(n.LastSeen), Detail: n.Detail})
	}
	return render(w, r, http.StatusOK, view.NodesPage(s.layout(r, p, "Nodes"), rows))
}

// auditQuery parses the audit filter from a query string; bad values are
// noted on the form and ignored.
func auditQuery(r *http.Request) (AuditQuery, view.Form) {
	v := r.URL.Query()
	f := view.Form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, k := range []string{"actor", "action", "project", "outcome", "since", "until", "limit"} {
		f.Values[k] = strings.TrimSpace(v.Get(k))
	}
	q := AuditQuery{ActorID: f.V("actor"), Action: f.V("action"), ProjectID: f.V("project"), Limit: 200}
	switch o := f.V("outcome"); o {
	case "", string(model.OutcomeSuccess), string(model.OutcomeDenied), string(model.OutcomeFailure):
		q.Outcome = o
	default:
		f.Errors["outcome"] = "Choose success, denied or failure."
	}
	for _, k := range []string{"since", "until"} {
		if f.V(k) == "" {
			continue
		}
		t, err := time.Parse(dateFmt, f.V(k))
		if err != nil {
			f.Errors[k] = "Enter a date as yyyy-mm-dd."
			continue
		}
		if k == "since" {
			q.Since = t
		} else {
			q.Until = t.AddDate(0, 0, 1)
		}
	}
	if l := f.V("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			f.Errors["limit"] = "Enter 1-10000."
		} else {
			q.Limit = n
		}
	}
	return q, f
}

func (s *server) auditPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, f := auditQuery(r)
	events, err := s.svc.ListAudit(r.Context(), p.actor(), q)
	if err != nil {
		return err
	}
	a := view.Audit{Filter: f}
	for _, e := range events {
		a.Rows = append(a.Rows, auditRow(e))
	}
	for _, act := range auditActions() {
		a.Actions = append(a.Actions, view.Option{Value: act, Label: act})
	}
	return render(w, r, statusForForm(f), view.AuditPage(s.layout(r, p, "Audit log"), a))
}

// nodeJSON is a node with its health, when Config.Health knows it.
type nodeJSON struct {
	Node model.Node `json:"node"`
	NodeHealth
	known bool
}

// nodeHealth joins the recorded nodes with the live health report.
func (s *server) nodeHealth(r *http.Request, nodes []model.Node) []nodeJSON {
	health := map[string]NodeHealth{}
	if s.cfg.Health != nil {
		hs, err := s.cfg.Health(r.Context())
		if err != nil {
			s.log.Warn("reading cluster health", "err", err)
		}
		for _, h := range hs {
			health[h.ID] = h
		}
	}
	out := make([]nodeJSON, 0, len(nodes))
	for _, n := range nodes {
		h, ok := health[n.ID]
		if !ok {
			h = NodeHealth{ID: n.ID, Detail: "no health report"}
		}
		out = append(out, nodeJSON{Node: n, NodeHealth: h, known: ok})
	}
	return out
}
