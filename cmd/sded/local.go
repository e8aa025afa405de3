package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
)

// The local API serves the command line (`sded user add`, ...) on a unix
// socket in data_dir that only root can open. Root on a node is trusted as
// the platform operator: a request acts as the account it names ("as"),
// recorded in the audit log as that user, or as the node itself where the
// policy allows a system actor (creating the first admin). Every call goes through cluster.Service, so policy, validation and
// audit are the same as for the web UI.

// localRequest is the common part of every local API request.
type localRequest struct {
	As string `json:"as,omitempty"` // admin user name to act as
}

// localError is the JSON error body.
type localError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *localError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// serveLocal listens on the local socket until ctx ends.
func (d *daemon) serveLocal(ctx context.Context) (func(), error) {
	path := socketPath(d.cfg)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	srv := &http.Server{Handler: d.localMux(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("local API stopped", slog.Any("err", err))
		}
	}()
	return func() { srv.Close(); os.Remove(path) }, nil
}

// localHandler decodes a JSON request of type Req, runs fn and encodes its
// result.
func localHandler[Req any](d *daemon, fn func(ctx context.Context, actor model.Actor, req Req) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		var common localRequest
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil && len(body) > 0 {
			if err = json.Unmarshal(body, &req); err == nil {
				err = json.Unmarshal(body, &common)
			}
		}
		if err != nil {
			writeLocalError(w, model.Errorf(model.CodeInvalid, "bad request body: %v", err))
			return
		}
		actor := d.svc.SystemActor()
		if common.As != "" {
			u, err := d.store.UserByUsername(common.As)
			if err != nil {
				writeLocalError(w, model.Errorf(model.CodeNotFound, "no user %q to act as", common.As))
				return
			}
			actor = model.Actor{UserID: u.ID}
		}
		out, err := fn(r.Context(), actor, req)
		if err != nil {
			writeLocalError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

func writeLocalError(w http.ResponseWriter, err error) {
	var me *model.Error
	if !errors.As(err, &me) {
		me = &model.Error{Code: model.CodeInternal, Message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(localError{Code: string(me.Code), Message: me.Message, Field: me.Field})
}

// needAdmin refuses a request that names no account to act as.
func needAdmin(actor model.Actor) error {
	if actor.UserID == "" {
		return model.FieldError("as", "name the admin account this action is recorded under: --as USERNAME")
	}
	return nil
}

type userAddReq struct {
	Username, DisplayName, Email, Password string
	Admin                                  bool
}

type userReq struct {
	Username, Password string
	Disabled           bool
}

type projectAddReq struct {
	model.CreateProject
	OwnerNames []string `json:"owner_names"`
}

type projectStateReq struct{ Slug, Op, Reason string }

type scheduleReq struct{ Slug, Nightly, Zone, Idle string }

type memberReq struct {
	Project, Username string
	Role              model.MemberRole
}

type imageAddReq struct {
	Name, File, Kernel, Initrd, Cmdline, SHA256, Format string
}

type workstationReq struct {
	Project, Name, Image, Flavour, ID, Op, Owner string
}

type settingReq struct{ Key, Value string }

type airlockReq struct {
	Project, ID, File, To, Reason, Decision string
	As                                      string `json:"as"`
}

type nodeReq struct {
	ID  string
	TTL time.Duration
}

func (d *daemon) localMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/user/add", localHandler(d, func(ctx context.Context, a model.Actor, r userAddReq) (any, error) {
		return d.svc.CreateUser(ctx, a, model.CreateUser{Username: r.Username, DisplayName: r.DisplayName, Email: r.Email, Admin: r.Admin}, r.Password)
	}))
	mux.Handle("POST /v1/user/list", localHandler(d, func(ctx context.Context, a model.Actor, _ struct{}) (any, error) {
		if err := needAdmin(a); err != nil {
			return nil, err
		}
		return d.svc.ListUsers(ctx, a)
	}))
	mux.Handle("POST /v1/user/disable", localHandler(d, func(ctx context.Context, a model.Actor, r userReq) (any, error) {
		u, err := d.store.UserByUsername(r.Username)
		if err != nil {
			return nil, err
		}
		return struct{}{}, d.svc.SetUserDisabled(ctx, a, u.ID, r.Disabled)
	}))
	mux.Handle("POST /v1/user/password", localHandler(d, func(ctx context.Context, a model.Actor, r userReq) (any, error) {
		u, err := d.store.UserByUsername(r.Username)
		if err != nil {
			return nil, err
		}
		if err := needAdmin(a); err != nil {
			return nil, err
		}
		return struct{}{}, d.svc.SetPassword(ctx, a, u.ID, "", r.Password)
	}))
	mux.Handle("POST /v1/project/add", localHandler(d, func(ctx context.Context, a model.Actor, r projectAddReq) (any, error) {
		for _, n := range r.OwnerNames {
			u, err := d.store.UserByUsername(n)
			if err != nil {
				return nil, model.Errorf(model.CodeNotFound, "owner %q: no such user", n)
			}
			r.Owners = append(r.Owners, u.ID)
		}
		return d.svc.CreateProject(ctx, a, r.CreateProject)
	}))
	mux.Handle("POST /v1/project/list", localHandler(d, func(ctx context.Context, a model.Actor, _ struct{}) (any, error) {
		if err := needAdmin(a); err != nil {
			return nil, err
		}
		return d.svc.ListProjects(ctx, a)
	}))
	mux.Handle("POST /v1/project/state", localHandler(d, func(ctx context.Context, a model.Actor, r projectStateReq) (any, error) {
		p, err := d.store.ProjectBySlug(r.Slug)
		if err != nil {
			return nil, err
		}
		switch r.Op {
		case "suspend":
			err = d.svc.SuspendProject(ctx, a, p.ID, r.Reason)
		case "resume":
			err = d.svc.ResumeProject(ctx, a, p.ID)
		case "archive":
			err = d.svc.ArchiveProject(ctx, a, p.ID, r.Reason)
		default:
			err = model.FieldError("op", "must be suspend, resume or archive")
		}
		if err != nil {
			return nil, err
		}
		return d.store.Project(p.ID)
	}))
	mux.Handle("POST /v1/project/schedule", localHandler(d, func(ctx context.Context, a model.Actor, r scheduleReq) (any, error) {
		p, err := d.store.ProjectBySlug(r.Slug)
		if err != nil {
			return nil, err
		}
		sch, err := model.ParseSchedule(r.Nightly, r.Zone, r.Idle)
		if err != nil {
			return nil, err
		}
		return d.svc.SetProjectSchedule(ctx, a, p.ID, sch)
	}))
	mux.Handle("POST /v1/member/add", localHandler(d, func(ctx context.Context, a model.Actor, r memberReq) (any, error) {
		p, u, err := d.projectUser(r.Project, r.Username)
		if err != nil {
			return nil, err
		}
		m := model.AddMember{ProjectID: p.ID, UserID: u.ID, Role: r.Role}
		return m, d.svc.AddMember(ctx, a, m)
	}))
	mux.Handle("POST /v1/member/remove", localHandler(d, func(ctx context.Context, a model.Actor, r memberReq) (any, error) {
		p, u, err := d.projectUser(r.Project, r.Username)
		if err != nil {
			return nil, err
		}
		return struct{}{}, d.svc.RemoveMember(ctx, a, p.ID, u.ID)
	}))
	mux.Handle("POST /v1/member/list", localHandler(d, func(ctx context.Context, a model.Actor, r memberReq) (any, error) {
		p, err := d.store.ProjectBySlug(r.Project)
		if err != nil {
			return nil, err
		}
		return d.svc.ListMembers(ctx, a, p.ID)
	}))
	mux.Handle("POST /v1/image/add", localHandler(d, d.addImage))
	mux.Handle("POST /v1/image/list", localHandler(d, func(ctx context.Context, a model.Actor, _ struct{}) (any, error) {
		if err := needAdmin(a); err != nil {
			return nil, err
		}
		return d.svc.ListImages(ctx, a)
	}))
	mux.Handle("POST /v1/image/delete", localHandler(d, func(ctx context.Context, a model.Actor, r imageAddReq) (any, error) {
		img, err := d.imageByName(r.Name)
		if err != nil {
			return nil, err
		}
		return struct{}{}, d.deleteImage(ctx, a, img.ID)
	}))
	mux.Handle("POST /v1/workstation/add", localHandler(d, func(ctx context.Context, a model.Actor, r workstationReq) (any, error) {
		p, err := d.store.ProjectBySlug(r.Project)
		if err != nil {
			return nil, err
		}
		img, err := d.imageByName(r.Image)
		if err != nil {
			return nil, err
		}
		return d.svc.CreateWorkstation(ctx, a, model.CreateWorkstation{ProjectID: p.ID, Name: r.Name, ImageID: img.ID, Flavour: r.Flavour})
	}))
	mux.Handle("POST /v1/workstation/list", localHandler(d, func(ctx context.Context, a model.Actor, r workstationReq) (any, error) {
		p, err := d.store.ProjectBySlug(r.Project)
		if err != nil {
			return nil, err
		}
		return d.svc.ListWorkstations(ctx, a, p.ID)
	}))
	mux.Handle("POST /v1/workstation/op", localHandler(d, func(ctx context.Context, a model.Actor, r workstationReq) (any, error) {
		var err error
		switch r.Op {
		case "start":
			err = d.svc.SetWorkstationRun(ctx, a, r.ID, model.DesiredRunning)
		case "stop":
			err = d.svc.SetWorkstationRun(ctx, a, r.ID, model.DesiredStopped)
		case "delete":
			err = d.svc.DeleteWorkstation(ctx, a, r.ID)
		default:
			err = model.FieldError("op", "must be start, stop or delete")
		}
		if err != nil {
			return nil, err
		}
		return d.store.Workstation(r.ID)
	}))
	mux.Handle("POST /v1/node/status", localHandler(d, func(ctx context.Context, _ model.Actor, _ nodeReq) (any, error) {
		return d.node.Status(ctx)
	}))
	mux.Handle("POST /v1/node/token", localHandler(d, func(ctx context.Context, _ model.Actor, r nodeReq) (any, error) {
		tok, err := d.node.CreateJoinToken(ctx, r.TTL)
		return map[string]string{"token": tok}, err
	}))
	mux.Handle("POST /v1/node/remove", localHandler(d, func(ctx context.Context, _ model.Actor, r nodeReq) (any, error) {
		return struct{}{}, d.node.RemoveNode(ctx, r.ID)
	}))
	mux.Handle("POST /v1/audit/verify", localHandler(d, func(ctx context.Context, _ model.Actor, _ struct{}) (any, error) {
		n, err := d.store.VerifyAudit(ctx)
		return map[string]int{"entries": n}, err
	}))
	mux.Handle("POST /v1/setting/put", localHandler(d, func(ctx context.Context, a model.Actor, r settingReq) (any, error) {
		if r.Key == model.ArchiveRetentionSetting && r.Value != "" {
			if dur, err := time.ParseDuration(r.Value); err != nil || dur < 0 {
				return nil, model.FieldError("value", "%s must be a duration such as 720h (0: destroy keys at archiving)", r.Key)
			}
		}
		return d.svc.PutSetting(ctx, a, r.Key, r.Value)
	}))
	mux.Handle("POST /v1/setting/get", localHandler(d, func(ctx context.Context, a model.Actor, r settingReq) (any, error) {
		return d.svc.Setting(ctx, a, r.Key)
	}))
	mux.Handle("POST /v1/airlock/list", localHandler(d, func(ctx context.Context, a model.Actor, r airlockReq) (any, error) {
		p, err := d.store.ProjectBySlug(r.Project)
		if err != nil {
			return nil, err
		}
		return d.svc.AirlockRequests(ctx, a, p.ID)
	}))
	mux.Handle("POST /v1/airlock/transition", localHandler(d, func(ctx context.Context, a model.Actor, r airlockReq) (any, error) {
		return d.airlock.Transition(ctx, a, r.ID, model.AirlockState(r.To), r.Reason)
	}))
	mux.Handle("POST /v1/airlock/vote", localHandler(d, func(ctx context.Context, a model.Actor, r airlockReq) (any, error) {
		return d.airlock.Vote(ctx, a, r.ID, r.File, model.VoteDecision(r.Decision))
	}))
	mux.Handle("POST /v1/airlock/download", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req airlockReq
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeLocalError(w, model.Errorf(model.CodeInvalid, "bad request body: %v", err))
			return
		}
		u, err := d.store.UserByUsername(req.As)
		if err != nil {
			writeLocalError(w, model.Errorf(model.CodeNotFound, "no user %q to act as", req.As))
			return
		}
		a := model.Actor{UserID: u.ID}
		link, err := d.airlock.Link(r.Context(), a, req.ID, req.File)
		if err != nil {
			writeLocalError(w, err)
			return
		}
		dl, err := d.airlock.Download(r.Context(), a, link.Token)
		if err != nil {
			writeLocalError(w, err)
			return
		}
		defer dl.Body.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := io.Copy(w, dl.Body); err != nil {
			d.log.Warn("airlock download", slog.Any("err", err))
		}
	}))
	mux.HandleFunc("GET /v1/audit/export", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		if _, err := d.store.ExportAudit(r.Context(), w, 0); err != nil {
			d.log.Warn("audit export", slog.Any("err", err))
		}
	})
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := d.node.Backup(r.Context(), w); err != nil {
			d.log.Warn("backup", slog.Any("err", err))
			// The client checks the trailing checksum; a cut stream fails there.
		}
	})
	return mux
}

func (d *daemon) projectUser(slug, username string) (model.Project, model.User, error) {
	p, err := d.store.ProjectBySlug(slug)
	if err != nil {
		return p, model.User{}, err
	}
	u, err := d.store.UserByUsername(username)
	return p, u, err
}

func (d *daemon) imageByName(name string) (model.Image, error) {
	imgs, err := d.store.Images()
	if err != nil {
		return model.Image{}, err
	}
	for _, i := range imgs {
		if i.Name == name {
			return i, nil
		}
	}
	return model.Image{}, model.Errorf(model.CodeNotFound, "no image named %q", name)
}

// localClient talks to a running daemon's local API.
type localClient struct {
	hc   *http.Client
	path string
}

func newLocalClient(cfg *Config) (*localClient, error) {
	path := socketPath(cfg)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sded is not running on this node (no %s): start it with `systemctl start sded` or `sded serve`", path)
	}
	return &localClient{path: path, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}}}, nil
}

// call posts req to the local API and decodes the answer into out.
func (c *localClient) call(ctx context.Context, path string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sded"+path, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("cannot open %s: run this command as root", c.path)
		}
		return fmt.Errorf("talking to sded: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var le localError
		if err := json.NewDecoder(resp.Body).Decode(&le); err != nil {
			return fmt.Errorf("sded answered %s", resp.Status)
		}
		return &le
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// download posts req and copies the answer's body to w.
func (c *localClient) download(ctx context.Context, path string, req any, w io.Writer) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sded"+path, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return fmt.Errorf("talking to sded: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var le localError
		if err := json.NewDecoder(resp.Body).Decode(&le); err != nil {
			return fmt.Errorf("sded answered %s", resp.Status)
		}
		return &le
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// stream copies a GET response to w.
func (c *localClient) stream(ctx context.Context, path string, w io.Writer) error {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://sded"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return fmt.Errorf("talking to sded: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sded answered %s", resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
