package airlock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sded/sded/cluster/model"
)

// Config wires an Engine. Every interface field is required.
type Config struct {
	Requests  Requests
	Commands  Commands
	System    System
	Files     FileStore
	Keys      Keys
	Checker   Checker
	Pseudonym Pseudonymiser
	Volumes   VolumeBuilder
	// Dir holds the engine's node-local index of staged files (0700).
	Dir string
	// LinkKey signs download links (at least 32 random bytes). Links signed
	// with another key do not verify: give every node the same key for links
	// to work cluster-wide.
	LinkKey []byte
	// LinkTTL is how long a download link works; default 15 minutes.
	LinkTTL time.Duration
	Clock   func() time.Time
	Logger  *slog.Logger
}

// Engine runs airlock requests: the storage steps around the state changes.
type Engine struct {
	cfg Config
	idx *index
	log *slog.Logger
	// build serialises data-volume rebuilds per project.
	buildMu sync.Mutex
	builds  map[string]*sync.Mutex
}

// New checks cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Requests == nil, cfg.Commands == nil, cfg.System == nil, cfg.Files == nil, cfg.Keys == nil, cfg.Checker == nil,
		cfg.Pseudonym == nil, cfg.Volumes == nil:
		return nil, errors.New("airlock engine: missing a dependency")
	case cfg.Dir == "":
		return nil, errors.New("airlock engine: empty Dir")
	case len(cfg.LinkKey) < 32:
		return nil, errors.New("airlock engine: LinkKey must be at least 32 bytes")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("airlock engine: creating %s: %w", cfg.Dir, err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("airlock engine: restricting %s: %w", cfg.Dir, err)
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 15 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, idx: &index{dir: cfg.Dir}, log: cfg.Logger, builds: map[string]*sync.Mutex{}}, nil
}

func (e *Engine) now() time.Time { return e.cfg.Clock().UTC() }

func (e *Engine) projectLock(project string) *sync.Mutex {
	e.buildMu.Lock()
	defer e.buildMu.Unlock()
	m, ok := e.builds[project]
	if !ok {
		m = &sync.Mutex{}
		e.builds[project] = m
	}
	return m
}

func reviewAction(d model.AirlockDirection) model.Action {
	if d == model.AirlockImport {
		return model.ActAirlockReviewImport
	}
	return model.ActAirlockReviewExport
}

// authorize checks actor may do a on request r (refusals are audited by the
// Service).
func (e *Engine) authorize(ctx context.Context, actor model.Actor, a model.Action, r model.AirlockRequest) error {
	o, err := e.cfg.Requests.AirlockObject(ctx, r.ID)
	if err != nil {
		return err
	}
	return e.cfg.Requests.Authorize(ctx, actor, a, o)
}

// quote makes an untrusted name safe for an audit detail or a log line.
func quote(s string) string {
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.QuoteToASCII(s)
}

// refused audits input the airlock turned away (bad name, blocked type, too
// large, malformed table, archive bomb) and returns err as a domain error.
// Nothing was stored.
func (e *Engine) refused(ctx context.Context, actor model.Actor, r model.AirlockRequest, what string, name string, err error) error {
	me := model.AsError(err)
	details := map[string]string{"action": what, "error": truncate(me.Error(), model.MaxDetailLen)}
	if name != "" {
		details["file"] = quote(name)
	}
	if actor.UserID != "" {
		details["user_id"] = actor.UserID
	}
	ev := model.RecordAudit{Action: "api.denied", Object: string(model.KindAirlock) + "/" + r.ID, ProjectID: r.ProjectID,
		Outcome: model.OutcomeFailure, Details: details}
	if aerr := e.recordAudit(ctx, actor, ev); aerr != nil {
		e.log.ErrorContext(ctx, "auditing a refused airlock input", slog.String("request", r.ID), slog.Any("err", aerr))
	}
	e.log.InfoContext(ctx, "airlock input refused", slog.String("request", r.ID), slog.String("action", what),
		slog.String("file", quote(name)), slog.String("error", me.Error()))
	return me
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

// isRefusal reports whether err says the input was refused (as opposed to
// an internal failure).
func isRefusal(err error) bool {
	switch model.CodeOf(err) {
	case model.CodeInvalid, model.CodeTooLarge:
		return true
	}
	return false
}

// stagedFile resolves a file of the request to its staged copy, checking it
// is the very file the state recorded.
func (e *Engine) stagedFile(r model.AirlockRequest, name string) (StoredFile, error) {
	f, ok := r.File(name)
	if !ok {
		return StoredFile{}, model.Errorf(model.CodeNotFound, "file %s is not in request %s", quote(name), r.ID)
	}
	m, err := e.idx.get(r.ProjectID, r.ID)
	if err != nil {
		return StoredFile{}, err
	}
	sf, ok := m[name]
	if !ok || sf.SHA256 != f.SHA256 || sf.Size != f.Size {
		return StoredFile{}, model.Errorf(model.CodeUnavailable, "file %s of request %s is not staged on this node", quote(name), r.ID)
	}
	return sf, nil
}

// opener returns a function opening the staged plaintext of sf.
func (e *Engine) opener(project string, key []byte, sf StoredFile) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		rc, err := e.cfg.Files.Open(ctx, project, key, sf.ID)
		if err != nil {
			return nil, fmt.Errorf("opening staged %s: %w", quote(sf.Name), err)
		}
		return rc, nil
	}
}

// load reads a request for an attempt at action a; a refused read (not a
// member, another project) is audited as a denied attempt, since it stands
// for a refused action.
func (e *Engine) load(ctx context.Context, actor model.Actor, a model.Action, id string) (model.AirlockRequest, error) {
	r, err := e.cfg.Requests.Airlock(ctx, actor, id)
	if err != nil && (model.CodeOf(err) == model.CodeForbidden || model.CodeOf(err) == model.CodeUnauthenticated) {
		details := map[string]string{"action": string(a), "error": truncate(model.AsError(err).Error(), model.MaxDetailLen)}
		if actor.UserID != "" {
			details["user_id"] = actor.UserID
		}
		ev := model.RecordAudit{Action: "access.denied", Outcome: model.OutcomeDenied, Details: details}
		if idRE.MatchString(id) {
			ev.Object = "airlock/" + id
			if o, oerr := e.cfg.Requests.AirlockObject(ctx, id); oerr == nil {
				ev.ProjectID = o.ProjectID
			}
		}
		if aerr := e.recordAudit(ctx, actor, ev); aerr != nil {
			e.log.ErrorContext(ctx, "auditing a denied airlock attempt", slog.String("request", id), slog.Any("err", aerr))
		}
	}
	return r, err
}

// recordAudit records an audit-only event as the user who caused it, or as
// the node when there is none; it outlives a cancelled request.
func (e *Engine) recordAudit(ctx context.Context, actor model.Actor, ev model.RecordAudit) error {
	ctx = context.WithoutCancel(ctx)
	if actor.UserID == "" {
		return e.cfg.System.RecordSystemAudit(ctx, ev)
	}
	return e.cfg.Requests.RecordAudit(ctx, actor, ev)
}
