package browser

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
	"github.com/sded/sded/ui"
)

var _ ui.Service = (*cluster.Service)(nil)

// startCluster bootstraps a one-node cluster (raft, bbolt, FSM) in a
// temporary directory and returns its Service and node ID.
func startCluster(t testing.TB) (*cluster.Service, string) {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := state.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := cluster.Open(ctx, cluster.Config{DataDir: dir, NodeID: "n1", BindAddr: addr, Logger: logger, Store: st, FSM: fsm.New(st, logger, nil)})
	if err != nil {
		st.Close()
		t.Fatalf("opening the cluster node: %v", err)
	}
	t.Cleanup(func() { n.Close(); st.Close() })
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	svc := cluster.NewService(n, st, cluster.ServiceConfig{NodeID: n.ID(), Logger: logger,
		Argon2:   auth.Argon2Params{MemoryKiB: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Flavours: map[string]cluster.Flavour{"small": {VCPU: 1, MemoryMiB: 512, DiskGiB: 1}}})
	return svc, n.ID()
}

// TestRealStackDesktop runs the browser journey against the real cluster
// Service (raft, FSM, bbolt, argon2id, TOTP, policy, audit chain); the test
// plays the reconciler by reporting the new workstation running, and the
// console is QEMU's VNC socket.
func TestRealStackDesktop(t *testing.T) {
	if cluster.BreakGlassSetting != "desktop.break_glass" {
		t.Errorf("cluster.BreakGlassSetting is %q; ui/settings.go names desktop.break_glass", cluster.BreakGlassSetting)
	}
	sock := startVNC(t)
	svc, node := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sys := model.Actor{NodeID: node}
	admin, err := svc.CreateUser(ctx, sys, model.CreateUser{Username: "admin", DisplayName: "Ada Admin", Admin: true}, "admin password long")
	if err != nil {
		t.Fatalf("creating the first admin: %v", err)
	}
	adminActor := model.Actor{UserID: admin.ID}
	alice, err := svc.CreateUser(ctx, adminActor, model.CreateUser{Username: "alice", DisplayName: "Alice Researcher"}, "correct horse battery")
	if err != nil {
		t.Fatalf("creating alice: %v", err)
	}
	if _, err := svc.RegisterImage(ctx, adminActor, model.Image{Name: "Debian 12 desktop", Format: model.FormatQCOW2,
		SHA256: strings.Repeat("ab", 32), Size: 3 << 30, Path: "/var/lib/sded/images/debian.qcow2"}); err != nil {
		t.Fatalf("registering an image: %v", err)
	}
	now := time.Now().UTC()
	p, err := svc.CreateProject(ctx, adminActor, model.CreateProject{Name: "Diabetes study", Slug: "diabetes", ApprovalRef: "DAC-2026-001",
		DSARef: "DSA-17", StartsAt: now.AddDate(0, -1, 0), ExpiresAt: now.AddDate(1, 0, 0), Tier: 3,
		Quota: model.Quota{VCPU: 8, MemoryMiB: 16384, DiskGiB: 100, Workstations: 4}, Owners: []string{alice.ID}})
	if err != nil {
		t.Fatalf("creating the project: %v", err)
	}
	base := startServer(t, svc, unixDialer(sock))
	desktopFlow(t, flow{
		base: base, username: "alice", password: "correct horse battery", projectID: p.ID, slug: "diabetes",
		shot: "desktop-real-stack.png",
		created: func(path string) {
			id := path[strings.LastIndex(path, "/")+1:]
			go func() {
				time.Sleep(2 * time.Second) // provisioning, as the reconciler would report it
				if err := svc.ReportWorkstation(context.Background(), id, model.ObservedRunning, ""); err != nil {
					t.Errorf("reporting the workstation running: %v", err)
				}
			}()
		},
		audit: func(action string) []model.AuditEvent {
			es, err := svc.ListAudit(context.Background(), adminActor, cluster.AuditFilter{Action: action})
			if err != nil {
				t.Errorf("reading the audit log: %v", err)
			}
			return es
		},
	})
	// The login steps were audited by the service too.
	if es, _ := svc.ListAudit(ctx, adminActor, cluster.AuditFilter{ActorID: alice.ID}); len(es) == 0 {
		t.Error("no audit events for alice")
	}
}
