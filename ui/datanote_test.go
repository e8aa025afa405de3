package ui

import (
	"context"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// The workstation page tells its researcher when the project's data changed
// after the workstation started (the guest sees the new data volume only
// after a restart), and says nothing otherwise.
func TestWorkstationDataNote(t *testing.T) {
	f, dir := airlockWorld()
	pr := dir.project
	pr.DataUpdatedAt = airlockNow
	f.GetProjectFn = func(context.Context, model.Actor, string) (model.Project, error) { return pr, nil }
	ws := model.Workstation{ID: "w1", ProjectID: "p1", OwnerID: alice.ID, Name: "alice-1", Desired: model.DesiredRunning,
		Status: model.Observed{State: model.ObservedRunning, ObservedAt: airlockNow.Add(-time.Hour)}}
	f.GetWorkstationFn = func(context.Context, model.Actor, string) (model.Workstation, error) { return ws, nil }
	f.ListImagesFn = func(context.Context, model.Actor) ([]model.Image, error) { return nil, nil }
	ts := newAirlockServer(t, f, dir, &fakeAirlock{}, 0)

	resp, body := ts.do(t, "GET", "/workstations/w1", "full-alice", "", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	has(t, "page of a workstation started before the data changed", body, `data-testid="ws-data-note"`, "/mnt/data")

	ws.Status.ObservedAt = airlockNow.Add(time.Hour) // restarted since
	_, body = ts.do(t, "GET", "/workstations/w1", "full-alice", "", nil, "")
	hasNot(t, "page of a workstation started after the change", body, `data-testid="ws-data-note"`)

	ws.Status = model.Observed{State: model.ObservedStopped, ObservedAt: airlockNow.Add(-time.Hour)}
	_, body = ts.do(t, "GET", "/workstations/w1", "full-alice", "", nil, "")
	hasNot(t, "page of a stopped workstation", body, `data-testid="ws-data-note"`)
}
