package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

func (s *server) tokensPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.renderTokens(w, r, p, view.Form{}, "", http.StatusOK)
}

func (s *server) renderTokens(w http.ResponseWriter, r *http.Request, p *principal, f view.Form, newToken string, status int) error {
	toks, err := s.svc.ListAPITokens(r.Context(), p.actor())
	if err != nil {
		return err
	}
	v := view.Tokens{Form: f, NewToken: newToken}
	for _, t := range toks {
		sc := make([]string, len(t.Scopes))
		for i, x := range t.Scopes {
			sc[i] = string(x)
		}
		exp := day(t.ExpiresAt)
		if exp == "" {
			exp = "never"
		}
		v.Rows = append(v.Rows, view.TokenRow{ID: t.ID, Name: t.Name, Scopes: strings.Join(sc, " "), Created: stamp(t.CreatedAt), Expires: exp})
	}
	return render(w, r, status, view.TokensPage(s.layout(r, p, "API tokens"), v))
}

// parseScopes checks a space-separated list of actions.
func parseScopes(s string) ([]model.Action, error) {
	var out []model.Action
	for _, f := range strings.Fields(s) {
		a := model.Action(f)
		if a != model.ScopeAll && !a.Known() {
			return nil, model.FieldError("scopes", "unknown action %q", f)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, model.FieldError("scopes", "name at least one action, or *")
	}
	return out, nil
}

func (s *server) tokenCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, "name", "scopes", "expires")
	scopes, err := parseScopes(f.V("scopes"))
	if err != nil {
		addError(&f, err, "scopes")
	}
	var exp time.Time
	if f.V("expires") != "" {
		exp = formDate(&f, "expires")
	}
	if len(f.Errors) == 0 {
		raw, _, err := s.svc.CreateAPIToken(r.Context(), p.actor(), strings.TrimSpace(f.V("name")), scopes, exp)
		if err == nil {
			return s.renderTokens(w, r, p, view.Form{}, raw, http.StatusOK)
		}
		if !isUserError(err) {
			return err
		}
		addError(&f, err, "name", "scopes", "expires")
	}
	return s.renderTokens(w, r, p, f, "", http.StatusBadRequest)
}

func (s *server) tokenDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.DeleteAPIToken(r.Context(), p.actor(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
	return nil
}
