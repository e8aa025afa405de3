package ui

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"rsc.io/qr"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

func (s *server) loginPage(w http.ResponseWriter, r *http.Request, _ *principal) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if sess, _, err := s.svc.Authenticate(r.Context(), c.Value); err == nil {
			if sess.MFAPending {
				http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
			} else {
				http.Redirect(w, r, "/", http.StatusSeeOther)
			}
			return nil
		}
	}
	return render(w, r, http.StatusOK, view.Login(s.layout(r, nil, "Sign in"), view.Form{}))
}

func (s *server) loginSubmit(w http.ResponseWriter, r *http.Request, _ *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, "username")
	username, password := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	switch {
	case username == "":
		f.Errors["username"] = "Enter your username."
	case password == "":
		f.Errors["password"] = "Enter your password."
	}
	if len(f.Errors) == 0 {
		token, _, err := s.svc.Login(r.Context(), username, password, remote(r))
		if err == nil {
			setSessionCookie(w, token)
			http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
			return nil
		}
		if !isUserError(err) {
			return err
		}
		f.Error = loginMessage(err)
	}
	return render(w, r, statusForForm(f), view.Login(s.layout(r, nil, "Sign in"), f))
}

// loginMessage says why a login failed without telling whether the account
// exists; a lockout says so, as the person needs to know to wait.
func loginMessage(err error) string {
	e := model.AsError(err)
	switch {
	case e.Code == model.CodeForbidden && e.Message != "":
		return e.Message
	case e.Code == model.CodeInvalid && e.Field == "code":
		return "That code is not valid. Codes are single-use; wait for the next one."
	case e.Code == model.CodeInvalid && e.Message != "":
		return e.Message
	}
	return "The username or password is wrong."
}

func (s *server) totpPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.user.TOTPEnrolled {
		http.Redirect(w, r, "/login/enrol", http.StatusSeeOther)
		return nil
	}
	return render(w, r, http.StatusOK, view.TOTP(s.layout(r, nil, "Second factor"), view.Form{}))
}

func (s *server) totpSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r)
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		f.Errors["code"] = "Enter the code from your authenticator app."
	} else {
		token, err := s.svc.VerifyTOTP(r.Context(), p.token, code, remote(r))
		if err == nil {
			setSessionCookie(w, token)
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return nil
		}
		if !isUserError(err) {
			return err
		}
		if model.CodeOf(err) == model.CodeUnauthenticated {
			return err // the pending session expired or was ended by a lockout: start again
		}
		f.Errors["code"] = loginMessage(&model.Error{Code: model.CodeOf(err), Field: "code", Message: model.AsError(err).Message})
	}
	return render(w, r, statusForForm(f), view.TOTP(s.layout(r, nil, "Second factor"), f))
}

func (s *server) enrolPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.user.TOTPEnrolled {
		http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
		return nil
	}
	return s.renderEnrol(w, r, p, view.Form{}, http.StatusOK)
}

// renderEnrol starts a fresh enrolment (a new secret each time the page is
// shown) and shows its QR code and key.
func (s *server) renderEnrol(w http.ResponseWriter, r *http.Request, p *principal, f view.Form, status int) error {
	secret, uri, err := s.svc.BeginTOTP(r.Context(), p.token)
	if err != nil {
		return err
	}
	code, err := qr.Encode(uri, qr.M)
	if err != nil {
		return fmt.Errorf("encoding TOTP QR code: %w", err)
	}
	e := view.Enrol{
		QR:     "data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()),
		Secret: groupSecret(secret),
		Form:   f,
	}
	return render(w, r, status, view.EnrolPage(s.layout(r, nil, "Set up two-factor sign-in"), e))
}

func groupSecret(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *server) enrolSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r)
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		f.Errors["code"] = "Enter the six-digit code from your authenticator app."
		return s.renderEnrol(w, r, p, f, http.StatusBadRequest)
	}
	token, recovery, err := s.svc.ConfirmTOTP(r.Context(), p.token, code, remote(r))
	if err != nil {
		if !isUserError(err) || model.CodeOf(err) == model.CodeUnauthenticated {
			return err
		}
		f.Errors["code"] = "That code did not match. Scan the new QR code below and try again."
		return s.renderEnrol(w, r, p, f, http.StatusBadRequest)
	}
	setSessionCookie(w, token)
	return render(w, r, http.StatusOK, view.Recovery(s.layout(r, nil, "Recovery codes"), recovery))
}

func (s *server) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.token != "" {
		if err := s.svc.Logout(r.Context(), p.token); err != nil && !errors.Is(err, model.ErrUnauthenticated) {
			return err
		}
	}
	clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
