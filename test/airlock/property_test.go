package airlocktest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

var (
	propSteps = flag.Int("airlock.steps", 400, "operations per property-test run")
	propSeed  = flag.Uint64("airlock.seed", 0, "seed of the property test (0: from the clock)")
)

// countingVolumes stands in for the data-volume builder in the property
// test (building real volumes is covered by the import test and costs a
// second each); it can be told to fail.
type countingVolumes struct {
	builds atomic.Int64
	fail   atomic.Bool
}

func (v *countingVolumes) BuildDataVolume(ctx context.Context, project string, files []airlock.DataFile) error {
	v.builds.Add(1)
	if v.fail.Load() {
		return fmt.Errorf("disk full (test)")
	}
	for _, f := range files { // the files must be readable
		rc, err := f.Open(ctx)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// TestPropertyRandomOperations drives the engine over the real Service with
// random operations by random people (requester, checkers, owner, data
// manager, admin, outsider) and checks after each one that the state never
// shows an illegal transition: every recorded step is in the transition
// table and the history chains to the current state; nobody ever votes on
// their own request; approved and released requests have every file
// approved by the required number of distinct reviewers; a download only
// ever succeeds for the requester of a released export; files change only
// while a request is a draft or returned.
func TestPropertyRandomOperations(t *testing.T) {
	seed := *propSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -airlock.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5ded))
	vols := &countingVolumes{}
	e := newEnv(t, func(c *airlock.Config) { c.Volumes = vols })
	ctx := context.Background()
	rita, rex, olly, otto, owen, dora, mal := e.user("rita"), e.user("rex"), e.user("olly"), e.user("otto"), e.user("owen"), e.user("dora"), e.user("mal")
	p := e.project("study", map[model.MemberRole][]model.Actor{model.RoleResearcher: {rita, rex}, model.RoleOutputChecker: {olly, otto},
		model.RoleOwner: {owen}, model.RoleDataManager: {dora}})
	e.project("other", map[model.MemberRole][]model.Actor{model.RoleResearcher: {mal}})
	people := []model.Actor{rita, rex, olly, otto, owen, dora, mal, e.admin}
	contents := []string{"region,count\nNorth,12\nSouth,3\n", "region,count\nNorth,12\nSouth,15\n", "notes\n", "region,value\nA,1\nA,2\n"}
	names := []string{"a.csv", "b.csv", "notes.txt"}
	var ids []string
	last := map[string]snapshot{} // request → state and files at the last check
	pick := func(n int) int { return rng.IntN(n) }
	ops := map[string]int{}
	for step := 0; step < *propSteps; step++ {
		actor := people[pick(len(people))]
		var id string
		if len(ids) > 0 {
			id = ids[pick(len(ids))]
		}
		// Bias the walk towards the people and names that make progress, so
		// that it reaches review, approval and release often.
		var cur model.AirlockRequest
		if id != "" {
			cur, _ = e.st.Airlock(id)
		}
		creator := model.Actor{UserID: cur.CreatedBy}
		reviewers := []model.Actor{olly, otto, owen}
		name := names[pick(len(names))]
		if len(cur.Files) > 0 && pick(10) > 0 {
			name = cur.Files[pick(len(cur.Files))].Name
		}
		var op string
		var err error
		switch k := pick(10); {
		case (k == 0 && len(ids) < 12) || len(ids) == 0:
			op = "create"
			dir := model.AirlockExport
			if pick(3) == 0 {
				dir = model.AirlockImport
			}
			if pick(4) > 0 {
				actor = map[model.AirlockDirection][]model.Actor{model.AirlockExport: {rita, rex}, model.AirlockImport: {dora, e.admin}}[dir][pick(2)]
			}
			var r model.AirlockRequest
			if r, err = e.eng.Create(ctx, actor, model.CreateAirlock{ProjectID: p.ID, Direction: dir, Title: "t", Context: "c"}); err == nil {
				ids = append(ids, r.ID)
			}
		case k <= 2:
			op = "add"
			if pick(5) > 0 {
				actor = creator
			}
			_, err = e.eng.AddFile(ctx, actor, id, names[pick(len(names))], strings.NewReader(contents[pick(len(contents))]), airlock.FileOptions{})
		case k == 3:
			op = "submit"
			if pick(5) > 0 {
				actor = creator
			}
			_, err = e.eng.Submit(ctx, actor, airlock.Submission{RequestID: id, DisclosureControls: "rounded"})
		case k <= 5:
			op = "vote"
			d := model.VoteApprove
			if pick(4) == 0 {
				d = model.VoteReject
			}
			if pick(5) > 0 {
				actor = reviewers[pick(len(reviewers))]
			}
			_, err = e.eng.Vote(ctx, actor, id, name, d)
		case k == 6:
			op = "transition"
			to := model.AirlockStates[pick(len(model.AirlockStates))]
			var legal []model.AirlockState
			for _, st := range model.AirlockStates {
				if model.CanTransition(cur.State, st) {
					legal = append(legal, st)
				}
			}
			if len(legal) > 0 && pick(4) > 0 {
				to = legal[pick(len(legal))]
			}
			if pick(2) == 0 {
				actor = reviewers[pick(len(reviewers))]
			}
			_, err = e.eng.Transition(ctx, actor, id, to, "because")
		case k == 7:
			op = "release"
			vols.fail.Store(pick(5) == 0)
			_, err = e.eng.Release(ctx, id)
		case k == 8:
			op = "download"
			var l airlock.Link
			if pick(3) > 0 {
				actor = creator
			}
			if l, err = e.eng.Link(ctx, actor, id, name); err == nil {
				var d airlock.Download
				if d, err = e.eng.Download(ctx, model.Actor{}, l.Token); err == nil {
					d.Body.Close()
					r, _ := e.st.Airlock(id)
					if r.CreatedBy != actor.UserID || r.State != model.AirlockReleased || r.Direction != model.AirlockExport {
						t.Fatalf("step %d: %s downloaded from a %s %s request of %s", step, actor, r.State, r.Direction, r.CreatedBy)
					}
				}
			}
		default:
			op = "comment"
			_, err = e.eng.Comment(ctx, actor, id, "looks fine")
		}
		if err == nil {
			ops[op+" ok"]++
		} else {
			ops[op+" refused"]++
			if model.CodeOf(err) == model.CodeInternal && !strings.Contains(err.Error(), "disk full (test)") {
				t.Fatalf("step %d: %s by %s on %s: internal error %v", step, op, actor, id, err)
			}
		}
		for _, rid := range ids {
			r, err := e.st.Airlock(rid)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, step, r, last)
		}
	}
	t.Logf("operations: %v; %d volume builds", ops, vols.builds.Load())
	for _, want := range []string{"submit ok", "vote ok", "transition ok"} {
		if ops[want] == 0 {
			t.Errorf("no %q in %d steps: the random walk does not reach the interesting states", want, *propSteps)
		}
	}
}

type snapshot struct {
	state model.AirlockState
	files map[string]string
}

func checkInvariants(t *testing.T, step int, r model.AirlockRequest, last map[string]snapshot) {
	t.Helper()
	cur := model.AirlockDraft
	for i, h := range r.History {
		if h.From != cur || !model.CanTransition(h.From, h.To) {
			t.Fatalf("step %d: request %s history step %d %s→%s (current %s) is illegal: %+v", step, r.ID, i, h.From, h.To, cur, r.History)
		}
		cur = h.To
	}
	if cur != r.State {
		t.Fatalf("step %d: request %s is %s but its history ends at %s", step, r.ID, r.State, cur)
	}
	for _, v := range r.Votes {
		if v.Reviewer == r.CreatedBy {
			t.Fatalf("step %d: requester voted on their own request %s", step, r.ID)
		}
	}
	if (r.State == model.AirlockApproved || r.State == model.AirlockReleased) && !r.AllApproved() {
		t.Fatalf("step %d: request %s is %s without every file approved: %+v", step, r.ID, r.State, r.Votes)
	}
	// One operation runs between two checks, and files can only be added
	// to an editable (draft or returned) request: from a non-editable state
	// to a non-editable state the files cannot change.
	seen := map[string]string{}
	for _, f := range r.Files {
		seen[f.Name] = f.SHA256
	}
	editable := func(s model.AirlockState) bool { return s == model.AirlockDraft || s == model.AirlockReturned }
	if prev, ok := last[r.ID]; ok && !editable(prev.state) && !editable(r.State) && !maps.Equal(prev.files, seen) {
		t.Fatalf("step %d: the files of %s request %s changed from %v to %v", step, r.State, r.ID, prev.files, seen)
	}
	last[r.ID] = snapshot{r.State, seen}
}
