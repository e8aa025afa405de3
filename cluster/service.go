package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// proposer is what Service needs from the raft node (*Node implements it).
type proposer interface {
	Propose(ctx context.Context, cmd model.Command) (fsm.Result, error)
	Barrier(ctx context.Context) error
}

// Flavour is a workstation size offered in the configuration.
type Flavour struct {
	VCPU      int `json:"vcpu"`
	MemoryMiB int `json:"memory_mib"`
	DiskGiB   int `json:"disk_gib"`
}

// ServiceConfig configures Service. Zero values take the defaults noted.
type ServiceConfig struct {
	NodeID           string           // actor of system commands (required)
	Clock            func() time.Time // time.Now
	SessionIdle      time.Duration    // 30m: idle timeout of a logged-in session
	SessionAbsolute  time.Duration    // 12h: absolute lifetime of a session
	MFAPendingTTL    time.Duration    // 10m: a password-only session waiting for the second factor
	TouchInterval    time.Duration    // 1m: how stale last-seen may get before a touch is proposed
	Argon2           auth.Argon2Params
	Issuer           string             // "sded": the TOTP issuer shown in authenticator apps
	Flavours         map[string]Flavour // workstation sizes by name
	AirlockApprovals int                // 2: independent approvals per exported file
	Logger           *slog.Logger
}

func (c *ServiceConfig) fill() {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionAbsolute <= 0 {
		c.SessionAbsolute = 12 * time.Hour
	}
	if c.MFAPendingTTL <= 0 {
		c.MFAPendingTTL = 10 * time.Minute
	}
	if c.TouchInterval <= 0 {
		c.TouchInterval = time.Minute
	}
	if c.Argon2.MemoryKiB == 0 {
		c.Argon2 = auth.DefaultArgon2
	}
	if c.Issuer == "" {
		c.Issuer = "sded"
	}
	if c.AirlockApprovals <= 0 {
		c.AirlockApprovals = 2
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service is the typed API the UI and CLI call. Each method takes the
// acting user, validates its input, checks the policy on the local replica
// (after a Barrier where the decision must see the latest state), stamps
// IDs, the time and the actor, proposes, and returns typed results. The FSM
// checks everything again when it applies the command.
type Service struct {
	p   proposer
	st  *state.Store
	cfg ServiceConfig
	log *slog.Logger

	dummyOnce sync.Once
	dummyHash string
}

// NewService returns a Service proposing through p and reading st.
func NewService(p proposer, st *state.Store, cfg ServiceConfig) *Service {
	cfg.fill()
	return &Service{p: p, st: st, cfg: cfg, log: cfg.Logger}
}

type requestIDKey struct{}

// WithRequestID attaches a client-supplied idempotency key to ctx: the
// command the next Service call proposes carries it, so a retry after an
// unknown outcome is applied at most once.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// newID returns a random 128-bit ID in hex.
func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func (s *Service) now() time.Time { return s.cfg.Clock().UTC() }

func (s *Service) system() model.Actor { return model.Actor{NodeID: s.cfg.NodeID} }

// propose validates payload, proposes it as actor and decodes the result's
// value into out (if not nil).
func (s *Service) propose(ctx context.Context, t model.CommandType, actor model.Actor, payload model.Validator, out any) error {
	if err := payload.Validate(); err != nil {
		return err
	}
	reqID, _ := ctx.Value(requestIDKey{}).(string)
	if reqID == "" {
		reqID = newID()
	}
	cmd, err := model.NewCommand(t, reqID, actor, s.now(), payload)
	if err != nil {
		return err
	}
	res, err := s.p.Propose(ctx, cmd)
	if err != nil {
		return fmt.Errorf("proposing %s: %w", t, err)
	}
	if res.Err != nil {
		return res.Err
	}
	// Read your writes: the local replica (a follower) may lag the leader
	// that applied the command.
	if err := s.waitApplied(ctx, res.Index); err != nil {
		return err
	}
	if out != nil && len(res.Value) > 0 {
		if err := json.Unmarshal(res.Value, out); err != nil {
			return fmt.Errorf("decoding %s result: %w", t, err)
		}
	}
	return nil
}

// waitApplied waits until the local replica has applied index.
func (s *Service) waitApplied(ctx context.Context, index uint64) error {
	for wait := 200 * time.Microsecond; s.st.AppliedIndex() < index; wait = min(wait*2, 2*time.Millisecond) {
		select {
		case <-ctx.Done():
			return model.Errorf(model.CodeUnavailable, "waiting for this node to apply index %d: %v", index, ctx.Err())
		case <-time.After(wait):
		}
	}
	return nil
}

// fresh waits until the local replica has every committed write.
func (s *Service) fresh(ctx context.Context) error {
	if err := s.p.Barrier(ctx); err != nil {
		return fmt.Errorf("reading the latest state: %w", err)
	}
	return nil
}

// principal resolves a user actor on the local replica. Node actors are
// refused: the UI and CLI act for users, and only Service itself (and
// CreateUser's bootstrap, with SystemActor) acts as the node.
func (s *Service) principal(actor model.Actor) (model.Principal, error) {
	if err := userOnly(actor); err != nil {
		return model.Principal{}, err
	}
	return s.st.Principal(actor, s.now())
}

// userOnly refuses an actor that is not a plain user (or user via token).
func userOnly(a model.Actor) error {
	if a.UserID == "" || a.NodeID != "" {
		return model.Errorf(model.CodeUnauthenticated, "not logged in as a user")
	}
	return nil
}

// SystemActor is this node acting for itself, for the CLI's bootstrap of
// the first admin (`sded user add` as root).
func (s *Service) SystemActor() model.Actor { return s.system() }

// check is the fast policy check before a proposal: on the latest state
// (Barrier), with a refusal audited (denied) so that no denied attempt goes
// unrecorded even though nothing is proposed.
func (s *Service) check(ctx context.Context, actor model.Actor, a model.Action, o model.Object) error {
	if err := s.fresh(ctx); err != nil {
		return err
	}
	return s.checkLocal(ctx, actor, a, o)
}

// checkLocal is check without the Barrier, for callers that just did one.
func (s *Service) checkLocal(ctx context.Context, actor model.Actor, a model.Action, o model.Object) error {
	p, err := s.principal(actor)
	if err == nil {
		err = model.Can(p, a, o)
	}
	if err != nil {
		s.auditDenied(ctx, actor, a, o, err)
	}
	return err
}

// Authorize checks whether actor may perform a on o, for actions that are
// not state changes (opening a desktop, viewing an airlock file). A refusal
// is audited.
func (s *Service) Authorize(ctx context.Context, actor model.Actor, a model.Action, o model.Object) error {
	return s.check(ctx, actor, a, o)
}

// auditDenied records a refused attempt; failures to record are logged.
func (s *Service) auditDenied(ctx context.Context, actor model.Actor, a model.Action, o model.Object, why error) {
	details := map[string]string{"action": string(a), "error": model.AsError(why).Error()}
	if actor.UserID != "" {
		details["user_id"] = actor.UserID
	}
	if actor.TokenID != "" {
		details["token_id"] = actor.TokenID
	}
	rec := model.RecordAudit{Action: "access.denied", Object: o.String(), ProjectID: o.ProjectID, Outcome: model.OutcomeDenied, Details: details}
	if err := s.propose(context.WithoutCancel(ctx), model.CmdRecordAudit, s.system(), rec, nil); err != nil {
		s.log.Error("recording a denied attempt", "actor", actor.String(), "action", string(a), "err", err)
	}
}

// RecordAudit records an audit-only event (desktop opened, file downloaded)
// on behalf of a user.
func (s *Service) RecordAudit(ctx context.Context, actor model.Actor, ev model.RecordAudit) error {
	if err := userOnly(actor); err != nil {
		return err
	}
	return s.propose(ctx, model.CmdRecordAudit, actor, ev, nil)
}

// PutSetting sets a platform setting (admin).
func (s *Service) PutSetting(ctx context.Context, actor model.Actor, key, value string) (model.Setting, error) {
	p := model.PutSetting{Key: key, Value: value}
	if err := p.Validate(); err != nil {
		return model.Setting{}, err
	}
	if err := s.check(ctx, actor, model.ActSettingWrite, model.Object{Kind: model.KindSetting, ID: key}); err != nil {
		return model.Setting{}, err
	}
	var out model.Setting
	return out, s.propose(ctx, model.CmdPutSetting, actor, p, &out)
}

// Setting reads a setting from the local replica.
func (s *Service) Setting(ctx context.Context, actor model.Actor, key string) (model.Setting, error) {
	p, err := s.principal(actor)
	if err != nil {
		return model.Setting{}, err
	}
	if err := model.Can(p, model.ActSettingRead, model.Object{Kind: model.KindSetting, ID: key}); err != nil {
		return model.Setting{}, err
	}
	return s.st.GetSetting(key)
}

// AuditEvents returns audit events from sequence from on (admin).
func (s *Service) AuditEvents(ctx context.Context, actor model.Actor, from uint64, limit int) ([]model.AuditEvent, error) {
	if limit <= 0 || limit > 10000 {
		return nil, model.FieldError("limit", "must be 1-10000")
	}
	if err := s.check(ctx, actor, model.ActAuditRead, model.Object{Kind: model.KindAudit}); err != nil {
		return nil, err
	}
	return s.st.AuditEvents(from, limit)
}

// VerifyAudit recomputes the audit chain of the local replica (admin).
func (s *Service) VerifyAudit(ctx context.Context, actor model.Actor) (int, error) {
	if err := s.check(ctx, actor, model.ActAuditRead, model.Object{Kind: model.KindAudit}); err != nil {
		return 0, err
	}
	return s.st.VerifyAudit(ctx)
}

// LoginBannerSetting is the setting shown on the login page.
const LoginBannerSetting = "login.banner"

// LoginBanner returns the login banner (shown before anyone logs in), or "".
func (s *Service) LoginBanner(ctx context.Context) string {
	b, err := s.st.GetSetting(LoginBannerSetting)
	if err != nil {
		return ""
	}
	return b.Value
}

// Housekeep runs the periodic state changes: expired sessions are deleted,
// projects past their expiry are suspended (their workstations stopped) and
// the projects' schedules are enforced (nightly shutdown, idle stop). The
// daemon calls it on a timer (on the leader is enough; on every node is
// harmless: a pass with nothing to do changes nothing but the applied index).
func (s *Service) Housekeep(ctx context.Context) error {
	_, err1 := s.ExpireSessions(ctx)
	_, err2 := s.ExpireProjects(ctx)
	_, err3 := s.EnforceSchedules(ctx)
	return errors.Join(err1, err2, err3)
}
