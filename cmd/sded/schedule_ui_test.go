package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
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

// realService bootstraps a one-node cluster (raft, bbolt, FSM) in a
// temporary directory: the real Service, without a reconciler, so nothing
// on the host changes.
func realService(t *testing.T) (*cluster.Service, model.Actor, *state.Store) {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := state.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := cluster.Open(ctx, cluster.Config{DataDir: dir, NodeID: "n1", BindAddr: freeTCP(t), Logger: logger, Store: st, FSM: fsm.New(st, logger, nil)})
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
	return svc, model.Actor{NodeID: n.ID()}, st
}

// TestScheduleThroughRealService sets a project's schedule with the form
// and the API against the real cluster Service: the owner may, a
// researcher may not, an unknown zone is refused by the zone database,
// and each change is in the audit log.
func TestScheduleThroughRealService(t *testing.T) {
	svc, sys, _ := realService(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm, err := svc.CreateUser(ctx, sys, model.CreateUser{Username: "admin", DisplayName: "Ada Admin", Admin: true}, "admin password long")
	if err != nil {
		t.Fatal(err)
	}
	a := model.Actor{UserID: adm.ID}
	users := map[string]model.User{}
	for _, name := range []string{"olive", "rita"} {
		u, err := svc.CreateUser(ctx, a, model.CreateUser{Username: name, DisplayName: strings.ToUpper(name[:1]) + name[1:]}, name+" password long")
		if err != nil {
			t.Fatal(err)
		}
		users[name] = u
	}
	pr, err := svc.CreateProject(ctx, a, model.CreateProject{Name: "Diabetes", Slug: "diabetes", ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: time.Now().Add(-time.Hour), ExpiresAt: time.Now().AddDate(1, 0, 0), Tier: 3,
		Quota: model.Quota{VCPU: 4, MemoryMiB: 4096, DiskGiB: 10, Workstations: 2}, Owners: []string{users["olive"].ID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddMember(ctx, a, model.AddMember{ProjectID: pr.ID, UserID: users["rita"].ID, Role: model.RoleResearcher}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(ui.New(ui.Config{Version: "test"}, svc, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer ts.Close()
	client := func(user string) *http.Client {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Transport: ts.Client().Transport, Timeout: time.Minute}
		signIn(t, hc, ts.URL, user, user+" password long")
		return hc
	}
	olive, rita := client("olive"), client("rita")

	// The owner, with the form.
	resp, err := olive.PostForm(ts.URL+"/projects/"+pr.ID+"/schedule", url.Values{"schedule.nightly_shutdown": {"22:00"},
		"schedule.time_zone": {"Europe/London"}, "schedule.idle_stop_after": {"2h"}})
	if err != nil {
		t.Fatal(err)
	}
	if page := body(resp); resp.StatusCode != 200 || !strings.Contains(page, "nightly shutdown 22:00 Europe/London, idle stop after 2h") {
		t.Errorf("owner's form: %s, want the project page showing the new schedule", resp.Status)
	}
	// An unknown zone: the form comes back with the error next to it.
	resp, err = olive.PostForm(ts.URL+"/projects/"+pr.ID+"/schedule", url.Values{"schedule.nightly_shutdown": {"23:00"},
		"schedule.time_zone": {"Europe/Atlantis"}, "schedule.idle_stop_after": {""}})
	if err != nil {
		t.Fatal(err)
	}
	if page := body(resp); resp.StatusCode != 400 || !strings.Contains(page, `data-testid="error-schedule.time_zone"`) || !strings.Contains(page, `value="Europe/Atlantis"`) {
		t.Errorf("unknown zone: %s, want 400 with the error next to the zone and the value kept", resp.Status)
	}
	// A researcher sees the schedule but no form, and is refused.
	resp, _ = rita.Get(ts.URL + "/projects/" + pr.ID)
	if page := body(resp); !strings.Contains(page, "nightly shutdown 22:00") || strings.Contains(page, "schedule-form") {
		t.Errorf("researcher's page: want the schedule without the form")
	}
	resp, _ = rita.PostForm(ts.URL+"/projects/"+pr.ID+"/schedule", url.Values{"schedule.nightly_shutdown": {"01:00"}})
	if body(resp); resp.StatusCode != 403 {
		t.Errorf("researcher's form: %s, want 403", resp.Status)
	}
	// The owner, with the API: idle stop only.
	req, _ := http.NewRequest("PUT", ts.URL+"/api/v1/projects/"+pr.ID+"/schedule", strings.NewReader(`{"idle_stop_after":"90m"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = olive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got model.Project
	if err := json.Unmarshal([]byte(body(resp)), &got); resp.StatusCode != 200 || err != nil || got.Schedule != (model.Schedule{IdleStopAfter: 90 * time.Minute}) {
		t.Errorf("API: %s %+v %v", resp.Status, got.Schedule, err)
	}
	now, err := svc.GetProject(ctx, a, pr.ID)
	if err != nil || now.Schedule != (model.Schedule{IdleStopAfter: 90 * time.Minute}) {
		t.Errorf("stored schedule %+v, %v", now.Schedule, err)
	}
	evs, err := svc.ListAudit(ctx, a, model.AuditQuery{Action: model.CmdSetProjectSchedule.String(), Outcome: string(model.OutcomeSuccess)})
	if err != nil || len(evs) != 2 || evs[0].Actor.UserID != users["olive"].ID {
		t.Errorf("audit %s: %d events, %v; want 2 by olive", model.CmdSetProjectSchedule, len(evs), err)
	}
}
