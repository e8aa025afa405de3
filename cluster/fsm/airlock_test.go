package fsm

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

func exportReq(id string) model.CreateAirlock {
	return model.CreateAirlock{ID: id, ProjectID: "p1", Direction: model.AirlockExport, Title: "Table 1", Context: "for the paper", RequiredApprovals: 2}
}

func file(req, name string) model.AddAirlockFile {
	return model.AddAirlockFile{RequestID: req, Name: name, Size: 100, SHA256: sha(name)}
}

func TestAirlockExportFlow(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"))
	h.ok(model.CmdCreateWorkstation, user("cat"), ws("w2", "p1", "cat-1"))
	// Bound to the requester's own workstation.
	bad := exportReq("a0")
	bad.WorkstationID = "w2"
	h.fail(model.CodeForbidden, model.CmdCreateAirlock, user("bob"), bad)
	req := exportReq("a1")
	req.WorkstationID = "w1"
	h.ok(model.CmdCreateAirlock, user("bob"), req)
	h.fail(model.CodeForbidden, model.CmdCreateAirlock, user("olly"), exportReq("a2"))
	h.fail(model.CodeForbidden, model.CmdCreateAirlock, user("eve"), exportReq("a2"))
	h.fail(model.CodeInvalid, model.CmdSubmitAirlock, user("bob"), model.SubmitAirlock{RequestID: "a1", DisclosureControls: "rounded"})
	h.ok(model.CmdAddAirlockFile, user("bob"), file("a1", "table1.csv"))
	h.fail(model.CodeForbidden, model.CmdAddAirlockFile, user("cat"), file("a1", "evil.csv"))
	h.fail(model.CodeInvalid, model.CmdAddAirlockFile, user("bob"), file("a1", "../../etc/passwd"))
	h.fail(model.CodeInvalid, model.CmdSubmitAirlock, user("bob"), model.SubmitAirlock{RequestID: "a1"}) // no disclosure controls
	h.fail(model.CodeInvalid, model.CmdSubmitAirlock, user("bob"), model.SubmitAirlock{RequestID: "a1", DisclosureControls: "rounded", Results: map[string]model.DisclosureResult{"other.csv": model.DisclosurePass}})
	h.ok(model.CmdSubmitAirlock, user("bob"), model.SubmitAirlock{RequestID: "a1", DisclosureControls: "rounded to 5", Results: map[string]model.DisclosureResult{"table1.csv": model.DisclosureFail}, Record: json.RawMessage(`{"table1.csv":{"threshold":"fail"}}`)})
	// No edits after submit; the requester never reviews their own request.
	h.fail(model.CodeConflict, model.CmdAddAirlockFile, user("bob"), file("a1", "more.csv"))
	h.fail(model.CodeForbidden, model.CmdVoteAirlock, user("bob"), model.VoteAirlock{RequestID: "a1", File: "table1.csv", Decision: model.VoteApprove})
	h.fail(model.CodeForbidden, model.CmdVoteAirlock, user("cat"), model.VoteAirlock{RequestID: "a1", File: "table1.csv", Decision: model.VoteApprove})
	h.fail(model.CodeForbidden, model.CmdVoteAirlock, user("ann"), model.VoteAirlock{RequestID: "a1", File: "table1.csv", Decision: model.VoteApprove})
	// A checker returns it for changes (reason required).
	h.ok(model.CmdTransitionAirlock, user("olly"), model.TransitionAirlock{RequestID: "a1", To: model.AirlockInReview})
	h.fail(model.CodeInvalid, model.CmdTransitionAirlock, user("olly"), model.TransitionAirlock{RequestID: "a1", To: model.AirlockReturned})
	h.ok(model.CmdTransitionAirlock, user("olly"), model.TransitionAirlock{RequestID: "a1", To: model.AirlockReturned, Reason: "cell < 10 in row 3"})
	h.ok(model.CmdCommentAirlock, user("olly"), model.CommentAirlock{RequestID: "a1", Text: "please suppress row 3"})
	h.ok(model.CmdAddAirlockFile, user("bob"), file("a1", "table1.csv")) // replaced
	h.ok(model.CmdSubmitAirlock, user("bob"), model.SubmitAirlock{RequestID: "a1", Results: map[string]model.DisclosureResult{"table1.csv": model.DisclosurePass}})
	// Two independent approvals; the same checker twice counts once.
	var r model.AirlockRequest
	h.ok(model.CmdVoteAirlock, user("olly"), model.VoteAirlock{RequestID: "a1", File: "table1.csv", Decision: model.VoteApprove}, &r)
	h.ok(model.CmdVoteAirlock, user("olly"), model.VoteAirlock{RequestID: "a1", File: "table1.csv", Decision: model.VoteApprove}, &r)
	if r.State != model.AirlockInReview {
		t.Fatalf("one checker approved it: %s", r.State)
	}
	h.fail(model.CodeInvalid, model.CmdTransitionAirlock, user("olly"), model.TransitionAirlock{RequestID: "a1", To: model.AirlockApproved})
	h.ok(model.CmdVoteAirlock, user("otto"), model.VoteAirlock{RequestID: "a1", File: "table1.csv", Decision: model.VoteApprove}, &r)
	if r.State != model.AirlockApproved {
		t.Fatalf("two approvals left it %s", r.State)
	}
	h.fail(model.CodeConflict, model.CmdVoteAirlock, user("otto"), model.VoteAirlock{RequestID: "a1", File: "table1.csv", Decision: model.VoteReject})
	h.fail(model.CodeForbidden, model.CmdTransitionAirlock, user("bob"), model.TransitionAirlock{RequestID: "a1", To: model.AirlockReleased})
	h.ok(model.CmdTransitionAirlock, sys, model.TransitionAirlock{RequestID: "a1", To: model.AirlockReleased})
	h.fail(model.CodeConflict, model.CmdTransitionAirlock, user("bob"), model.TransitionAirlock{RequestID: "a1", To: model.AirlockWithdrawn})
	got, _ := h.st.Airlock("a1")
	var path []model.AirlockState
	for _, tr := range got.History {
		path = append(path, tr.To)
	}
	want := fmt.Sprint([]model.AirlockState{"submitted", "in_review", "returned", "submitted", "in_review", "approved", "released"})
	if fmt.Sprint(path) != want {
		t.Errorf("history %v, want %v", path, want)
	}
	if len(got.Votes) != 2 || len(got.Comments) != 1 || string(got.DisclosureRecord) != "" {
		t.Errorf("request %+v", got)
	}
}

func TestAirlockImportAndBlocked(t *testing.T) {
	h := newHarness(t)
	h.world()
	imp := model.CreateAirlock{ID: "i1", ProjectID: "p1", Direction: model.AirlockImport, Title: "cohort", RequiredApprovals: 1}
	h.fail(model.CodeForbidden, model.CmdCreateAirlock, user("bob"), imp)
	h.ok(model.CmdCreateAirlock, user("dan"), imp)
	h.ok(model.CmdAddAirlockFile, user("dan"), file("i1", "cohort.csv"))
	h.ok(model.CmdSubmitAirlock, user("dan"), model.SubmitAirlock{RequestID: "i1"})
	h.fail(model.CodeForbidden, model.CmdVoteAirlock, user("dan"), model.VoteAirlock{RequestID: "i1", File: "cohort.csv", Decision: model.VoteApprove})
	var r model.AirlockRequest
	h.ok(model.CmdVoteAirlock, user("ann"), model.VoteAirlock{RequestID: "i1", File: "cohort.csv", Decision: model.VoteApprove}, &r)
	if r.State != model.AirlockApproved {
		t.Errorf("import with one required approval is %s", r.State)
	}
	// Releasing it (and revoking it after) marks the project's data as
	// changed, for running workstations to be told to restart.
	if pr, _ := h.st.Project("p1"); !pr.DataUpdatedAt.IsZero() {
		t.Fatalf("data marked changed before any release: %v", pr.DataUpdatedAt)
	}
	h.ok(model.CmdTransitionAirlock, sys, model.TransitionAirlock{RequestID: "i1", To: model.AirlockReleased})
	released, _ := h.st.Project("p1")
	if released.DataUpdatedAt.IsZero() {
		t.Fatal("releasing an import did not mark the project's data as changed")
	}
	h.now = h.now.Add(time.Minute)
	h.ok(model.CmdTransitionAirlock, user("ann"), model.TransitionAirlock{RequestID: "i1", To: model.AirlockRevoked, Reason: "wrong cohort"})
	if revoked, _ := h.st.Project("p1"); !revoked.DataUpdatedAt.After(released.DataUpdatedAt) {
		t.Errorf("revoking a released import did not mark the data as changed: %v then %v", released.DataUpdatedAt, revoked.DataUpdatedAt)
	}
	// Admin-created import: the admin may edit it but not read exports.
	h.ok(model.CmdCreateAirlock, user("root"), model.CreateAirlock{ID: "i2", ProjectID: "p1", Direction: model.AirlockImport, Title: "x", RequiredApprovals: 1})
	h.ok(model.CmdAddAirlockFile, user("root"), file("i2", "x.csv"))
	// A blocked file blocks the request.
	h.ok(model.CmdCreateAirlock, user("bob"), exportReq("a1"))
	h.ok(model.CmdAddAirlockFile, user("bob"), file("a1", "x.exe"))
	h.ok(model.CmdSubmitAirlock, user("bob"), model.SubmitAirlock{RequestID: "a1", DisclosureControls: "n/a", Results: map[string]model.DisclosureResult{"x.exe": model.DisclosureBlocked}}, &r)
	if r.State != model.AirlockBlocked {
		t.Errorf("blocked file left request %s", r.State)
	}
	h.fail(model.CodeConflict, model.CmdSubmitAirlock, user("bob"), model.SubmitAirlock{RequestID: "a1", DisclosureControls: "n/a"})
}

// TestAirlockRandomSequences is the property test: random commands by random
// people in random order never produce an illegal transition, votes by the
// requester, or an approval without enough independent approvals.
func TestAirlockRandomSequences(t *testing.T) {
	people := []string{"bob", "cat", "ann", "olly", "otto", "dan", "eve", "root"}
	states := model.AirlockStates
	for seed := uint64(1); seed <= 12; seed++ {
		h := newHarness(t)
		h.world()
		rng := rand.New(rand.NewPCG(seed, 42))
		reqs := []string{"a1", "a2", "a3"}
		for _, id := range reqs {
			h.cmd(model.CmdCreateAirlock, user(people[rng.IntN(2)]), exportReq(id))
		}
		for step := 0; step < 120; step++ {
			id := reqs[rng.IntN(len(reqs))]
			who := user(people[rng.IntN(len(people))])
			if rng.IntN(10) == 0 {
				who = sys
			}
			switch rng.IntN(5) {
			case 0:
				h.cmd(model.CmdAddAirlockFile, who, file(id, []string{"a.csv", "b.csv"}[rng.IntN(2)]))
			case 1:
				h.cmd(model.CmdSubmitAirlock, who, model.SubmitAirlock{RequestID: id, DisclosureControls: "c"})
			case 2, 3:
				h.cmd(model.CmdVoteAirlock, who, model.VoteAirlock{RequestID: id, File: []string{"a.csv", "b.csv"}[rng.IntN(2)], Decision: []model.VoteDecision{model.VoteApprove, model.VoteReject}[rng.IntN(2)]})
			case 4:
				h.cmd(model.CmdTransitionAirlock, who, model.TransitionAirlock{RequestID: id, To: states[rng.IntN(len(states))], Reason: "r"})
			}
		}
		for _, id := range reqs {
			r, err := h.st.Airlock(id)
			if err != nil {
				t.Fatal(err)
			}
			prev := model.AirlockDraft
			for i, tr := range r.History {
				if tr.From != prev || !model.CanTransition(tr.From, tr.To) {
					t.Fatalf("seed %d %s: transition %d %s→%s after %s is illegal", seed, id, i, tr.From, tr.To, prev)
				}
				if tr.To == model.AirlockApproved && tr.By == "user:"+r.CreatedBy {
					t.Fatalf("seed %d %s: requester approved", seed, id)
				}
				prev = tr.To
			}
			if prev != r.State {
				t.Fatalf("seed %d %s: state %s but history ends at %s", seed, id, r.State, prev)
			}
			for _, v := range r.Votes {
				if v.Reviewer == r.CreatedBy {
					t.Fatalf("seed %d %s: requester voted", seed, id)
				}
				if v.Reviewer != "olly" && v.Reviewer != "otto" {
					t.Fatalf("seed %d %s: %s voted on an export", seed, id, v.Reviewer)
				}
			}
			if (r.State == model.AirlockApproved || r.State == model.AirlockReleased) && !r.AllApproved() {
				t.Fatalf("seed %d %s: %s without enough approvals", seed, id, r.State)
			}
		}
	}
}
