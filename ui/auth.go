package ui

import (
	"net/http"
	"slices"
	"strings"

	"github.com/sded/sded/cluster/model"
)

// sessionCookie holds the raw session token. The __Host- prefix makes the
// browser insist on Secure, Path=/ and no Domain.
const sessionCookie = "__Host-sded_session"

func setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// principal is who makes a request.
type principal struct {
	user     model.User
	session  model.Session
	token    string          // the raw session token (cookie), if any
	apiToken *model.APIToken // set for bearer-token requests
}

func (p *principal) actor() model.Actor {
	a := model.Actor{UserID: p.user.ID}
	if p.apiToken != nil {
		a.TokenID = p.apiToken.ID
	}
	return a
}

// authenticate finds the principal of a request for a route, or returns the
// error that refuses it.
func (s *server) authenticate(r *http.Request, rt route) (*principal, error) {
	if rt.access == public {
		return nil, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !rt.api {
			return nil, &model.Error{Code: model.CodeUnauthenticated, Message: "API tokens are accepted only as 'Authorization: Bearer' on /api/v1"}
		}
		tok, u, err := s.svc.AuthenticateAPIToken(r.Context(), strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		if rt.access != signedIn {
			return nil, &model.Error{Code: model.CodeForbidden, Message: "API tokens cannot do this"}
		}
		p := &principal{user: u, apiToken: &tok}
		return p, checkRoute(p, rt)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errSignIn
	}
	sess, u, err := s.svc.Authenticate(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	p := &principal{user: u, session: sess, token: c.Value}
	switch {
	case rt.access == mfaPending && !sess.MFAPending:
		return nil, errAlreadySignedIn
	case rt.access == signedIn && sess.MFAPending:
		return nil, errSecondFactor
	}
	if err := checkRoute(p, rt); err != nil {
		return nil, err
	}
	return p, nil
}

// checkRoute is the route-level authorisation: a token's scopes must carry
// the route's action, and platform actions must pass policy outright.
func checkRoute(p *principal, rt route) error {
	if rt.access != signedIn {
		return nil
	}
	if p.apiToken != nil && !slices.Contains(p.apiToken.Scopes, model.ScopeAll) && !slices.Contains(p.apiToken.Scopes, rt.action) {
		return model.Errorf(model.CodeForbidden, "API token lacks scope %q", rt.action)
	}
	if platformAction[rt.action] {
		return model.Can(p.policyPrincipal(), rt.action, model.Object{Kind: model.KindPlatform})
	}
	return nil
}

func (p *principal) policyPrincipal() model.Principal {
	pp := model.Principal{UserID: p.user.ID, Admin: p.user.Admin}
	if p.apiToken != nil {
		pp.Token, pp.Scopes = true, p.apiToken.Scopes
	}
	return pp
}

// Sentinels that send the browser to the right login step.
var (
	errAlreadySignedIn = &model.Error{Code: model.CodeConflict, Message: "already signed in"}
	errSecondFactor    = &model.Error{Code: model.CodeUnauthenticated, Message: "enter your second factor first"}
)

// remote is the client address recorded with logins and audit events.
func remote(r *http.Request) string { return r.RemoteAddr }
