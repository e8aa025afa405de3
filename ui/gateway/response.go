package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sded/sded/cluster/model"
)

// requestView is what a guest sees of its request: no disclosure record, no
// reviewers' identities.
type requestView struct {
	ID                 string             `json:"id"`
	State              model.AirlockState `json:"state"`
	Title              string             `json:"title"`
	Context            string             `json:"context,omitempty"`
	DisclosureControls string             `json:"disclosure_controls,omitempty"`
	Files              []fileView         `json:"files"`
	Comments           []commentView      `json:"comments,omitempty"`
	History            []historyView      `json:"history,omitempty"`
	CreatedAt          time.Time          `json:"created_at"`
	UpdatedAt          time.Time          `json:"updated_at"`
}

type fileView struct {
	Name       string                 `json:"name"`
	Size       int64                  `json:"size"`
	SHA256     string                 `json:"sha256"`
	Disclosure model.DisclosureResult `json:"disclosure,omitempty"`
	Approvals  int                    `json:"approvals"`
}

type commentView struct {
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

type historyView struct {
	From   model.AirlockState `json:"from"`
	To     model.AirlockState `json:"to"`
	Reason string             `json:"reason,omitempty"`
	At     time.Time          `json:"at"`
}

func view(r model.AirlockRequest) requestView {
	v := requestView{ID: r.ID, State: r.State, Title: r.Title, Context: r.Context, DisclosureControls: r.DisclosureControls,
		Files: []fileView{}, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, f := range r.Files {
		v.Files = append(v.Files, fileView{Name: f.Name, Size: f.Size, SHA256: f.SHA256, Disclosure: f.Disclosure, Approvals: r.Approvals(f.Name)})
	}
	for _, c := range r.Comments {
		v.Comments = append(v.Comments, commentView{Text: c.Text, At: c.At})
	}
	for _, h := range r.History {
		v.History = append(v.History, historyView{From: h.From, To: h.To, Reason: h.Reason, At: h.At})
	}
	return v
}

func views(rs []model.AirlockRequest) []requestView {
	out := make([]requestView, 0, len(rs))
	for _, r := range rs {
		out = append(out, view(r))
	}
	return out
}

// text renders a request for a terminal.
func text(r model.AirlockRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "request %s: %s\ntitle: %s\n", r.ID, r.State, r.Title)
	if r.Context != "" {
		fmt.Fprintf(&b, "context: %s\n", oneLine(r.Context))
	}
	if r.DisclosureControls != "" {
		fmt.Fprintf(&b, "disclosure controls: %s\n", oneLine(r.DisclosureControls))
	}
	for _, f := range r.Files {
		d := string(f.Disclosure)
		if d == "" {
			d = "not checked yet"
		}
		fmt.Fprintf(&b, "file %s  %d bytes  sha256 %s  automatic check: %s  approvals: %d/%d\n", f.Name, f.Size, f.SHA256, d, r.Approvals(f.Name), r.RequiredApprovals)
	}
	for _, h := range r.History {
		fmt.Fprintf(&b, "%s  %s -> %s", h.At.Format(time.RFC3339), h.From, h.To)
		if h.Reason != "" {
			fmt.Fprintf(&b, "  (%s)", oneLine(h.Reason))
		}
		b.WriteString("\n")
	}
	for _, c := range r.Comments {
		fmt.Fprintf(&b, "%s  comment: %s\n", c.At.Format(time.RFC3339), oneLine(c.Text))
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " / ")
}

func wantsJSON(r *http.Request) bool {
	return r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// reply answers with the request: JSON, or a message and the request as text.
func (g *Gateway) reply(w http.ResponseWriter, c caller, status int, r model.AirlockRequest, msg string) {
	if c.json {
		writeJSON(w, status, view(r))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, msg+text(r))
}

// statusOf maps a domain error code to an HTTP status.
func statusOf(code model.ErrorCode) int {
	switch code {
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

// fail answers with an error. Internal errors are logged and answered
// without their detail.
func (g *Gateway) fail(w http.ResponseWriter, c caller, err error) {
	e := model.AsError(err)
	if e.Code == model.CodeInternal {
		g.log.Error("airlock gateway", "project", c.project, "err", err)
		e = &model.Error{Code: model.CodeInternal, Message: "internal error; the operators have the details in the log"}
	}
	status := statusOf(e.Code)
	if c.json {
		writeJSON(w, status, map[string]any{"error": e})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "error: %s\n", e.Error())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func usageText(c caller, host string) string {
	base := "http://" + host
	return strings.NewReplacer("BASE", base, "WS", c.ws.Name).Replace(`sded airlock: export outputs from workstation WS.
Each file is checked automatically and then by independent output checkers;
released files are downloaded by you from the sded web UI.

  create a request:   curl -d title='Table 1' -d context='what these outputs are and how they were made' BASE/requests
     (busybox wget):  wget -qO- --post-data='title=Table 1&context=what and how' BASE/requests
  upload a file:      curl -T table1.csv BASE/requests/ID/files/table1.csv
     (busybox wget):  wget -qO- --post-file=table1.csv BASE/requests/ID/files/table1.csv
  upload several:     curl -F file=@table1.csv -F file=@figure1.png BASE/requests/ID/files
  submit:             curl -d disclosure_controls='counts rounded to 5, cells under 10 suppressed' BASE/requests/ID/submit
     (busybox wget):  wget -qO- --post-data='disclosure_controls=counts rounded to 5' BASE/requests/ID/submit
  status:             curl BASE/requests/ID
  list:               curl BASE/requests
  withdraw / cancel:  curl -X POST BASE/requests/ID/withdraw   (or /cancel for a draft)

Add -H 'Accept: application/json' (or ?format=json) for JSON.
A returned request takes fixed files under the same names, then submit again.
`)
}
