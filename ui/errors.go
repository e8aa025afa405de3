package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

// Errors the UI itself raises.
var (
	errNotFound    = &model.Error{Code: model.CodeNotFound, Message: "page not found"}
	errCrossOrigin = &model.Error{Code: model.CodeForbidden, Message: "cross-origin request refused"}
	errSignIn      = &model.Error{Code: model.CodeUnauthenticated, Message: "sign in first"}
)

// statusOf is the one place that maps domain error codes to HTTP statuses.
func statusOf(err error) int {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return http.StatusRequestEntityTooLarge
	}
	switch model.CodeOf(err) {
	case model.CodeInvalid:
		return http.StatusBadRequest
	case model.CodeNotFound:
		return http.StatusNotFound
	case model.CodeAlreadyExists, model.CodeConflict:
		return http.StatusConflict
	case model.CodeForbidden:
		return http.StatusForbidden
	case model.CodeUnauthenticated:
		return http.StatusUnauthorized
	case model.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case model.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// publicError is the error as shown to the client: internal errors are
// logged, not shown.
func publicError(err error) *model.Error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &model.Error{Code: model.CodeTooLarge, Message: "request body is too large"}
	}
	e := model.AsError(err)
	if e.Code == model.CodeInternal || e.Code == "" {
		return &model.Error{Code: model.CodeInternal, Message: "internal error; the administrator can find details in the server log"}
	}
	return e
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// fail writes err as JSON for the API or as a page, and logs server faults.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	pe := publicError(err)
	if isAPI(r) {
		writeJSON(w, status, map[string]any{"error": pe})
		return
	}
	if status == http.StatusUnauthorized {
		clearSessionCookie(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	view.ErrorPage(s.layout(r, nil, "Error"), view.ErrorView{Status: status, Message: pe.Error()}).Render(r.Context(), w)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
