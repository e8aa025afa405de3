package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Schedule is a project's power policy for its workstations: a nightly
// shutdown time in a time zone, and an idle auto-stop. The zero value is
// "never stop anything".
type Schedule struct {
	// NightlyShutdown is "HH:MM" (24 h) in TimeZone; empty: off.
	NightlyShutdown string `json:"nightly_shutdown,omitempty"`
	// TimeZone is an IANA name such as "Europe/London"; empty means UTC.
	// The FSM only stores it: the proposer resolves it (see LastNightly).
	TimeZone string `json:"time_zone,omitempty"`
	// IdleStopAfter stops a running workstation whose desktop has not been
	// open for this long; 0: off.
	IdleStopAfter time.Duration `json:"idle_stop_after,omitempty"`
}

// scheduleJSON is Schedule's wire form: the idle stop as a Go duration
// string ("2h0m0s"), readable in the API, the audit log and the state.
type scheduleJSON struct {
	NightlyShutdown string `json:"nightly_shutdown,omitempty"`
	TimeZone        string `json:"time_zone,omitempty"`
	IdleStopAfter   string `json:"idle_stop_after,omitempty"`
}

// MarshalJSON writes the idle stop as a duration string.
func (s Schedule) MarshalJSON() ([]byte, error) {
	j := scheduleJSON{NightlyShutdown: s.NightlyShutdown, TimeZone: s.TimeZone}
	if s.IdleStopAfter != 0 {
		j.IdleStopAfter = s.IdleStopAfter.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the wire form strictly (unknown fields refused).
func (s *Schedule) UnmarshalJSON(b []byte) error {
	var j scheduleJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	*s = Schedule{NightlyShutdown: j.NightlyShutdown, TimeZone: j.TimeZone}
	if j.IdleStopAfter != "" {
		d, err := time.ParseDuration(j.IdleStopAfter)
		if err != nil {
			return fmt.Errorf("schedule: idle_stop_after %q is not a duration", j.IdleStopAfter)
		}
		s.IdleStopAfter = d
	}
	return nil
}

// The bounds of Schedule.IdleStopAfter.
const (
	MinIdleStop = 10 * time.Minute
	MaxIdleStop = 7 * 24 * time.Hour
)

var (
	hhmmRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	zoneRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$`)
)

// Zone is the schedule's time zone name, "UTC" when empty.
func (s Schedule) Zone() string {
	if s.TimeZone == "" {
		return "UTC"
	}
	return s.TimeZone
}

// Off reports whether the schedule stops nothing (a zone alone stops nothing).
func (s Schedule) Off() bool { return s.NightlyShutdown == "" && s.IdleStopAfter == 0 }

// Validate checks the form of every field. Whether the time zone exists is
// checked by the proposer (time.LoadLocation reads the zone database, which
// the FSM must not).
func (s Schedule) Validate() error {
	if s.NightlyShutdown != "" && !hhmmRE.MatchString(s.NightlyShutdown) {
		return FieldError("schedule.nightly_shutdown", "%q is not a 24-hour time HH:MM", s.NightlyShutdown)
	}
	if s.TimeZone != "" && (len(s.TimeZone) > 64 || !zoneRE.MatchString(s.TimeZone) || s.TimeZone == "Local") {
		return FieldError("schedule.time_zone", "%q is not an IANA time zone name such as Europe/London", s.TimeZone)
	}
	if s.IdleStopAfter != 0 && (s.IdleStopAfter < MinIdleStop || s.IdleStopAfter > MaxIdleStop) {
		return FieldError("schedule.idle_stop_after", "must be 0 (off) or between %s and %s", MinIdleStop, "168h")
	}
	return nil
}

// ParseSchedule builds a schedule from the strings a form or the command
// line gives: nightly "HH:MM" or "" (off), zone an IANA name or "" (UTC),
// idle a Go duration such as "2h" or "" / "0" (off). Errors name the field.
func ParseSchedule(nightly, zone, idle string) (Schedule, error) {
	s := Schedule{NightlyShutdown: strings.TrimSpace(nightly), TimeZone: strings.TrimSpace(zone)}
	if idle = strings.TrimSpace(idle); idle != "" && idle != "0" {
		d, err := time.ParseDuration(idle)
		if err != nil {
			return Schedule{}, FieldError("schedule.idle_stop_after", "%q is not a duration such as 90m or 2h", idle)
		}
		s.IdleStopAfter = d
	}
	if s.TimeZone == "UTC" {
		s.TimeZone = ""
	}
	return s, s.Validate()
}

// String describes the schedule for audit details and pages.
func (s Schedule) String() string {
	var parts []string
	if s.NightlyShutdown != "" {
		parts = append(parts, "nightly shutdown "+s.NightlyShutdown+" "+s.Zone())
	}
	if s.IdleStopAfter != 0 {
		parts = append(parts, "idle stop after "+ShortDuration(s.IdleStopAfter))
	}
	if len(parts) == 0 {
		return "off"
	}
	return strings.Join(parts, ", ")
}

// NightlySpec names the nightly shutdown exactly ("22:00 Europe/London"):
// the proposer passes it with each instant it computed, so that the FSM
// uses an instant only for the schedule it was computed from.
func (s Schedule) NightlySpec() string {
	if s.NightlyShutdown == "" {
		return ""
	}
	return s.NightlyShutdown + " " + s.Zone()
}

// LastNightly returns the most recent nightly shutdown instant at or before
// at, in loc (the schedule's zone, resolved by the caller), and false if
// the schedule has no nightly shutdown. On a day when HH:MM does not exist
// in loc (the spring-forward gap) time.Date's normalisation decides; on a
// day when it occurs twice, the first.
func (s Schedule) LastNightly(at time.Time, loc *time.Location) (time.Time, bool) {
	if s.NightlyShutdown == "" || !hhmmRE.MatchString(s.NightlyShutdown) || loc == nil {
		return time.Time{}, false
	}
	hh := int(s.NightlyShutdown[0]-'0')*10 + int(s.NightlyShutdown[1]-'0')
	mm := int(s.NightlyShutdown[3]-'0')*10 + int(s.NightlyShutdown[4]-'0')
	l := at.In(loc)
	t := time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, loc)
	if t.After(at) {
		t = time.Date(l.Year(), l.Month(), l.Day()-1, hh, mm, 0, 0, loc)
	}
	return t.UTC(), true
}

// ShortDuration prints d rounded to the minute without trailing zero units:
// "2h", "1h30m", "45m".
func ShortDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "0m"
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// StartedAt is when a running workstation was last started: the latest of
// when it was observed running and when it was last asked to run (its
// UpdatedAt while it should run: a start after a stop that the reconciler
// has not carried out yet counts as a start too).
func (w Workstation) StartedAt() time.Time {
	t := w.Status.ObservedAt
	if w.Desired == DesiredRunning && w.UpdatedAt.After(t) {
		t = w.UpdatedAt
	}
	return t
}

// IdleSince is when a running workstation was last in use: the latest of
// its start (StartedAt) and when a desktop was last opened or closed. Open
// is whether a desktop opened during this run is still open (such a
// workstation is never idle). Desktops opened before the current run was
// observed died with the previous run and do not count.
func (w Workstation) IdleSince() (since time.Time, open bool) {
	since = w.StartedAt()
	for _, d := range w.Desktops {
		if !d.OpenedAt.Before(w.Status.ObservedAt) {
			open = true
		}
	}
	if w.LastDesktopAt.After(since) {
		since = w.LastDesktopAt
	}
	return since, open
}

// StopReason decides whether the schedule stops workstation w at time at,
// given nightly, the most recent nightly shutdown instant at or before at
// (zero: none). Only a workstation that should run and was observed running
// is stopped. The nightly shutdown applies to one started (StartedAt)
// before that instant: a workstation started after tonight's shutdown runs
// until tomorrow's. The reason is what the audit event says.
func (s Schedule) StopReason(w Workstation, at, nightly time.Time) (string, bool) {
	if w.Desired != DesiredRunning || w.Status.State != ObservedRunning {
		return "", false
	}
	if s.NightlyShutdown != "" && !nightly.IsZero() && !nightly.After(at) && w.StartedAt().Before(nightly) {
		return "nightly shutdown " + s.NightlySpec(), true
	}
	if s.IdleStopAfter > 0 {
		since, open := w.IdleSince()
		if !open && at.Sub(since) >= s.IdleStopAfter {
			return "idle for " + ShortDuration(at.Sub(since)), true
		}
	}
	return "", false
}

// SetProjectSchedule sets a project's schedule (admins, the project's
// owners). The zero schedule turns everything off.
type SetProjectSchedule struct {
	ProjectID string   `json:"project_id"`
	Schedule  Schedule `json:"schedule"`
}

// Validate checks the fields.
func (p SetProjectSchedule) Validate() error {
	if err := checkID("project_id", p.ProjectID); err != nil {
		return err
	}
	return p.Schedule.Validate()
}

// NightlyInstant is the most recent nightly shutdown of one project, as the
// proposer computed it from Spec (Schedule.NightlySpec).
type NightlyInstant struct {
	Spec string    `json:"spec"`
	At   time.Time `json:"at"`
}

// MaxScheduledProjects bounds EnforceSchedules.Nightly.
const MaxScheduledProjects = 100000

// EnforceSchedules stops, as of At, every running workstation that its
// project's schedule says must stop (system only). Nightly holds, per
// project ID, the most recent nightly shutdown instant the proposer
// computed; the FSM ignores an instant whose Spec no longer matches the
// project's stored schedule (the proposer's replica was stale).
type EnforceSchedules struct {
	At      time.Time                 `json:"at"`
	Nightly map[string]NightlyInstant `json:"nightly,omitempty"`
}

// Validate checks the times: each instant is at or before At and no more
// than a day and a DST hour earlier.
func (p EnforceSchedules) Validate() error {
	if err := checkTime("at", p.At, true); err != nil {
		return err
	}
	if len(p.Nightly) > MaxScheduledProjects {
		return FieldError("nightly", "has more than %d projects", MaxScheduledProjects)
	}
	for id, n := range p.Nightly {
		if err := checkID("nightly", id); err != nil {
			return err
		}
		if err := checkText("nightly.spec", n.Spec, MaxNameLen, false, false); err != nil {
			return err
		}
		if n.At.After(p.At) || p.At.Sub(n.At) > 25*time.Hour {
			return FieldError("nightly.at", "instant %s of project %s is not within the day before %s", n.At.Format(time.RFC3339), id, p.At.Format(time.RFC3339))
		}
	}
	return nil
}

// DesktopSession is one open browser desktop of a workstation.
type DesktopSession struct {
	ID       string    `json:"id"`
	UserID   string    `json:"user_id"`
	Node     string    `json:"node,omitempty"` // whose desktop proxy serves it
	OpenedAt time.Time `json:"opened_at"`
}

// MaxDesktopSessions bounds the open desktops recorded on a workstation; an
// open beyond it forgets the oldest (one whose close was lost).
const MaxDesktopSessions = 32

// DesktopActivity records a desktop opening or closing on its workstation,
// with the audit event ("desktop.open", "desktop.close") in the same entry.
// Opening needs the connect grant (or an admin's break-glass); closing
// needs the session to be the actor's own.
type DesktopActivity struct {
	WorkstationID string            `json:"workstation_id"`
	SessionID     string            `json:"session_id"`
	Open          bool              `json:"open"`
	Node          string            `json:"node,omitempty"` // opening: the node serving the desktop
	Details       map[string]string `json:"details,omitempty"`
}

// Validate checks the fields.
func (p DesktopActivity) Validate() error {
	if err := checkID("workstation_id", p.WorkstationID); err != nil {
		return err
	}
	if err := checkID("session_id", p.SessionID); err != nil {
		return err
	}
	if err := checkOptionalID("node", p.Node); err != nil {
		return err
	}
	return AuditEvent{Action: "desktop.activity", Details: p.Details}.Validate()
}
