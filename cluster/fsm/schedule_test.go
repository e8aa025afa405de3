package fsm

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
	_ "time/tzdata" // the zones the tests use, whatever the host has

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
)

// day is 2026-11-22 (London is on GMT, so local time is UTC).
func day(hh, mm int) time.Time { return time.Date(2026, 11, 22, hh, mm, 0, 0, time.UTC) }

// at makes the next entry's command time t.
func (h *harness) at(t time.Time) *harness { h.now = t.Add(-time.Second); return h }

// running creates workstation id (bob's, in p1) and reports it running at t.
func (h *harness) running(id, name string, t time.Time) {
	h.t.Helper()
	h.at(t.Add(-time.Minute)).ok(model.CmdCreateWorkstation, user("bob"), ws(id, "p1", name))
	h.at(t).ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: id, State: model.ObservedRunning})
}

func (h *harness) schedule(s model.Schedule) {
	h.t.Helper()
	h.ok(model.CmdSetProjectSchedule, user("ann"), model.SetProjectSchedule{ProjectID: "p1", Schedule: s})
}

// enforce runs a pass at t with p1's nightly instant computed as the
// Service would, and returns the IDs stopped.
func (h *harness) enforce(t time.Time) []string {
	h.t.Helper()
	pr, err := h.st.Project("p1")
	if err != nil {
		h.t.Fatal(err)
	}
	p := model.EnforceSchedules{At: t, Nightly: map[string]model.NightlyInstant{}}
	loc, err := time.LoadLocation(pr.Schedule.Zone())
	if err != nil {
		h.t.Fatalf("no zone database: %v", err)
	}
	if n, ok := pr.Schedule.LastNightly(t, loc); ok {
		p.Nightly["p1"] = model.NightlyInstant{Spec: pr.Schedule.NightlySpec(), At: n}
	}
	var got []string
	h.at(t).ok(model.CmdEnforceSchedules, sys, p, &got)
	return got
}

func (h *harness) desired(id string) model.DesiredState {
	h.t.Helper()
	w, err := h.st.Workstation(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return w.Desired
}

func TestNightlyShutdown(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.schedule(model.Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London"})
	h.running("w1", "one", day(10, 0))
	h.running("w2", "two", day(11, 0))
	h.at(day(12, 0)).ok(model.CmdSetWorkstationRun, user("bob"), model.SetWorkstationRun{ID: "w2", Desired: model.DesiredStopped})

	if got := h.enforce(day(21, 59)); len(got) != 0 {
		t.Fatalf("before 22:00 stopped %v", got)
	}
	if got := h.enforce(day(22, 0).Add(30 * time.Second)); !cmp.Equal(got, []string{"w1"}) {
		t.Fatalf("after 22:00 stopped %v, want [w1] (w2 was already stopped)", got)
	}
	e := h.lastAudit()
	want := map[string]string{"name": "one", "from": "running", "to": "stopped", "reason": "nightly shutdown 22:00 Europe/London"}
	if e.Action != "workstation.auto_stop" || e.Object != "workstation/w1" || e.ProjectID != "p1" || !cmp.Equal(e.Details, want) {
		t.Fatalf("audit %+v", e)
	}
	// A second pass the same night finds nothing more to stop and records
	// nothing.
	n := h.auditCount()
	if got := h.enforce(day(22, 5)); len(got) != 0 || h.auditCount() != n {
		t.Fatalf("second pass stopped %v, audit %d -> %d", got, n, h.auditCount())
	}

	// Started again after the shutdown (across midnight): not stopped again
	// until tomorrow's 22:00.
	h.at(day(22, 10)).ok(model.CmdSetWorkstationRun, user("bob"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredRunning})
	h.at(day(22, 11)).ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w1", State: model.ObservedRunning})
	for _, at := range []time.Time{day(22, 30), day(26, 0), day(45, 59)} {
		if got := h.enforce(at); len(got) != 0 {
			t.Fatalf("restarted workstation stopped again at %s", at)
		}
	}
	if got := h.enforce(day(46, 0)); !cmp.Equal(got, []string{"w1"}) {
		t.Fatalf("tomorrow's 22:00 stopped %v", got)
	}
}

func TestNightlyShutdownNeedsMatchingSpec(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.schedule(model.Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London"})
	h.running("w1", "one", day(10, 0))
	// An instant computed from another schedule (a stale replica) is
	// ignored.
	p := model.EnforceSchedules{At: day(22, 30), Nightly: map[string]model.NightlyInstant{"p1": {Spec: "21:00 UTC", At: day(21, 0)}}}
	var got []string
	h.at(day(22, 30)).ok(model.CmdEnforceSchedules, sys, p, &got)
	if len(got) != 0 || h.desired("w1") != model.DesiredRunning {
		t.Fatalf("stale spec stopped %v", got)
	}
	// Unknown projects in the payload are ignored too.
	p.Nightly = map[string]model.NightlyInstant{"nope": {Spec: "22:00 Europe/London", At: day(22, 0)}}
	h.at(day(22, 31)).ok(model.CmdEnforceSchedules, sys, p, &got)
	if len(got) != 0 {
		t.Fatalf("unknown project stopped %v", got)
	}
}

func TestIdleStop(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.schedule(model.Schedule{IdleStopAfter: 2 * time.Hour})
	h.running("w1", "one", day(10, 0)) // a desktop is used
	h.running("w2", "two", day(10, 0)) // never used
	h.running("w3", "three", day(10, 0))

	h.at(day(10, 30)).ok(model.CmdDesktopActivity, user("bob"), model.DesktopActivity{WorkstationID: "w1", SessionID: "d1", Open: true, Details: map[string]string{"remote": "10.0.0.9"}})
	if e := h.lastAudit(); e.Action != "desktop.open" || e.Object != "workstation/w1" || e.Details["remote"] != "10.0.0.9" || e.Details["desktop_id"] != "d1" {
		t.Fatalf("open audit %+v", e)
	}
	// w3's desktop was opened in an earlier run and never closed: it died
	// with that run and does not keep w3 awake.
	h.at(day(9, 30)).ok(model.CmdDesktopActivity, user("bob"), model.DesktopActivity{WorkstationID: "w3", SessionID: "d3", Open: true})
	h.at(day(9, 40)).ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w3", State: model.ObservedStopped})
	h.at(day(10, 0)).ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w3", State: model.ObservedRunning})

	if got := h.enforce(day(11, 59)); len(got) != 0 {
		t.Fatalf("idle < 2h stopped %v", got)
	}
	if got := h.enforce(day(12, 0)); !cmp.Equal(got, []string{"w2", "w3"}) {
		t.Fatalf("at 12:00 stopped %v, want the unused w2 and w3", got)
	}
	if e := h.lastAudit(); e.Details["reason"] != "idle for 2h" {
		t.Fatalf("audit %+v", e)
	}
	// An open desktop is never idle.
	if got := h.enforce(day(30, 0)); len(got) != 0 {
		t.Fatalf("open desktop stopped %v", got)
	}
	h.at(day(30, 0)).ok(model.CmdDesktopActivity, user("bob"), model.DesktopActivity{WorkstationID: "w1", SessionID: "d1"})
	if e := h.lastAudit(); e.Action != "desktop.close" || e.Details["recorded"] != "" {
		t.Fatalf("close audit %+v", e)
	}
	if got := h.enforce(day(31, 59)); len(got) != 0 {
		t.Fatalf("idle since the close < 2h stopped %v", got)
	}
	if got := h.enforce(day(32, 30)); !cmp.Equal(got, []string{"w1"}) {
		t.Fatalf("stopped %v, want w1", got)
	}
	if e := h.lastAudit(); e.Details["reason"] != "idle for 2h30m" {
		t.Fatalf("audit %+v", e)
	}
	w, _ := h.st.Workstation("w1")
	if len(w.Desktops) != 0 || !w.LastDesktopAt.Equal(day(30, 0)) {
		t.Fatalf("w1 desktops %+v, last %s", w.Desktops, w.LastDesktopAt)
	}
}

func TestScheduleOffAndInactiveProjects(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.running("w1", "one", day(10, 0))
	if got := h.enforce(day(40, 0)); len(got) != 0 {
		t.Fatalf("no schedule stopped %v", got)
	}
	h.schedule(model.Schedule{NightlyShutdown: "22:00", IdleStopAfter: time.Hour})
	h.schedule(model.Schedule{}) // off again
	if e := h.lastAudit(); e.Action != "project.schedule_set" || e.Details["from"] != "nightly shutdown 22:00 UTC, idle stop after 1h" || e.Details["to"] != "off" {
		t.Fatalf("audit %+v", e)
	}
	if got := h.enforce(day(40, 0)); len(got) != 0 {
		t.Fatalf("schedule off stopped %v", got)
	}
}

func TestSchedulePolicyAndBadInput(t *testing.T) {
	h := newHarness(t)
	h.world()
	good := model.SetProjectSchedule{ProjectID: "p1", Schedule: model.Schedule{NightlyShutdown: "22:00"}}
	h.fail(model.CodeForbidden, model.CmdSetProjectSchedule, user("bob"), good)  // researcher
	h.fail(model.CodeForbidden, model.CmdSetProjectSchedule, user("eve"), good)  // another project's owner
	h.fail(model.CodeForbidden, model.CmdSetProjectSchedule, user("olly"), good) // output checker
	h.fail(model.CodeForbidden, model.CmdSetProjectSchedule, sys, good)
	h.fail(model.CodeNotFound, model.CmdSetProjectSchedule, user("root"), model.SetProjectSchedule{ProjectID: "nope"})
	for _, s := range []model.Schedule{{NightlyShutdown: "24:00"}, {TimeZone: "Local"}, {IdleStopAfter: time.Minute}} {
		h.fail(model.CodeInvalid, model.CmdSetProjectSchedule, user("ann"), model.SetProjectSchedule{ProjectID: "p1", Schedule: s})
	}
	if pr, _ := h.st.Project("p1"); !pr.Schedule.Off() {
		t.Fatalf("refused commands changed the schedule: %+v", pr.Schedule)
	}
	var pr model.Project
	h.ok(model.CmdSetProjectSchedule, user("root"), good, &pr)
	if pr.Schedule != good.Schedule {
		t.Fatalf("admin set %+v", pr.Schedule)
	}
	h.ok(model.CmdSetProjectSchedule, user("ann"), model.SetProjectSchedule{ProjectID: "p1", Schedule: model.Schedule{IdleStopAfter: time.Hour}})

	// Only the system enforces, never in the future, with sane instants.
	h.fail(model.CodeForbidden, model.CmdEnforceSchedules, user("root"), model.EnforceSchedules{At: h.now})
	h.fail(model.CodeInvalid, model.CmdEnforceSchedules, sys, model.EnforceSchedules{At: h.now.Add(time.Hour)})
	h.fail(model.CodeInvalid, model.CmdEnforceSchedules, sys, model.EnforceSchedules{At: h.now,
		Nightly: map[string]model.NightlyInstant{"p1": {Spec: "22:00 UTC", At: h.now.Add(time.Minute)}}})

	// Archived projects keep their schedule frozen.
	h.ok(model.CmdArchiveProject, user("root"), model.ProjectStateChange{ID: "p2"})
	h.fail(model.CodeConflict, model.CmdSetProjectSchedule, user("root"), model.SetProjectSchedule{ProjectID: "p2", Schedule: model.Schedule{IdleStopAfter: time.Hour}})
}

func TestDesktopActivityPolicy(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.running("w1", "one", day(10, 0))
	open := func(sess string) model.DesktopActivity {
		return model.DesktopActivity{WorkstationID: "w1", SessionID: sess, Open: true}
	}
	h.fail(model.CodeForbidden, model.CmdDesktopActivity, user("cat"), open("c1"))  // another researcher
	h.fail(model.CodeForbidden, model.CmdDesktopActivity, user("olly"), open("c2")) // output checker
	h.fail(model.CodeForbidden, model.CmdDesktopActivity, user("root"), open("c3")) // admin without break-glass
	h.fail(model.CodeForbidden, model.CmdDesktopActivity, sys, open("c4"))
	h.fail(model.CodeNotFound, model.CmdDesktopActivity, user("bob"), model.DesktopActivity{WorkstationID: "nope", SessionID: "x", Open: true})
	h.fail(model.CodeInvalid, model.CmdDesktopActivity, user("bob"), model.DesktopActivity{WorkstationID: "w1", SessionID: "x", Open: true, Details: map[string]string{"api_token": "x"}})
	if w, _ := h.st.Workstation("w1"); len(w.Desktops) != 0 {
		t.Fatalf("refused opens recorded %+v", w.Desktops)
	}
	h.ok(model.CmdDesktopActivity, user("bob"), open("b1"))
	h.ok(model.CmdDesktopActivity, user("ann"), open("a1")) // the project's owner
	h.fail(model.CodeAlreadyExists, model.CmdDesktopActivity, user("bob"), open("b1"))
	h.ok(model.CmdPutSetting, user("root"), model.PutSetting{Key: breakGlassSetting, Value: "true"})
	h.ok(model.CmdDesktopActivity, user("root"), open("r1"))

	// Closing: only your own session; an unknown one is audited and
	// changes nothing.
	h.fail(model.CodeForbidden, model.CmdDesktopActivity, user("ann"), model.DesktopActivity{WorkstationID: "w1", SessionID: "b1"})
	h.ok(model.CmdDesktopActivity, user("ann"), model.DesktopActivity{WorkstationID: "w1", SessionID: "gone"})
	if e := h.lastAudit(); e.Action != "desktop.close" || e.Details["recorded"] != "false" {
		t.Fatalf("unknown close audit %+v", e)
	}
	for _, c := range []struct {
		a    model.Actor
		sess string
	}{{user("bob"), "b1"}, {user("ann"), "a1"}, {sys, "r1"}} {
		h.ok(model.CmdDesktopActivity, c.a, model.DesktopActivity{WorkstationID: "w1", SessionID: c.sess})
	}
	if w, _ := h.st.Workstation("w1"); len(w.Desktops) != 0 {
		t.Fatalf("desktops left open: %+v", w.Desktops)
	}

	// Lost closes never grow the record without bound.
	for i := 0; i < model.MaxDesktopSessions+5; i++ {
		h.ok(model.CmdDesktopActivity, user("bob"), open(fmt.Sprintf("s%d", i)))
	}
	w, _ := h.st.Workstation("w1")
	if len(w.Desktops) != model.MaxDesktopSessions || w.Desktops[len(w.Desktops)-1].ID != fmt.Sprintf("s%d", model.MaxDesktopSessions+4) {
		b, _ := json.Marshal(w.Desktops)
		t.Fatalf("desktops %s", b)
	}
}
