package cluster

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
)

// TestServiceOnRealCluster runs Service against real raft nodes (mutual TLS,
// raft-boltdb, bbolt): writes through a follower are forwarded to the
// leader, errors arrive with their codes, and reads after a write see it.
func TestServiceOnRealCluster(t *testing.T) {
	nodes := threeNodes(t)
	ctx := ctxT(t, 60*time.Second)
	var follower *testNode
	for _, n := range nodes {
		if !n.IsLeader() {
			follower = n
			break
		}
	}
	svc := NewService(follower.Node, follower.store, ServiceConfig{NodeID: follower.ID(), Argon2: testArgon,
		Flavours: map[string]Flavour{"small": {VCPU: 1, MemoryMiB: 1024, DiskGiB: 10}}})
	ann, err := svc.CreateUser(ctx, adminActor, model.CreateUser{Username: "ann", DisplayName: "Ann"}, "ann password 123")
	if err != nil {
		t.Fatal(err)
	}
	// The Barrier inside makes the duplicate visible on the follower at once.
	_, err = svc.CreateUser(ctx, adminActor, model.CreateUser{Username: "ann", DisplayName: "Ann"}, "ann password 123")
	wantCode(t, err, model.CodeAlreadyExists)
	// A forbidden write proposed through the follower: the FSM on the leader
	// refuses it and the code survives the hop.
	_, err = svc.TransitionAirlock(ctx, model.Actor{UserID: ann.ID}, model.TransitionAirlock{RequestID: "nope", To: model.AirlockReleased})
	wantCode(t, err, model.CodeNotFound)
	err = svc.propose(ctx, model.CmdPutSetting, model.Actor{UserID: ann.ID}, model.PutSetting{Key: "login.banner", Value: "x"}, nil)
	wantCode(t, err, model.CodeForbidden)

	now := time.Now()
	p, err := svc.CreateProject(ctx, adminActor, model.CreateProject{Name: "Study", Slug: "study", ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: now, ExpiresAt: now.Add(time.Hour * 24), Tier: 1, Quota: model.Quota{VCPU: 2, MemoryMiB: 4096, DiskGiB: 50, Workstations: 2}, Owners: []string{ann.ID}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := svc.RegisterImage(ctx, adminActor, model.Image{Name: "debian", Format: model.FormatQCOW2, SHA256: strings.Repeat("d", 64), Size: 1, Path: "/var/lib/sded/images/d.qcow2"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := svc.CreateWorkstation(ctx, model.Actor{UserID: ann.ID}, model.CreateWorkstation{ProjectID: p.ID, Name: "ann-1", ImageID: img.ID, Flavour: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if w.IP != "10.64.1.10" {
		t.Errorf("workstation address %s", w.IP)
	}
	// Login through the follower, enrolment included.
	res, err := svc.VerifyPassword(ctx, "ann", "ann password 123", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	enr, err := svc.BeginTOTPEnrolment(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := auth.TOTPCode(enr.Secret, auth.TOTPStep(time.Now()))
	full, err := svc.SecondFactor(ctx, res.Token, code, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.LookupSession(ctx, full.Token); err != nil {
		t.Fatal(err)
	}
	// Every replica holds the same verified audit chain.
	for _, n := range nodes {
		if err := n.Barrier(ctx); err != nil {
			t.Fatal(err)
		}
		if c, err := n.store.VerifyAudit(ctx); err != nil || c < 10 {
			t.Errorf("%s: VerifyAudit = %d, %v", n.ID(), c, err)
		}
	}
}

// TestServiceOnBatchingNode runs a real node with the batching FSM under
// concurrent writers, refusals mixed in: every write gets its own outcome
// and the audit chain verifies.
func TestServiceOnBatchingNode(t *testing.T) {
	tn := newConfig(t, "b1")
	tn.cfg.FSM = fsm.NewBatching(fsm.New(tn.store, tn.cfg.Logger, nil))
	ctx := ctxT(t, 60*time.Second)
	n, err := Open(ctx, tn.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	t.Cleanup(tn.close)
	ensureAdmin(t, n)
	svc := NewService(n, tn.store, ServiceConfig{NodeID: n.ID(), Argon2: testArgon})
	bob, err := svc.CreateUser(ctx, adminActor, model.CreateUser{Username: "bob", DisplayName: "Bob"}, "bob password 123")
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 8
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				actor := adminActor
				if i%4 == 3 {
					actor = model.Actor{UserID: bob.ID} // refused: not an admin
				}
				_, err := svc.PutSetting(ctx, actor, fmt.Sprintf("k%d", w), fmt.Sprint(i))
				if actor.UserID == bob.ID {
					if model.CodeOf(err) != model.CodeForbidden {
						errs <- fmt.Errorf("bob's write: %v", err)
					}
					continue
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := 0; w < writers; w++ {
		if s, err := tn.store.GetSetting(fmt.Sprintf("k%d", w)); err != nil || s.Value != "6" {
			t.Errorf("k%d = %+v, %v", w, s, err)
		}
	}
	if c, err := tn.store.VerifyAudit(ctx); err != nil || c < writers*each {
		t.Errorf("VerifyAudit = %d, %v", c, err)
	}
}
