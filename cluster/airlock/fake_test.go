package airlock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// fakeState is an in-memory stand-in for the Service: one project, requests
// in a map, the transition table enforced, audit events collected. Policy is
// simplified to "members may act; the requester may not vote".
type fakeState struct {
	mu       sync.Mutex
	reqs     map[string]model.AirlockRequest
	members  map[string]bool
	tier     int
	audits   []model.RecordAudit
	n        int
	denyEdit bool
}

func newFakeState(members ...string) *fakeState {
	f := &fakeState{reqs: map[string]model.AirlockRequest{}, members: map[string]bool{}}
	for _, m := range members {
		f.members[m] = true
	}
	return f
}

func (f *fakeState) get(actor model.Actor, id string) (model.AirlockRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reqs[id]
	if !ok {
		return r, model.Errorf(model.CodeNotFound, "airlock request %s not found", id)
	}
	if actor.UserID != "" && !f.members[actor.UserID] {
		return r, model.Errorf(model.CodeForbidden, "not a member")
	}
	return r, nil
}

func (f *fakeState) Airlock(ctx context.Context, actor model.Actor, id string) (model.AirlockRequest, error) {
	return f.get(actor, id)
}
func (f *fakeState) AirlockRequests(ctx context.Context, actor model.Actor, projectID string) ([]model.AirlockRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []model.AirlockRequest
	for _, r := range f.reqs {
		out = append(out, r)
	}
	return out, nil
}
func (f *fakeState) AirlockObject(ctx context.Context, id string) (model.Object, error) {
	r, err := f.get(model.Actor{}, id)
	return model.Object{Kind: model.KindAirlock, ID: id, ProjectID: r.ProjectID, ProjectState: model.ProjectActive, OwnerID: r.CreatedBy}, err
}
func (f *fakeState) GetProject(ctx context.Context, actor model.Actor, id string) (model.Project, error) {
	return model.Project{ID: id, Tier: f.tier}, nil
}
func (f *fakeState) Authorize(ctx context.Context, actor model.Actor, a model.Action, o model.Object) error {
	if !f.members[actor.UserID] || (a == model.ActAirlockEdit && f.denyEdit) {
		f.mu.Lock()
		f.audits = append(f.audits, model.RecordAudit{Action: "access.denied", Outcome: model.OutcomeDenied})
		f.mu.Unlock()
		return model.Errorf(model.CodeForbidden, "denied")
	}
	return nil
}
func (f *fakeState) RecordAudit(ctx context.Context, actor model.Actor, ev model.RecordAudit) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audits = append(f.audits, ev)
	return nil
}
func (f *fakeState) RecordSystemAudit(ctx context.Context, ev model.RecordAudit) error {
	return f.RecordAudit(ctx, model.Actor{}, ev)
}
func (f *fakeState) AirlockRequest(ctx context.Context, id string) (model.AirlockRequest, error) {
	return f.get(model.Actor{}, id)
}
func (f *fakeState) ProjectAirlockRequests(ctx context.Context, projectID string) ([]model.AirlockRequest, error) {
	return f.AirlockRequests(ctx, model.Actor{}, projectID)
}

func (f *fakeState) update(id string, fn func(r *model.AirlockRequest) error) (model.AirlockRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reqs[id]
	if !ok {
		return r, model.Errorf(model.CodeNotFound, "airlock request %s not found", id)
	}
	r.Files = append([]model.AirlockFile(nil), r.Files...)
	if err := fn(&r); err != nil {
		return r, err
	}
	f.reqs[id] = r
	return r, nil
}

func move(r *model.AirlockRequest, to model.AirlockState, by string, reason ...string) error {
	if !model.CanTransition(r.State, to) {
		return model.Errorf(model.CodeConflict, "airlock request cannot go from %s to %s", r.State, to)
	}
	r.History = append(r.History, model.AirlockTransition{From: r.State, To: to, By: by, Reason: strings.Join(reason, "")})
	r.State = to
	return nil
}

func (f *fakeState) CreateAirlock(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	r := model.AirlockRequest{ID: fmt.Sprintf("r%d", f.n), ProjectID: p.ProjectID, Direction: p.Direction, CreatedBy: actor.UserID,
		Title: p.Title, Context: p.Context, State: model.AirlockDraft, RequiredApprovals: 2}
	f.reqs[r.ID] = r
	return r, nil
}
func (f *fakeState) AddAirlockFile(ctx context.Context, actor model.Actor, p model.AddAirlockFile) (model.AirlockRequest, error) {
	if err := p.Validate(); err != nil {
		return model.AirlockRequest{}, err
	}
	return f.update(p.RequestID, func(r *model.AirlockRequest) error {
		if r.State != model.AirlockDraft && r.State != model.AirlockReturned {
			return model.Errorf(model.CodeConflict, "not editable")
		}
		for i := range r.Files {
			if r.Files[i].Name == p.Name {
				r.Files[i] = model.AirlockFile{Name: p.Name, Size: p.Size, SHA256: p.SHA256}
				return nil
			}
		}
		r.Files = append(r.Files, model.AirlockFile{Name: p.Name, Size: p.Size, SHA256: p.SHA256})
		return nil
	})
}
func (f *fakeState) SubmitAirlock(ctx context.Context, actor model.Actor, p model.SubmitAirlock) (model.AirlockRequest, error) {
	if err := p.Validate(); err != nil {
		return model.AirlockRequest{}, err
	}
	return f.update(p.RequestID, func(r *model.AirlockRequest) error {
		blocked := false
		for i := range r.Files {
			res, ok := p.Results[r.Files[i].Name]
			if !ok {
				res = model.DisclosureReview
			}
			r.Files[i].Disclosure = res
			blocked = blocked || res == model.DisclosureBlocked
		}
		r.DisclosureRecord, r.Votes, r.DisclosureControls = p.Record, nil, p.DisclosureControls
		if err := move(r, model.AirlockSubmitted, actor.UserID); err != nil {
			return err
		}
		if blocked {
			return move(r, model.AirlockBlocked, "system")
		}
		return nil
	})
}
func (f *fakeState) VoteAirlock(ctx context.Context, actor model.Actor, p model.VoteAirlock) (model.AirlockRequest, error) {
	return f.update(p.RequestID, func(r *model.AirlockRequest) error {
		if r.CreatedBy == actor.UserID {
			return model.Errorf(model.CodeForbidden, "no one may review their own request")
		}
		if r.State == model.AirlockSubmitted {
			if err := move(r, model.AirlockInReview, actor.UserID); err != nil {
				return err
			}
		}
		if r.State != model.AirlockInReview {
			return model.Errorf(model.CodeConflict, "not in review")
		}
		r.Votes = append(r.Votes, model.AirlockVote{Reviewer: actor.UserID, File: p.File, Decision: p.Decision})
		if r.AllApproved() {
			return move(r, model.AirlockApproved, actor.UserID)
		}
		return nil
	})
}
func (f *fakeState) CommentAirlock(ctx context.Context, actor model.Actor, p model.CommentAirlock) (model.AirlockRequest, error) {
	return f.update(p.RequestID, func(r *model.AirlockRequest) error {
		r.Comments = append(r.Comments, model.AirlockComment{Author: actor.UserID, Text: p.Text})
		return nil
	})
}
func (f *fakeState) TransitionAirlock(ctx context.Context, actor model.Actor, p model.TransitionAirlock) (model.AirlockRequest, error) {
	return f.update(p.RequestID, func(r *model.AirlockRequest) error { return move(r, p.To, actor.UserID, p.Reason) })
}
func (f *fakeState) TransitionAirlockAsSystem(ctx context.Context, p model.TransitionAirlock) (model.AirlockRequest, error) {
	return f.update(p.RequestID, func(r *model.AirlockRequest) error { return move(r, p.To, "system", p.Reason) })
}

// memStore is an in-memory FileStore.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
	n     int
	max   int64
	// PutErr, if set, refuses every Put.
	PutErr error
}

func newMemStore() *memStore { return &memStore{files: map[string][]byte{}, max: 1 << 20} }

func (s *memStore) CheckName(name string) error {
	if name == "bad.exe" {
		return model.FieldError("file", "extension .exe is not allowed")
	}
	return nil
}
func (s *memStore) Put(ctx context.Context, project string, key []byte, name string, r io.Reader) (StoredFile, error) {
	if s.PutErr != nil {
		return StoredFile{}, s.PutErr
	}
	b, err := io.ReadAll(io.LimitReader(r, s.max+1))
	if err != nil {
		return StoredFile{}, err
	}
	if int64(len(b)) > s.max {
		return StoredFile{}, model.Errorf(model.CodeTooLarge, "file too large")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	id := fmt.Sprintf("f%d", s.n)
	s.files[project+"/"+id] = b
	h := sha256.Sum256(b)
	return StoredFile{ID: id, Name: name, Size: int64(len(b)), SHA256: hex.EncodeToString(h[:])}, nil
}
func (s *memStore) Open(ctx context.Context, project string, key []byte, id string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[project+"/"+id]
	if !ok {
		return nil, fmt.Errorf("staged file not found")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
func (s *memStore) Delete(ctx context.Context, project, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, project+"/"+id)
	return nil
}
func (s *memStore) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.files) }

type fakeKeys struct{}

func (fakeKeys) AirlockKeys(ctx context.Context, project string) ([]byte, []byte, error) {
	return bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), nil
}

// checkerFunc, pseudoFunc and volumesFunc are function-field fakes.
type checkerFunc func(ctx context.Context, requestID string, tier int, files []CheckInput, max int) (CheckResult, error)

func (f checkerFunc) Check(ctx context.Context, requestID string, tier int, files []CheckInput, max int) (CheckResult, error) {
	return f(ctx, requestID, tier, files, max)
}

type pseudoFunc func(ctx context.Context, key []byte, r io.Reader, w io.Writer, columns []string) error

func (f pseudoFunc) Pseudonymise(ctx context.Context, key []byte, r io.Reader, w io.Writer, columns []string) error {
	return f(ctx, key, r, w, columns)
}

type volumesFunc func(ctx context.Context, project string, files []DataFile) error

func (f volumesFunc) BuildDataVolume(ctx context.Context, project string, files []DataFile) error {
	return f(ctx, project, files)
}

// statusByName is a checker that gives each file the status named in the
// map (by file name), "review" otherwise, and a tiny record.
func statusByName(m map[string]string) checkerFunc {
	return func(ctx context.Context, requestID string, tier int, files []CheckInput, max int) (CheckResult, error) {
		res := CheckResult{Status: map[string]string{}, Errors: map[string]string{}, Record: []byte(`{"version":1,"files":[]}`)}
		for _, f := range files {
			rc, err := f.Open(ctx)
			if err != nil {
				return res, err
			}
			io.Copy(io.Discard, rc)
			rc.Close()
			st, ok := m[f.Name]
			if !ok {
				st = StatusReview
			}
			res.Status[f.Name] = st
			if st == StatusError {
				res.Errors[f.Name] = "unterminated quote"
			}
		}
		return res, nil
	}
}

type rig struct {
	st    *fakeState
	files *memStore
	e     *Engine
	now   time.Time
	built [][]DataFile
	vErr  error
}

func newRig(t *testing.T, checker Checker) *rig {
	t.Helper()
	g := &rig{st: newFakeState("ann", "olly", "otto", "dora"), files: newMemStore(), now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	if checker == nil {
		checker = statusByName(nil)
	}
	var err error
	g.e, err = New(Config{Requests: g.st, Commands: g.st, System: g.st, Files: g.files, Keys: fakeKeys{}, Checker: checker,
		Pseudonym: pseudoFunc(func(ctx context.Context, key []byte, r io.Reader, w io.Writer, columns []string) error {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if !bytes.HasPrefix(b, []byte(columns[0]+",")) {
				return model.FieldError("pseudonymise", "no column %q", columns[0])
			}
			_, err = w.Write(bytes.ReplaceAll(b, []byte("9434765919"), []byte("PSEUDO")))
			return err
		}),
		Volumes: volumesFunc(func(ctx context.Context, project string, files []DataFile) error {
			g.built = append(g.built, files)
			return g.vErr
		}),
		Dir: t.TempDir(), LinkKey: bytes.Repeat([]byte{7}, 32), LinkTTL: time.Minute, Clock: func() time.Time { return g.now }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
