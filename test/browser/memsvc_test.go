package browser

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui"
)

// memService is an in-memory ui.Service with the real rules that matter to
// the browser test: passwords, TOTP (RFC 6238, replay refused), MFA-pending
// sessions replaced at each step, the policy (model.Can), quotas, and a
// simulated reconciler that brings a new workstation to running after a
// short provisioning delay. It stands in until cluster.Service is wired.
type memService struct {
	mu        sync.Mutex
	users     map[string]*memUser // by ID
	sessions  map[string]*model.Session
	projects  map[string]model.Project
	members   map[string]map[string]model.MemberRole // project → user → role
	ws        map[string]model.Workstation
	images    []model.Image
	audit     []model.AuditEvent
	provision time.Duration
	nextID    int
}

type memUser struct {
	model.User
	password string
	pending  string // unconfirmed TOTP secret
	lastStep uint64
}

func newMemService(provision time.Duration) *memService {
	return &memService{
		users: map[string]*memUser{}, sessions: map[string]*model.Session{}, projects: map[string]model.Project{},
		members: map[string]map[string]model.MemberRole{}, ws: map[string]model.Workstation{}, provision: provision,
		images: []model.Image{{ID: "img1", Name: "Debian 12 desktop", Format: model.FormatQCOW2, Size: 3 << 30, CreatedAt: time.Now()}},
	}
}

func (m *memService) id(prefix string) string {
	m.nextID++
	return fmt.Sprintf("%s%d", prefix, m.nextID)
}

func (m *memService) record(a model.Actor, action, object, project string, out model.Outcome, details map[string]string) {
	m.audit = append(m.audit, model.AuditEvent{Seq: uint64(len(m.audit) + 1), Time: time.Now(), Actor: a, Action: action,
		Object: object, ProjectID: project, Outcome: out, Details: details})
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// totpCode is RFC 6238 with SHA-1, 30-second steps and six digits.
func totpCode(secret string, step uint64) string {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return ""
	}
	mac := hmac.New(sha1.New, key)
	binary.Write(mac, binary.BigEndian, step)
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0xf
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1000000)
}

func stepAt(t time.Time) uint64 { return uint64(t.Unix() / 30) }

// checkCode accepts the code of the current step or one either side, above
// the last step used.
func checkCode(secret, code string, last uint64) (uint64, bool) {
	now := stepAt(time.Now())
	for _, s := range []uint64{now - 1, now, now + 1} {
		if s > last && subtle.ConstantTimeCompare([]byte(totpCode(secret, s)), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

func (m *memService) addUser(username, name, password string, admin bool) *memUser {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := &memUser{User: model.User{ID: m.id("u"), Username: username, DisplayName: name, Admin: admin}, password: password}
	m.users[u.ID] = u
	return u
}

func (m *memService) principal(a model.Actor) model.Principal {
	p := model.Principal{UserID: a.UserID, Roles: map[string]model.MemberRole{}}
	if u := m.users[a.UserID]; u != nil {
		p.Admin = u.Admin
	}
	for pid, ms := range m.members {
		if r, ok := ms[a.UserID]; ok {
			p.Roles[pid] = r
		}
	}
	return p
}

func (m *memService) can(a model.Actor, act model.Action, o model.Object) error {
	err := model.Can(m.principal(a), act, o)
	if err != nil {
		m.record(a, string(act), o.String(), o.ProjectID, model.OutcomeDenied, map[string]string{"reason": err.Error()})
	}
	return err
}

func (m *memService) Login(_ context.Context, username, password, remote string) (string, model.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Username == username && !u.Disabled && subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) == 1 {
			tok := randomToken()
			m.sessions[tok] = &model.Session{UserID: u.ID, MFAPending: true, CreatedAt: time.Now(), LastSeenAt: time.Now()}
			return tok, u.Redacted(), nil
		}
	}
	m.record(model.Actor{NodeID: "n1"}, "login.failure", "", "", model.OutcomeFailure, map[string]string{"username": username})
	return "", model.User{}, model.ErrUnauthenticated
}

func (m *memService) Authenticate(_ context.Context, token string) (model.Session, model.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[token]
	if s == nil {
		return model.Session{}, model.User{}, model.ErrUnauthenticated
	}
	s.LastSeenAt = time.Now()
	return *s, m.users[s.UserID].Redacted(), nil
}

func (m *memService) BeginTOTP(_ context.Context, token string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[token]
	if s == nil || !s.MFAPending {
		return "", "", model.ErrUnauthenticated
	}
	u := m.users[s.UserID]
	b := make([]byte, 20)
	rand.Read(b)
	u.pending = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	return u.pending, "otpauth://totp/sded:" + u.Username + "?secret=" + u.pending + "&issuer=sded", nil
}

// replace swaps an MFA-pending session for a full one with a new token.
func (m *memService) replace(old string, s *model.Session) string {
	delete(m.sessions, old)
	tok := randomToken()
	m.sessions[tok] = &model.Session{UserID: s.UserID, CreatedAt: time.Now(), LastSeenAt: time.Now()}
	m.record(model.Actor{UserID: s.UserID}, "login.success", "user/"+s.UserID, "", model.OutcomeSuccess, nil)
	return tok
}

func (m *memService) ConfirmTOTP(_ context.Context, token, code, _ string) (string, []string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[token]
	if s == nil || !s.MFAPending {
		return "", nil, model.ErrUnauthenticated
	}
	u := m.users[s.UserID]
	step, ok := checkCode(u.pending, code, u.lastStep)
	if !ok {
		return "", nil, model.FieldError("code", "is not valid")
	}
	u.TOTPSecret, u.TOTPEnrolled, u.lastStep, u.pending = u.pending, true, step, ""
	return m.replace(token, s), []string{"rc01-aaaa", "rc02-bbbb", "rc03-cccc"}, nil
}

func (m *memService) VerifyTOTP(_ context.Context, token, code, _ string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[token]
	if s == nil || !s.MFAPending {
		return "", model.ErrUnauthenticated
	}
	u := m.users[s.UserID]
	step, ok := checkCode(u.TOTPSecret, code, u.lastStep)
	if !ok {
		m.record(model.Actor{UserID: u.ID}, "login.failure", "user/"+u.ID, "", model.OutcomeFailure, map[string]string{"reason": "bad code"})
		return "", model.FieldError("code", "is not valid")
	}
	u.lastStep = step
	return m.replace(token, s), nil
}

func (m *memService) Logout(_ context.Context, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[token]; s != nil {
		m.record(model.Actor{UserID: s.UserID}, "session.delete", "", "", model.OutcomeSuccess, map[string]string{"reason": "logout"})
	}
	delete(m.sessions, token)
	return nil
}

func (m *memService) AuthenticateAPIToken(context.Context, string) (model.APIToken, model.User, error) {
	return model.APIToken{}, model.User{}, model.ErrUnauthenticated
}

func (m *memService) CreateAPIToken(context.Context, model.Actor, string, []model.Action, time.Time) (string, model.APIToken, error) {
	return "", model.APIToken{}, model.Errorf(model.CodeUnavailable, "tokens are not kept by the in-memory service")
}

func (m *memService) ListAPITokens(context.Context, model.Actor) ([]model.APIToken, error) {
	return nil, nil
}

func (m *memService) DeleteAPIToken(context.Context, model.Actor, string) error {
	return model.ErrNotFound
}

func (m *memService) addProject(slug string, tier int, owner string) model.Project {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := model.Project{ID: m.id("p"), Name: strings.ToUpper(slug[:1]) + slug[1:] + " study", Slug: slug, ApprovalRef: "DAC-2026-001",
		DSARef: "DSA-17", StartsAt: time.Now().AddDate(0, -1, 0), ExpiresAt: time.Now().AddDate(1, 0, 0), Tier: tier,
		Quota: model.Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 100, Workstations: 4}, State: model.ProjectActive, Subnet: "10.64.1.0/24"}
	m.projects[p.ID] = p
	m.members[p.ID] = map[string]model.MemberRole{owner: model.RoleOwner}
	return p
}

func (m *memService) ListProjects(_ context.Context, a model.Actor) ([]model.Project, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Project
	for _, p := range m.projects {
		if model.Can(m.principal(a), model.ActProjectRead, model.Object{Kind: model.KindProject, ID: p.ID, ProjectID: p.ID, ProjectState: model.ProjectActive}) == nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(x, y model.Project) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

func (m *memService) GetProject(_ context.Context, a model.Actor, id string) (model.Project, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.projects[id]
	if !ok {
		return model.Project{}, model.ErrNotFound
	}
	return p, m.can(a, model.ActProjectRead, model.Object{Kind: model.KindProject, ID: id, ProjectID: id, ProjectState: model.ProjectActive})
}

func (m *memService) CreateProject(context.Context, model.Actor, model.CreateProject) (model.Project, error) {
	return model.Project{}, model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

func (m *memService) SuspendProject(context.Context, model.Actor, string, string) error {
	return model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

func (m *memService) ResumeProject(context.Context, model.Actor, string) error {
	return model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

func (m *memService) ListMembers(_ context.Context, a model.Actor, pid string) ([]model.Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.can(a, model.ActMemberRead, model.Object{Kind: model.KindMember, ProjectID: pid, ProjectState: m.projects[pid].State}); err != nil {
		return nil, err
	}
	var out []model.Member
	for u, r := range m.members[pid] {
		out = append(out, model.Member{ProjectID: pid, UserID: u, Role: r})
	}
	return out, nil
}

func (m *memService) AddMember(context.Context, model.Actor, model.AddMember) error {
	return model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

func (m *memService) RemoveMember(context.Context, model.Actor, string, string) error {
	return model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

// observe is the simulated reconciler's view of a workstation.
func (m *memService) observe(w model.Workstation) model.Workstation {
	if w.Desired == model.DesiredRunning && time.Since(w.CreatedAt) >= m.provision {
		w.Status = model.Observed{State: model.ObservedRunning, ObservedAt: time.Now(), Node: "n1"}
	}
	return w
}

func (m *memService) wsObject(w model.Workstation) model.Object {
	return model.Object{Kind: model.KindWorkstation, ID: w.ID, ProjectID: w.ProjectID, ProjectState: m.projects[w.ProjectID].State, OwnerID: w.OwnerID}
}

func (m *memService) ListWorkstations(_ context.Context, a model.Actor, pid string) ([]model.Workstation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Workstation
	for _, w := range m.ws {
		if w.ProjectID == pid && model.Can(m.principal(a), model.ActWorkstationRead, m.wsObject(w)) == nil {
			out = append(out, m.observe(w))
		}
	}
	return out, nil
}

func (m *memService) GetWorkstation(_ context.Context, a model.Actor, id string) (model.Workstation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.ws[id]
	if !ok {
		return model.Workstation{}, model.ErrNotFound
	}
	if err := m.can(a, model.ActWorkstationRead, m.wsObject(w)); err != nil {
		return model.Workstation{}, err
	}
	return m.observe(w), nil
}

func (m *memService) CreateWorkstation(_ context.Context, a model.Actor, c model.CreateWorkstation) (model.Workstation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.projects[c.ProjectID]
	if !ok {
		return model.Workstation{}, model.ErrNotFound
	}
	if err := m.can(a, model.ActWorkstationCreate, model.Object{Kind: model.KindWorkstation, ProjectID: p.ID, ProjectState: p.State, OwnerID: a.UserID}); err != nil {
		return model.Workstation{}, err
	}
	c.ID, c.VCPU, c.MemoryMiB, c.DiskGiB = m.id("w"), 2, 4096, 20
	if err := c.Validate(); err != nil {
		return model.Workstation{}, err
	}
	w := model.Workstation{ID: c.ID, ProjectID: p.ID, OwnerID: a.UserID, Name: c.Name, ImageID: c.ImageID, Flavour: c.Flavour,
		VCPU: c.VCPU, MemoryMiB: c.MemoryMiB, DiskGiB: c.DiskGiB, Desired: model.DesiredRunning, CreatedAt: time.Now(),
		Status: model.Observed{State: model.ObservedPending}}
	m.ws[w.ID] = w
	m.record(a, "workstation.create", "workstation/"+w.ID, p.ID, model.OutcomeSuccess, nil)
	return w, nil
}

func (m *memService) SetWorkstationRun(_ context.Context, a model.Actor, id string, d model.DesiredState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.ws[id]
	if !ok {
		return model.ErrNotFound
	}
	if err := m.can(a, model.ActWorkstationOperate, m.wsObject(w)); err != nil {
		return err
	}
	w.Desired = d
	m.ws[id] = w
	return nil
}

func (m *memService) DeleteWorkstation(_ context.Context, a model.Actor, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.ws[id]
	if !ok {
		return model.ErrNotFound
	}
	if err := m.can(a, model.ActWorkstationDelete, m.wsObject(w)); err != nil {
		return err
	}
	delete(m.ws, id)
	return nil
}

func (m *memService) Flavours(context.Context) []string { return []string{"small", "medium"} }

func (m *memService) ListUsers(_ context.Context, a model.Actor) ([]model.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.can(a, model.ActUserList, model.Object{Kind: model.KindPlatform}); err != nil {
		return nil, err
	}
	var out []model.User
	for _, u := range m.users {
		out = append(out, u.Redacted())
	}
	return out, nil
}

func (m *memService) CreateUser(_ context.Context, a model.Actor, c model.CreateUser, password string) (model.User, error) {
	return model.User{}, model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

func (m *memService) SetUserDisabled(context.Context, model.Actor, string, bool) error {
	return model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

func (m *memService) ListImages(context.Context, model.Actor) ([]model.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.images), nil
}

func (m *memService) ListNodes(_ context.Context, a model.Actor) ([]model.Node, error) {
	return []model.Node{{ID: "n1", Address: "127.0.0.1:7000", Voter: true}}, nil
}

func (m *memService) ListAudit(_ context.Context, a model.Actor, q ui.AuditQuery) ([]model.AuditEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.can(a, model.ActAuditRead, model.Object{Kind: model.KindAudit}); err != nil {
		return nil, err
	}
	var out []model.AuditEvent
	for i := len(m.audit) - 1; i >= 0; i-- {
		e := m.audit[i]
		if q.Action != "" && e.Action != q.Action {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (m *memService) OpenDesktop(_ context.Context, a model.Actor, id, remote string) (ui.DesktopGrant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.ws[id]
	if !ok {
		return ui.DesktopGrant{}, model.ErrNotFound
	}
	if err := m.can(a, model.ActWorkstationConnect, m.wsObject(w)); err != nil {
		return ui.DesktopGrant{}, err
	}
	p := m.projects[w.ProjectID]
	m.record(a, "desktop.open", "workstation/"+id, p.ID, model.OutcomeSuccess, map[string]string{"remote": remote})
	return ui.DesktopGrant{WorkstationID: id, ProjectID: p.ID, AllowPaste: p.Tier <= 2}, nil
}

func (m *memService) CloseDesktop(_ context.Context, a model.Actor, g ui.DesktopGrant, d time.Duration, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record(a, "desktop.close", "workstation/"+g.WorkstationID, g.ProjectID, model.OutcomeSuccess,
		map[string]string{"duration": d.Round(time.Second).String(), "reason": reason})
	return nil
}

func (m *memService) events(action string) []model.AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.AuditEvent
	for _, e := range m.audit {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func (m *memService) Setting(context.Context, model.Actor, string) (model.Setting, error) {
	return model.Setting{}, model.ErrNotFound
}

func (m *memService) PutSetting(context.Context, model.Actor, string, string) (model.Setting, error) {
	return model.Setting{}, model.Errorf(model.CodeUnavailable, "not in the in-memory service")
}

var _ ui.Service = (*memService)(nil)

// fullSession signs a user in without the browser (for benchmarks) and
// returns the raw session token.
func (m *memService) fullSession(userID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	tok := randomToken()
	m.sessions[tok] = &model.Session{UserID: userID, CreatedAt: time.Now(), LastSeenAt: time.Now()}
	return tok
}

// addWorkstation gives a user a running workstation in a project.
func (m *memService) addWorkstation(projectID, ownerID, name string) model.Workstation {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := model.Workstation{ID: m.id("w"), ProjectID: projectID, OwnerID: ownerID, Name: name, ImageID: "img1", Flavour: "small",
		VCPU: 2, MemoryMiB: 4096, DiskGiB: 20, Desired: model.DesiredRunning, CreatedAt: time.Now().Add(-time.Hour),
		Status: model.Observed{State: model.ObservedRunning}}
	m.ws[w.ID] = w
	return w
}
