package ui

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/a-h/templ"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

// render writes a component with a status, buffering it so a rendering
// failure becomes a clean error instead of half a page.
func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		return fmt.Errorf("rendering page: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// layout is the page frame for the signed-in principal p (nil when signed
// out).
func (s *server) layout(_ *http.Request, p *principal, title string, scripts ...string) view.Layout {
	l := view.Layout{Title: title, Version: s.cfg.Version, Scripts: scripts}
	if p != nil && !p.session.MFAPending {
		l.User = p.user.DisplayName
		if l.User == "" {
			l.User = p.user.Username
		}
		l.Admin = p.user.Admin
	}
	return l
}

// formOf returns a form holding the posted values of keep (never passwords).
func formOf(r *http.Request, keep ...string) view.Form {
	f := view.Form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, k := range keep {
		f.Values[k] = r.PostForm.Get(k)
	}
	return f
}

// statusForForm is 400 for a redisplayed form with errors.
func statusForForm(f view.Form) int {
	if len(f.Errors) > 0 || f.Error != "" {
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// formError turns a form parsing failure into a client error.
func formError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return err
	}
	return &model.Error{Code: model.CodeInvalid, Message: "malformed form: " + err.Error()}
}

// isUserError reports whether err is about the request (shown next to the
// form) rather than a fault of the server.
func isUserError(err error) bool {
	switch model.CodeOf(err) {
	case model.CodeInvalid, model.CodeNotFound, model.CodeAlreadyExists, model.CodeForbidden,
		model.CodeConflict, model.CodeUnauthenticated, model.CodeTooLarge:
		return true
	}
	return false
}

// addError puts a service error on the form: on its field when it names one
// the form has, otherwise above the form.
func addError(f *view.Form, err error, fields ...string) {
	e := model.AsError(err)
	for _, k := range fields {
		if e.Field == k {
			f.Errors[k] = e.Message
			return
		}
	}
	f.Error = e.Error()
}
