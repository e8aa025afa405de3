package ui

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sded/sded/cluster/model"
)

var bob = model.User{ID: "u-bob", Username: "bob", DisplayName: "Bob Researcher", TOTPEnrolled: true}

// scheduleFake serves project p1 (alice owns it, bob researches in it)
// with a nightly shutdown, and records the schedules set; like the cluster
// service, it refuses researchers and zones time.LoadLocation does not know.
func scheduleFake(set *[]model.Schedule) *fakeService {
	f := baseFake()
	auth := f.AuthenticateFn
	f.AuthenticateFn = func(ctx context.Context, tok string) (model.Session, model.User, error) {
		if tok == "full-bob" {
			return model.Session{UserID: bob.ID}, bob, nil
		}
		return auth(ctx, tok)
	}
	pr := model.Project{ID: "p1", Name: "Diabetes", Slug: "diabetes", State: model.ProjectActive, Tier: 3,
		Schedule: model.Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London", IdleStopAfter: 90 * time.Minute}}
	f.GetProjectFn = func(context.Context, model.Actor, string) (model.Project, error) { return pr, nil }
	f.ListMembersFn = func(context.Context, model.Actor, string) ([]model.Member, error) {
		return []model.Member{{ProjectID: "p1", UserID: alice.ID, Role: model.RoleOwner}, {ProjectID: "p1", UserID: bob.ID, Role: model.RoleResearcher}}, nil
	}
	f.ListWorkstationsFn = func(context.Context, model.Actor, string) ([]model.Workstation, error) { return nil, nil }
	f.ListImagesFn = func(context.Context, model.Actor) ([]model.Image, error) { return nil, nil }
	f.ListUsersFn = func(context.Context, model.Actor) ([]model.User, error) { return []model.User{alice, bob, admin}, nil }
	f.SetProjectScheduleFn = func(_ context.Context, a model.Actor, id string, sch model.Schedule) (model.Project, error) {
		if a.UserID == bob.ID {
			return model.Project{}, model.Errorf(model.CodeForbidden, "only the project's owners may change its schedule")
		}
		if sch.TimeZone != "" {
			if _, err := time.LoadLocation(sch.TimeZone); err != nil {
				return model.Project{}, model.FieldError("schedule.time_zone", "unknown time zone %q", sch.TimeZone)
			}
		}
		*set = append(*set, sch)
		p := pr
		p.Schedule = sch
		return p, nil
	}
	return f
}

// newTestServerSvc is newTestServer for any Service.
func newTestServerSvc(t *testing.T, svc Service) *testServer {
	t.Helper()
	ts := httptest.NewTLSServer(New(Config{Version: "test"}, svc, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(ts.Close)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &testServer{Server: ts, client: c}
}

// withoutScheduler hides SetProjectSchedule: a Service that cannot set
// schedules.
type withoutScheduler struct{ Service }

func TestScheduleShown(t *testing.T) {
	var set []model.Schedule
	ts := newTestServer(t, scheduleFake(&set), nil)
	for _, tc := range []struct {
		session string
		form    bool
	}{{"full-alice", true}, {"full-admin", true}, {"full-bob", false}} {
		resp, body := ts.do(t, "GET", "/projects/p1", tc.session, "", nil, "")
		if resp.StatusCode != 200 || !strings.Contains(body, "nightly shutdown 22:00 Europe/London, idle stop after 1h30m") {
			t.Errorf("%s: status %d, want the schedule described", tc.session, resp.StatusCode)
		}
		if got := strings.Contains(body, `data-testid="schedule-form"`); got != tc.form {
			t.Errorf("%s: schedule form shown %v, want %v", tc.session, got, tc.form)
		}
		if tc.form {
			for _, want := range []string{`value="22:00"`, `value="Europe/London"`, `value="1h30m"`} {
				if !strings.Contains(body, want) {
					t.Errorf("%s: form not filled with the current schedule: lacks %s", tc.session, want)
				}
			}
		}
	}
	ts2 := newTestServerSvc(t, withoutScheduler{scheduleFake(&set)})
	if resp, body := ts2.do(t, "GET", "/projects/p1", "full-alice", "", nil, ""); resp.StatusCode != 200 || strings.Contains(body, "schedule-form") {
		t.Errorf("without a scheduler: status %d, want the page without the form", resp.StatusCode)
	}
	if resp, _ := ts2.post(t, "/projects/p1/schedule", "full-alice", url.Values{"schedule.nightly_shutdown": {"22:00"}}); resp.StatusCode != 503 {
		t.Errorf("form without a scheduler: status %d, want 503", resp.StatusCode)
	}
	if resp, _ := ts2.do(t, "PUT", "/api/v1/projects/p1/schedule", "full-alice", "", strings.NewReader(`{"nightly_shutdown":"22:00"}`), "application/json"); resp.StatusCode != 503 {
		t.Errorf("API without a scheduler: status %d, want 503", resp.StatusCode)
	}
}

func TestScheduleForm(t *testing.T) {
	form := func(nightly, zone, idle string) url.Values {
		return url.Values{"schedule.nightly_shutdown": {nightly}, "schedule.time_zone": {zone}, "schedule.idle_stop_after": {idle}}
	}
	tests := []struct {
		name, session string
		form          url.Values
		status        int
		errField      string // "" with status 303; "page" for the error page
		want          *model.Schedule
	}{
		{"both", "full-alice", form("22:00", "Europe/London", "2h"), 303, "", &model.Schedule{NightlyShutdown: "22:00", TimeZone: "Europe/London", IdleStopAfter: 2 * time.Hour}},
		{"admin, idle only", "full-admin", form("", "", " 90m "), 303, "", &model.Schedule{IdleStopAfter: 90 * time.Minute}},
		{"all empty is off", "full-alice", form("", "", ""), 303, "", &model.Schedule{}},
		{"UTC is the default zone", "full-alice", form("07:30", "UTC", "0"), 303, "", &model.Schedule{NightlyShutdown: "07:30"}},
		{"hour out of range", "full-alice", form("25:00", "", ""), 400, "schedule.nightly_shutdown", nil},
		{"not a time", "full-alice", form("10pm", "", ""), 400, "schedule.nightly_shutdown", nil},
		{"not a duration", "full-alice", form("", "", "soon"), 400, "schedule.idle_stop_after", nil},
		{"idle too short", "full-alice", form("", "", "5m"), 400, "schedule.idle_stop_after", nil},
		{"idle too long", "full-alice", form("", "", "200h"), 400, "schedule.idle_stop_after", nil},
		{"zone malformed", "full-alice", form("22:00", "../../etc/passwd", ""), 400, "schedule.time_zone", nil},
		{"zone Local", "full-alice", form("22:00", "Local", ""), 400, "schedule.time_zone", nil},
		{"zone unknown", "full-alice", form("22:00", "Europe/Atlantis", ""), 400, "schedule.time_zone", nil},
		{"researcher", "full-bob", form("22:00", "", ""), 403, "page", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var set []model.Schedule
			ts := newTestServer(t, scheduleFake(&set), nil)
			resp, body := ts.post(t, "/projects/p1/schedule", tt.session, tt.form)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.want != nil {
				if d := cmp.Diff([]model.Schedule{*tt.want}, set); d != "" {
					t.Errorf("schedule set (-want +got):\n%s", d)
				}
				if loc := resp.Header.Get("Location"); loc != "/projects/p1" {
					t.Errorf("redirect to %q", loc)
				}
				return
			}
			if len(set) != 0 {
				t.Errorf("a refused schedule was set: %v", set)
			}
			if tt.errField == "page" {
				if !strings.Contains(body, `data-testid="error-message"`) || !strings.Contains(body, "only the project") {
					t.Errorf("no error page saying why")
				}
				return
			}
			if !strings.Contains(body, `data-testid="error-`+tt.errField+`"`) {
				t.Errorf("no error shown next to %s", tt.errField)
			}
			for k, v := range tt.form {
				if v[0] != "" && !strings.Contains(body, `value="`+htmlEscape(v[0])+`"`) {
					t.Errorf("redisplayed form lost %s=%q", k, v[0])
				}
			}
		})
	}
	t.Run("cross-origin", func(t *testing.T) {
		var set []model.Schedule
		ts := newTestServer(t, scheduleFake(&set), nil)
		req, _ := http.NewRequest("POST", ts.URL+"/projects/p1/schedule", strings.NewReader(form("22:00", "", "").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "full-alice"})
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || len(set) != 0 {
			t.Errorf("status %d, set %v; want 403 and nothing set", resp.StatusCode, set)
		}
	})
}

func TestScheduleAPI(t *testing.T) {
	var set []model.Schedule
	ts := newTestServer(t, scheduleFake(&set), nil)
	tests := []struct {
		name, session, body string
		status              int
		field               string
	}{
		{"set", "full-alice", `{"nightly_shutdown":"21:00","time_zone":"America/New_York","idle_stop_after":"3h"}`, 200, ""},
		{"off", "full-admin", `{}`, 200, ""},
		{"unknown field", "full-alice", `{"nightly":"21:00"}`, 400, ""},
		{"bad time", "full-alice", `{"nightly_shutdown":"9pm"}`, 400, "schedule.nightly_shutdown"},
		{"idle as a number", "full-alice", `{"idle_stop_after":7200}`, 400, ""},
		{"unknown zone", "full-alice", `{"nightly_shutdown":"21:00","time_zone":"Mars/Olympus"}`, 400, "schedule.time_zone"},
		{"researcher", "full-bob", `{"nightly_shutdown":"21:00"}`, 403, ""},
	}
	for _, tt := range tests {
		resp, body := ts.do(t, "PUT", "/api/v1/projects/p1/schedule", tt.session, "", strings.NewReader(tt.body), "application/json")
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d body %s, want %d", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		if tt.status != 200 {
			var e struct {
				Error model.Error `json:"error"`
			}
			if json.Unmarshal([]byte(body), &e) != nil || e.Error.Field != tt.field {
				t.Errorf("%s: error %s, want field %q", tt.name, body, tt.field)
			}
			continue
		}
		var pr model.Project
		if err := json.Unmarshal([]byte(body), &pr); err != nil || pr.ID != "p1" {
			t.Errorf("%s: body %s, want the project", tt.name, body)
		}
	}
	want := []model.Schedule{{NightlyShutdown: "21:00", TimeZone: "America/New_York", IdleStopAfter: 3 * time.Hour}, {}}
	if d := cmp.Diff(want, set); d != "" {
		t.Errorf("schedules set (-want +got):\n%s", d)
	}
}
