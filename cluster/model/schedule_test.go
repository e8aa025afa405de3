package model

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones the tests use, whatever the host has
)

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		name  string
		s     Schedule
		field string // "" = valid
	}{
		{"zero is off", Schedule{}, ""},
		{"nightly", Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London"}, ""},
		{"midnight", Schedule{NightlyShutdown: "00:00"}, ""},
		{"last minute", Schedule{NightlyShutdown: "23:59", TimeZone: "America/Argentina/Buenos_Aires"}, ""},
		{"idle bounds low", Schedule{IdleStopAfter: MinIdleStop}, ""},
		{"idle bounds high", Schedule{IdleStopAfter: MaxIdleStop}, ""},
		{"Etc zone", Schedule{NightlyShutdown: "01:00", TimeZone: "Etc/GMT+5"}, ""},
		{"24:00", Schedule{NightlyShutdown: "24:00"}, "schedule.nightly_shutdown"},
		{"one digit hour", Schedule{NightlyShutdown: "9:00"}, "schedule.nightly_shutdown"},
		{"60 minutes", Schedule{NightlyShutdown: "10:60"}, "schedule.nightly_shutdown"},
		{"seconds", Schedule{NightlyShutdown: "10:00:00"}, "schedule.nightly_shutdown"},
		{"12-hour clock", Schedule{NightlyShutdown: "10pm"}, "schedule.nightly_shutdown"},
		{"trailing newline", Schedule{NightlyShutdown: "10:00\n"}, "schedule.nightly_shutdown"},
		{"Local is node-dependent", Schedule{TimeZone: "Local"}, "schedule.time_zone"},
		{"path traversal", Schedule{TimeZone: "../../etc/passwd"}, "schedule.time_zone"},
		{"absolute path", Schedule{TimeZone: "/etc/localtime"}, "schedule.time_zone"},
		{"spaces", Schedule{TimeZone: "Europe/ London"}, "schedule.time_zone"},
		{"idle too short", Schedule{IdleStopAfter: 9 * time.Minute}, "schedule.idle_stop_after"},
		{"idle too long", Schedule{IdleStopAfter: MaxIdleStop + time.Second}, "schedule.idle_stop_after"},
		{"idle negative", Schedule{IdleStopAfter: -time.Hour}, "schedule.idle_stop_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want ok", err)
				}
				return
			}
			if e := AsError(err); err == nil || e.Code != CodeInvalid || e.Field != tt.field {
				t.Fatalf("Validate = %v, want invalid %s", err, tt.field)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule(" 22:00 ", "UTC", "2h")
	if err != nil || s != (Schedule{NightlyShutdown: "22:00", IdleStopAfter: 2 * time.Hour}) {
		t.Fatalf("ParseSchedule = %+v, %v", s, err)
	}
	if s, err := ParseSchedule("", "", "0"); err != nil || !s.Off() {
		t.Fatalf("ParseSchedule(off) = %+v, %v", s, err)
	}
	for _, idle := range []string{"2 hours", "5m", "-1h", "1y"} {
		if _, err := ParseSchedule("", "", idle); fieldOf(err) != "schedule.idle_stop_after" {
			t.Errorf("ParseSchedule(idle %q) = %v, want a field error", idle, err)
		}
	}
}

func TestScheduleString(t *testing.T) {
	for s, want := range map[Schedule]string{
		{}:                         "off",
		{NightlyShutdown: "22:00"}: "nightly shutdown 22:00 UTC",
		{NightlyShutdown: "07:30", TimeZone: "Europe/London", IdleStopAfter: 90 * time.Minute}: "nightly shutdown 07:30 Europe/London, idle stop after 1h30m",
		{IdleStopAfter: 2 * time.Hour}: "idle stop after 2h",
	} {
		if got := s.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", s, got, want)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone database has no %s: %v", name, err)
	}
	return loc
}

func TestLastNightly(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, hhmm, zone, at, want string
	}{
		{"just after, winter (GMT)", "22:00", "Europe/London", "2026-11-22T22:00:30Z", "2026-11-22T22:00:00Z"},
		{"exactly at", "22:00", "Europe/London", "2026-11-22T22:00:00Z", "2026-11-22T22:00:00Z"},
		{"just before: yesterday's", "22:00", "Europe/London", "2026-11-22T21:59:59Z", "2026-11-21T22:00:00Z"},
		{"after midnight: yesterday's", "22:00", "Europe/London", "2026-11-23T01:00:00Z", "2026-11-22T22:00:00Z"},
		{"summer (BST) is an hour earlier in UTC", "22:00", "Europe/London", "2027-07-01T21:30:00Z", "2027-07-01T21:00:00Z"},
		{"spring-forward day, after", "22:00", "Europe/London", "2027-03-28T21:30:00Z", "2027-03-28T21:00:00Z"},
		{"spring-forward day, before: the GMT evening", "22:00", "Europe/London", "2027-03-28T20:30:00Z", "2027-03-27T22:00:00Z"},
		{"fall-back day", "22:00", "Europe/London", "2027-10-31T22:30:00Z", "2027-10-31T22:00:00Z"},
		{"fall-back day, the evening before (BST)", "22:00", "Europe/London", "2027-10-31T12:00:00Z", "2027-10-30T21:00:00Z"},
		{"local date ahead of UTC date", "00:30", "Europe/Berlin", "2026-11-22T23:45:00Z", "2026-11-22T23:30:00Z"},
		{"local date behind UTC date", "22:00", "America/New_York", "2026-11-23T03:30:00Z", "2026-11-23T03:00:00Z"},
		{"UTC", "18:15", "UTC", "2026-11-22T18:14:00Z", "2026-11-21T18:15:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Schedule{NightlyShutdown: tt.hhmm, TimeZone: tt.zone}
			got, ok := s.LastNightly(utc(tt.at), mustZone(t, tt.zone))
			if !ok || !got.Equal(utc(tt.want)) {
				t.Fatalf("LastNightly(%s %s, %s) = %s, %v; want %s", tt.hhmm, tt.zone, tt.at, got.Format(time.RFC3339), ok, tt.want)
			}
			if err := (EnforceSchedules{At: utc(tt.at), Nightly: map[string]NightlyInstant{"p1": {Spec: s.NightlySpec(), At: got}}}).Validate(); err != nil {
				t.Fatalf("the instant does not pass EnforceSchedules.Validate: %v", err)
			}
		})
	}
	// A time that does not exist that night (01:30 on the spring-forward
	// day) still gives an instant within the last day.
	s := Schedule{NightlyShutdown: "01:30", TimeZone: "Europe/London"}
	at := utc("2027-03-28T12:00:00Z")
	got, _ := s.LastNightly(at, mustZone(t, "Europe/London"))
	if got.After(at) || at.Sub(got) > 25*time.Hour {
		t.Fatalf("gap: LastNightly = %s", got)
	}
	if _, ok := (Schedule{}).LastNightly(at, time.UTC); ok {
		t.Fatal("no nightly shutdown gave an instant")
	}
}

func TestStopReason(t *testing.T) {
	run := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	nightly := time.Date(2026, 11, 22, 22, 0, 0, 0, time.UTC)
	running := Workstation{Desired: DesiredRunning, Status: Observed{State: ObservedRunning, ObservedAt: run}}
	with := func(f func(*Workstation)) Workstation { w := running; f(&w); return w }
	both := Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London", IdleStopAfter: 2 * time.Hour}
	idle := Schedule{IdleStopAfter: 2 * time.Hour}
	tests := []struct {
		name    string
		s       Schedule
		w       Workstation
		at, nty time.Time
		want    string // "" = not due
	}{
		{"before tonight's instant", Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London"}, running, nightly.Add(-time.Minute), nightly.Add(-24 * time.Hour), ""},
		{"after tonight's instant", both, running, nightly.Add(time.Minute), nightly, "nightly shutdown 22:00 Europe/London"},
		{"started after tonight's instant", both, with(func(w *Workstation) {
			w.Status.ObservedAt = nightly.Add(time.Minute)
			w.LastDesktopAt = nightly.Add(2 * time.Minute)
		}), nightly.Add(time.Hour), nightly, ""},
		{"asked to run again after tonight's instant, still observed from before", both, with(func(w *Workstation) { w.UpdatedAt = nightly.Add(10 * time.Minute) }), nightly.Add(time.Hour), nightly, ""},
		{"stopped while asked to stop (UpdatedAt does not count)", both, with(func(w *Workstation) { w.Desired = DesiredStopped; w.UpdatedAt = nightly.Add(10 * time.Minute) }), nightly.Add(time.Hour), nightly, ""},
		{"nightly with a desktop open", both, with(func(w *Workstation) { w.Desktops = []DesktopSession{{ID: "d", OpenedAt: run}} }), nightly.Add(time.Minute), nightly, "nightly shutdown 22:00 Europe/London"},
		{"no instant given", Schedule{NightlyShutdown: "22:00"}, running, nightly.Add(time.Minute), time.Time{}, ""},
		{"idle exactly 2h", idle, running, run.Add(2 * time.Hour), time.Time{}, "idle for 2h"},
		{"idle not yet", idle, running, run.Add(2*time.Hour - time.Second), time.Time{}, ""},
		{"idle since the last close", idle, with(func(w *Workstation) { w.LastDesktopAt = run.Add(time.Hour) }), run.Add(2*time.Hour + 59*time.Minute), time.Time{}, ""},
		{"idle 3h10m after the last close", idle, with(func(w *Workstation) { w.LastDesktopAt = run.Add(time.Hour) }), run.Add(4*time.Hour + 10*time.Minute), time.Time{}, "idle for 3h10m"},
		{"desktop open is never idle", idle, with(func(w *Workstation) { w.Desktops = []DesktopSession{{ID: "d", OpenedAt: run.Add(time.Minute)}} }), run.Add(48 * time.Hour), time.Time{}, ""},
		{"a desktop from an earlier run does not count", idle, with(func(w *Workstation) { w.Desktops = []DesktopSession{{ID: "d", OpenedAt: run.Add(-time.Hour)}} }), run.Add(2 * time.Hour), time.Time{}, "idle for 2h"},
		{"stopped already", both, with(func(w *Workstation) { w.Desired = DesiredStopped }), nightly.Add(time.Minute), nightly, ""},
		{"starting, not yet running", both, with(func(w *Workstation) { w.Status.State = ObservedPending }), nightly.Add(time.Minute), nightly, ""},
		{"failed", both, with(func(w *Workstation) { w.Status.State = ObservedFailed }), nightly.Add(time.Minute), nightly, ""},
		{"off", Schedule{}, running, run.Add(1000 * time.Hour), nightly, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, due := tt.s.StopReason(tt.w, tt.at, tt.nty)
			if got != tt.want || due != (tt.want != "") {
				t.Fatalf("StopReason = %q, %v; want %q", got, due, tt.want)
			}
		})
	}
}

func TestEnforceSchedulesValidate(t *testing.T) {
	at := time.Date(2026, 11, 22, 22, 30, 0, 0, time.UTC)
	tests := []struct {
		name  string
		p     EnforceSchedules
		field string
	}{
		{"ok", EnforceSchedules{At: at, Nightly: map[string]NightlyInstant{"p1": {Spec: "22:00 UTC", At: at.Add(-30 * time.Minute)}}}, ""},
		{"no time", EnforceSchedules{}, "at"},
		{"instant in the future", EnforceSchedules{At: at, Nightly: map[string]NightlyInstant{"p1": {Spec: "23:00 UTC", At: at.Add(30 * time.Minute)}}}, "nightly.at"},
		{"instant two days ago", EnforceSchedules{At: at, Nightly: map[string]NightlyInstant{"p1": {Spec: "22:00 UTC", At: at.Add(-48 * time.Hour)}}}, "nightly.at"},
		{"bad project ID", EnforceSchedules{At: at, Nightly: map[string]NightlyInstant{"../x": {Spec: "22:00 UTC", At: at}}}, "nightly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (tt.field == "" && err != nil) || (tt.field != "" && fieldOf(err) != tt.field) {
				t.Fatalf("Validate = %v, want field %q", err, tt.field)
			}
		})
	}
}

func TestDesktopActivityValidate(t *testing.T) {
	if err := (DesktopActivity{WorkstationID: "w1", SessionID: "d1", Open: true, Details: map[string]string{"remote": "10.0.0.1"}}).Validate(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]DesktopActivity{
		"no workstation":    {SessionID: "d1"},
		"no session":        {WorkstationID: "w1"},
		"secret in details": {WorkstationID: "w1", SessionID: "d1", Details: map[string]string{"session_token": "x"}},
	} {
		if err := p.Validate(); CodeOf(err) != CodeInvalid {
			t.Errorf("%s: Validate = %v, want invalid", name, err)
		}
	}
}

// fieldOf is the field a validation error names ("" for none or no error).
func fieldOf(err error) string {
	if err == nil {
		return ""
	}
	return AsError(err).Field
}

func TestScheduleJSON(t *testing.T) {
	for _, s := range []Schedule{{}, {NightlyShutdown: "22:00", TimeZone: "Europe/London", IdleStopAfter: 90 * time.Minute}, {IdleStopAfter: 10*time.Minute + 1}} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var got Schedule
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("%s -> %+v, %v; want %+v", b, got, err, s)
		}
	}
	b, _ := json.Marshal(Project{Schedule: Schedule{IdleStopAfter: 2 * time.Hour}})
	if !strings.Contains(string(b), `"schedule":{"idle_stop_after":"2h0m0s"}`) {
		t.Fatalf("project JSON %s", b)
	}
	if b, _ := json.Marshal(Project{}); strings.Contains(string(b), "schedule") {
		t.Fatalf("an empty schedule is written: %s", b)
	}
	for _, in := range []string{`{"idle_stop_after":7200000000000}`, `{"idle_stop_after":"two hours"}`, `{"nightly":"22:00"}`, `[]`} {
		var s Schedule
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Errorf("%s decoded as %+v", in, s)
		}
	}
}

// A zone alone (set before the time) survives the project's JSON.
func TestScheduleZoneAloneIsKept(t *testing.T) {
	b, _ := json.Marshal(Project{Schedule: Schedule{TimeZone: "Europe/London"}})
	var p Project
	if err := json.Unmarshal(b, &p); err != nil || p.Schedule.TimeZone != "Europe/London" || !p.Schedule.Off() {
		t.Fatalf("%s -> %+v, %v", b, p.Schedule, err)
	}
}
