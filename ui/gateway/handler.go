package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// maxFormBytes bounds the form of a create or submit call.
const maxFormBytes = 64 << 10

// caller is who a request comes from: the workstation with the
// connection's source address and its researcher.
type caller struct {
	project string
	ws      model.Workstation
	actor   model.Actor
	json    bool
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c caller)

// Handler returns the endpoint of one project's gateway listener.
func (g *Gateway) Handler(projectID string) http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h handlerFunc) {
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := g.identify(w, r, projectID)
			if !ok {
				return
			}
			h(w, r, c)
		}))
	}
	route("GET /{$}", g.usage)
	route("GET /requests", g.list)
	route("POST /requests", g.create)
	route("GET /requests/{id}", g.status)
	route("PUT /requests/{id}/files/{name}", g.upload)
	route("POST /requests/{id}/files/{name}", g.upload)
	route("POST /requests/{id}/files", g.uploadMultipart)
	route("POST /requests/{id}/submit", g.submit)
	route("POST /requests/{id}/withdraw", g.move(model.AirlockWithdrawn))
	route("POST /requests/{id}/cancel", g.move(model.AirlockCancelled))
	route("/", func(w http.ResponseWriter, r *http.Request, c caller) {
		g.fail(w, c, model.Errorf(model.CodeNotFound, "no such endpoint %s %s; GET / shows the usage", r.Method, r.URL.Path))
	})
	return mux
}

// identify binds the request to a workstation of the project by the
// connection's source address; anything else is refused and audited.
func (g *Gateway) identify(w http.ResponseWriter, r *http.Request, projectID string) (caller, bool) {
	c := caller{project: projectID, json: wantsJSON(r)}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		g.refuse(r.Context(), w, c, "", "unparsable remote address")
		return c, false
	}
	ip := ap.Addr().Unmap()
	all, err := g.cfg.System.ProjectWorkstations(r.Context(), projectID)
	if err != nil {
		g.fail(w, c, err)
		return c, false
	}
	for _, ws := range all {
		if ws.Desired == model.DesiredDeleted || ws.IP == "" {
			continue
		}
		if a, err := netip.ParseAddr(ws.IP); err == nil && a == ip {
			c.ws, c.actor = ws, model.Actor{UserID: ws.OwnerID}
			return c, true
		}
	}
	g.refuse(r.Context(), w, c, ip.String(), "the address is not a workstation of this project")
	return c, false
}

// refuse audits and answers a connection the gateway does not serve.
func (g *Gateway) refuse(ctx context.Context, w http.ResponseWriter, c caller, remote, why string) {
	details := map[string]string{"action": "airlock.gateway", "error": why, "remote": remote}
	if c.ws.ID != "" {
		details["workstation_id"] = c.ws.ID
		details["user_id"] = c.ws.OwnerID
	}
	ev := model.RecordAudit{Action: "access.denied", Object: "project/" + c.project, ProjectID: c.project, Outcome: model.OutcomeDenied, Details: details}
	if err := g.cfg.System.RecordSystemAudit(context.WithoutCancel(ctx), ev); err != nil {
		g.log.Error("auditing a refused airlock gateway request", slog.String("project", c.project), slog.Any("err", err))
	}
	g.log.Warn("airlock gateway refused a request", slog.String("project", c.project), slog.String("remote", remote), slog.String("reason", why))
	g.fail(w, c, model.Errorf(model.CodeForbidden, "refused: %s", why))
}

// request loads a request of the caller's workstation; a request of another
// workstation or project is refused and audited.
func (g *Gateway) request(w http.ResponseWriter, r *http.Request, c caller) (model.AirlockRequest, bool) {
	id := r.PathValue("id")
	req, err := g.cfg.Directory.Airlock(r.Context(), c.actor, id)
	if err == nil && (req.ProjectID != c.project || req.WorkstationID != c.ws.ID) {
		err = model.Errorf(model.CodeForbidden, "request %s was not made from this workstation", id)
	}
	if err != nil {
		if model.CodeOf(err) == model.CodeForbidden {
			remote := ""
			if ap, perr := netip.ParseAddrPort(r.RemoteAddr); perr == nil {
				remote = ap.Addr().Unmap().String()
			}
			g.refuse(r.Context(), w, c, remote, truncate(model.AsError(err).Message, 300))
			return req, false
		}
		g.fail(w, c, err)
		return req, false
	}
	return req, true
}

func (g *Gateway) usage(w http.ResponseWriter, r *http.Request, c caller) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, usageText(c, r.Host))
}

func (g *Gateway) list(w http.ResponseWriter, r *http.Request, c caller) {
	all, err := g.cfg.Directory.AirlockRequests(r.Context(), c.actor, c.project)
	if err != nil {
		g.fail(w, c, err)
		return
	}
	mine := []model.AirlockRequest{}
	for _, req := range all {
		if req.WorkstationID == c.ws.ID && req.CreatedBy == c.ws.OwnerID {
			mine = append(mine, req)
		}
	}
	if c.json {
		writeJSON(w, http.StatusOK, views(mine))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(mine) == 0 {
		io.WriteString(w, "no requests yet; create one with: curl -d title=... -d context=... http://"+r.Host+"/requests\n")
		return
	}
	for _, req := range mine {
		io.WriteString(w, req.ID+"  "+string(req.State)+"  "+strconv.Itoa(len(req.Files))+" file(s)  "+req.Title+"\n")
	}
}

// form parses a small urlencoded or JSON body into values. Urlencoded
// bodies are read leniently, because people type free text after curl -d
// without encoding it: only '&' separates fields (a ';' is text), and a
// value that does not unescape is taken as typed. Query parameters count
// too (wget users may find them easier); the body wins.
func form(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 && k != "format" {
			out[k] = v[0]
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxFormBytes))
	if err != nil {
		return nil, model.Errorf(model.CodeTooLarge, "the form is larger than %d bytes", maxFormBytes)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, model.FieldError("body", "is not a JSON object of strings: %v", err)
		}
		for k, v := range m {
			out[k] = v
		}
		return out, nil
	}
	for _, kv := range strings.Split(string(b), "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out[unescape(k)] = unescape(v)
	}
	return out, nil
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func (g *Gateway) create(w http.ResponseWriter, r *http.Request, c caller) {
	f, err := form(r)
	if err != nil {
		g.fail(w, c, err)
		return
	}
	title := strings.TrimSpace(f["title"])
	if title == "" {
		title = "Export from " + c.ws.Name
	}
	req, err := g.cfg.Engine.Create(r.Context(), c.actor, model.CreateAirlock{ProjectID: c.project, Direction: model.AirlockExport,
		WorkstationID: c.ws.ID, Title: title, Context: strings.TrimSpace(f["context"])})
	if err != nil {
		g.fail(w, c, err)
		return
	}
	g.reply(w, c, http.StatusCreated, req, "created request "+req.ID+"\nupload with: curl -T FILE http://"+r.Host+"/requests/"+req.ID+"/files/NAME\n")
}

func (g *Gateway) status(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := g.request(w, r, c)
	if !ok {
		return
	}
	g.reply(w, c, http.StatusOK, req, "")
}

func (g *Gateway) upload(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := g.request(w, r, c)
	if !ok {
		return
	}
	name := r.PathValue("name")
	out, err := g.cfg.Engine.AddFile(r.Context(), c.actor, req.ID, name, r.Body, airlock.FileOptions{})
	if err != nil {
		g.fail(w, c, err)
		return
	}
	f, _ := out.File(name)
	g.reply(w, c, http.StatusOK, out, "stored "+f.Name+" ("+strconv.FormatInt(f.Size, 10)+" bytes, sha256 "+f.SHA256+")\n")
}

// uploadMultipart stores every file part of a multipart/form-data body
// (curl -F file=@a.csv -F file=@b.csv), streaming each. The part's file name
// is taken as sent, not reduced to its base name, so a traversal attempt is
// refused rather than silently renamed. Parts before a refused one stay.
func (g *Gateway) uploadMultipart(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := g.request(w, r, c)
	if !ok {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		g.fail(w, c, model.FieldError("body", "must be multipart/form-data (curl -F file=@NAME): %v", err))
		return
	}
	var b strings.Builder
	out := req
	n := 0
	for parts := 0; ; parts++ {
		if parts > 2*model.MaxAirlockFiles {
			g.fail(w, c, model.Errorf(model.CodeTooLarge, "more than %d parts in one upload", 2*model.MaxAirlockFiles))
			return
		}
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			g.fail(w, c, model.FieldError("body", "malformed multipart body: %v", err))
			return
		}
		_, params, perr := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		name, isFile := params["filename"]
		if perr != nil || !isFile {
			part.Close()
			continue
		}
		out, err = g.cfg.Engine.AddFile(r.Context(), c.actor, req.ID, name, part, airlock.FileOptions{})
		part.Close()
		if err != nil {
			g.fail(w, c, err)
			return
		}
		f, _ := out.File(name)
		b.WriteString("stored " + f.Name + " (" + strconv.FormatInt(f.Size, 10) + " bytes, sha256 " + f.SHA256 + ")\n")
		n++
	}
	if n == 0 {
		g.fail(w, c, model.FieldError("body", "has no file part (curl -F file=@NAME)"))
		return
	}
	g.reply(w, c, http.StatusOK, out, b.String())
}

func (g *Gateway) submit(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := g.request(w, r, c)
	if !ok {
		return
	}
	f, err := form(r)
	if err != nil {
		g.fail(w, c, err)
		return
	}
	out, err := g.cfg.Engine.Submit(r.Context(), c.actor, airlock.Submission{RequestID: req.ID,
		DisclosureControls: f["disclosure_controls"], Context: f["context"]})
	if err != nil {
		g.fail(w, c, err)
		return
	}
	g.reply(w, c, http.StatusOK, out, "submitted request "+out.ID+": "+string(out.State)+"\n")
}

func (g *Gateway) move(to model.AirlockState) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		req, ok := g.request(w, r, c)
		if !ok {
			return
		}
		f, err := form(r)
		if err != nil {
			g.fail(w, c, err)
			return
		}
		out, err := g.cfg.Engine.Transition(r.Context(), c.actor, req.ID, to, f["reason"])
		if err != nil {
			g.fail(w, c, err)
			return
		}
		g.reply(w, c, http.StatusOK, out, "")
	}
}
