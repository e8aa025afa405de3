package airlocktest

import (
	"context"
	"crypto/rand"
	"github.com/sded/sded/cmd/sded/wire"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/storage/disclosure"
	"github.com/sded/sded/storage/staged"
)

// clock is a settable clock shared by the Service and the engine.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a real single-node cluster (raft, bbolt, FSM), the real Service,
// the real staged store, disclosure checker, pseudonymiser and volumes, and
// the airlock engine over them.
type env struct {
	t      testing.TB
	node   *cluster.Node
	st     *state.Store
	svc    *cluster.Service
	clock  *clock
	system model.Actor
	admin  model.Actor
	store  *staged.Store
	keys   *keysAdapter
	vols   *storage.Volumes
	eng    *airlock.Engine
	image  model.Image
	dir    string
	// maxFile is the staged store's per-file limit.
	maxFile int64
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SDED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEnv(t testing.TB, opts ...func(*airlock.Config)) *env {
	t.Helper()
	return newEnvLimit(t, 1<<20, opts...)
}

// newBenchEnv is an env whose staged store takes files up to 1 GiB.
func newBenchEnv(t testing.TB) *env { return newEnvLimit(t, 1<<30) }

// newEnvLimit is newEnv with the staged store's per-file limit.
func newEnvLimit(t testing.TB, maxFile int64, opts ...func(*airlock.Config)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := testLogger(t)
	node, err := cluster.Open(ctx, cluster.Config{DataDir: filepath.Join(dir, "node"), NodeID: "n1", BindAddr: freeAddr(t),
		FSM: fsm.New(st, log, nil), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	svc := cluster.NewService(node, st, cluster.ServiceConfig{NodeID: node.ID(), Clock: c.Now, AirlockApprovals: 2,
		Argon2:   auth.Argon2Params{MemoryKiB: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Flavours: map[string]cluster.Flavour{"small": {VCPU: 1, MemoryMiB: 512, DiskGiB: 4}}, Logger: log})
	e := &env{t: t, node: node, st: st, svc: svc, clock: c, system: model.Actor{NodeID: node.ID()}, dir: dir, maxFile: maxFile}
	root, err := svc.CreateUser(ctx, e.system, model.CreateUser{Username: "root", DisplayName: "Root", Admin: true}, "root password 123")
	if err != nil {
		t.Fatal(err)
	}
	e.admin = model.Actor{UserID: root.ID}
	e.store, err = staged.New(staged.Config{Root: filepath.Join(dir, "staged"), MaxFileBytes: e.maxFile,
		Archive: staged.ArchiveLimits{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.keys = &keysAdapter{}
	e.vols, err = storage.NewVolumes(storage.VolumesConfig{Root: filepath.Join(dir, "vol"), ScratchDir: t.TempDir(), AllowDiskScratch: true, IterTimeMS: 10, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	cfg := airlock.Config{Requests: svc, Commands: svc, System: e.sys(), Files: wire.Staged{S: e.store}, Keys: e.keys,
		Checker: wire.Checker{Tiers: disclosure.DefaultTiers()}, Pseudonym: wire.Pseudonymiser{}, Volumes: wire.DataVolumes{V: e.vols, DEK: e.keys.dek},
		Dir: filepath.Join(dir, "airlock"), LinkKey: key, LinkTTL: 10 * time.Minute, Clock: c.Now, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	e.eng, err = airlock.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.image, err = svc.RegisterImage(ctx, e.admin, model.Image{Name: "debian", Format: model.FormatQCOW2, SHA256: strings.Repeat("b", 64), Size: 1, Path: "/var/lib/sded/images/d.qcow2"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) user(name string) model.Actor {
	e.t.Helper()
	u, err := e.svc.CreateUser(context.Background(), e.admin, model.CreateUser{Username: name, DisplayName: name}, name+" password 123")
	if err != nil {
		e.t.Fatal(err)
	}
	return model.Actor{UserID: u.ID}
}

// project creates a project with the given members.
func (e *env) project(slug string, members map[model.MemberRole][]model.Actor) model.Project {
	e.t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	p, err := e.svc.CreateProject(ctx, e.admin, model.CreateProject{Name: "Study " + slug, Slug: slug, ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: now.Add(-time.Hour), ExpiresAt: now.Add(90 * 24 * time.Hour), Tier: 2, Quota: model.Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 100, Workstations: 4}})
	if err != nil {
		e.t.Fatal(err)
	}
	for role, users := range members {
		for _, u := range users {
			if err := e.svc.AddMember(ctx, e.admin, model.AddMember{ProjectID: p.ID, UserID: u.UserID, Role: role}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return p
}

func (e *env) workstation(p model.Project, owner model.Actor, name string) model.Workstation {
	e.t.Helper()
	w, err := e.svc.CreateWorkstation(context.Background(), owner, model.CreateWorkstation{ProjectID: p.ID, Name: name, ImageID: e.image.ID, Flavour: "small"})
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// audit returns the audit events with the action.
func (e *env) audit(action string) []model.AuditEvent {
	e.t.Helper()
	evs, err := e.st.AuditEvents(0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []model.AuditEvent
	for _, ev := range evs {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

// stagedFiles counts the files in a project's staged directory.
func (e *env) stagedFiles(project string) int {
	ents, err := os.ReadDir(filepath.Join(e.dir, "staged", project))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return len(ents)
}

func wantCode(t *testing.T, err error, code model.ErrorCode) {
	t.Helper()
	if model.CodeOf(err) != code {
		t.Fatalf("error %v (code %s), want code %s", err, model.CodeOf(err), code)
	}
}

func (e *env) sys() systemAdapter { return systemAdapter{node: e.node, st: e.st, clock: e.clock.Now} }
