package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

var (
	alice = model.User{ID: "u-alice", Username: "alice", DisplayName: "Alice Researcher", TOTPEnrolled: true}
	admin = model.User{ID: "u-admin", Username: "admin", DisplayName: "Ada Admin", Admin: true, TOTPEnrolled: true}
)

// baseFake knows three sessions: alice's MFA-pending one, alice's full one
// and the admin's full one, and one API token of alice scoped to reading
// projects.
func baseFake() *fakeService {
	sessions := map[string]struct {
		s model.Session
		u model.User
	}{
		"pending-alice": {model.Session{UserID: alice.ID, MFAPending: true}, alice},
		"full-alice":    {model.Session{UserID: alice.ID}, alice},
		"full-admin":    {model.Session{UserID: admin.ID}, admin},
	}
	return &fakeService{
		AuthenticateFn: func(_ context.Context, token string) (model.Session, model.User, error) {
			if s, ok := sessions[token]; ok {
				return s.s, s.u, nil
			}
			return model.Session{}, model.User{}, model.ErrUnauthenticated
		},
		AuthenticateAPITokenFn: func(_ context.Context, raw string) (model.APIToken, model.User, error) {
			if raw == "tok-alice-read" {
				return model.APIToken{ID: "t1", UserID: alice.ID, Scopes: []model.Action{model.ActProjectRead}}, alice, nil
			}
			return model.APIToken{}, model.User{}, model.ErrUnauthenticated
		},
	}
}

type testServer struct {
	*httptest.Server
	client *http.Client
}

func newTestServer(t *testing.T, f *fakeService, d DesktopDialer) *testServer {
	t.Helper()
	return newTestServerCfg(t, Config{Version: "test"}, f, d)
}

func newTestServerCfg(t *testing.T, cfg Config, f *fakeService, d DesktopDialer) *testServer {
	t.Helper()
	var logw io.Writer = io.Discard
	if testing.Verbose() {
		logw = os.Stderr
	}
	h := New(cfg, f, d, slog.New(slog.NewTextHandler(logw, nil)))
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &testServer{Server: ts, client: c}
}

// do sends a request with an optional session cookie, bearer token and form
// or JSON body, and returns the response and its body.
func (ts *testServer) do(t *testing.T, method, path, session, bearer string, body io.Reader, contentType string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (ts *testServer) post(t *testing.T, path, session string, form url.Values) (*http.Response, string) {
	t.Helper()
	return ts.do(t, "POST", path, session, "", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// concrete turns a route pattern into a path.
func concrete(pattern string) string {
	r := strings.NewReplacer("{$}", "", "{id}", "x1", "{user}", "u1")
	return r.Replace(pattern)
}

// TestRouteTable fails for a route without an authorisation check: every
// route that is not part of the login is signed-in only and names a known
// action, and each refuses requests without credentials, with only the first
// factor, and with a token not scoped for it.
func TestRouteTable(t *testing.T) {
	s := &server{}
	publicOK := []string{"GET /login", "POST /login"}
	ts := newTestServer(t, baseFake(), nil)
	seen := map[string]bool{}
	for _, rt := range s.routes() {
		key := rt.method + " " + rt.pattern
		if seen[key] {
			t.Errorf("route %s registered twice", key)
		}
		seen[key] = true
		switch rt.access {
		case public:
			if !slices.Contains(publicOK, key) {
				t.Errorf("route %s is public; only %v may be", key, publicOK)
			}
			continue
		case mfaPending:
			if !strings.HasPrefix(rt.pattern, "/login/") {
				t.Errorf("route %s allows an MFA-pending session; only the login steps may", key)
			}
		case signedIn:
			if !rt.action.Known() {
				t.Errorf("route %s has no known action (%q)", key, rt.action)
			}
		}
		if rt.api != strings.HasPrefix(rt.pattern, "/api/") {
			t.Errorf("route %s: api flag %v does not match its path", key, rt.api)
		}
		path := concrete(rt.pattern)
		t.Run(key, func(t *testing.T) {
			// No credentials.
			resp, _ := ts.do(t, rt.method, path, "", "", nil, "")
			if rt.api {
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("without credentials: status %d, want 401", resp.StatusCode)
				}
			} else if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Errorf("without credentials: status %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
			}
			// A garbage session.
			resp, _ = ts.do(t, rt.method, path, "forged", "", nil, "")
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther {
				t.Errorf("forged session: status %d", resp.StatusCode)
			}
			if rt.access == signedIn {
				// Password only, no second factor.
				resp, _ = ts.do(t, rt.method, path, "pending-alice", "", nil, "")
				if resp.StatusCode == http.StatusOK || resp.StatusCode/100 == 2 || resp.StatusCode == 500 {
					t.Errorf("MFA-pending session: status %d, want refusal", resp.StatusCode)
				}
				// A token scoped for something else (or a token off the API).
				if rt.action != model.ActProjectRead {
					resp, _ = ts.do(t, rt.method, path, "", "tok-alice-read", nil, "")
					want := http.StatusForbidden
					if !rt.api {
						want = http.StatusSeeOther // tokens are not accepted on pages
					}
					if resp.StatusCode != want {
						t.Errorf("token without scope: status %d, want %d", resp.StatusCode, want)
					}
				}
				// Platform actions are refused to non-admins before the
				// service is asked (the fake would answer 500).
				if platformAction[rt.action] {
					resp, _ = ts.do(t, rt.method, path, "full-alice", "", nil, "")
					if resp.StatusCode != http.StatusForbidden {
						t.Errorf("non-admin on platform action: status %d, want 403", resp.StatusCode)
					}
				}
			}
		})
	}
	// A path outside the table is 404 for everyone, not a fallthrough.
	if resp, _ := ts.do(t, "GET", "/nope", "full-admin", "", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", resp.StatusCode)
	}
}

func TestSecurityHeadersAndCookies(t *testing.T) {
	f := baseFake()
	f.LoginFn = func(_ context.Context, u, p, _ string) (string, model.User, error) {
		return "pending-alice", alice, nil
	}
	ts := newTestServer(t, f, nil)
	resp, body := ts.do(t, "GET", "/login", "", "", nil, "")
	for h, want := range map[string]string{
		"Content-Security-Policy":   csp,
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
		"X-Frame-Options":           "DENY",
		"X-Content-Type-Options":    "nosniff",
		"Cache-Control":             "no-store",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Errorf("login page has inline script or style")
	}
	resp, _ = ts.post(t, "/login", "", url.Values{"username": {"alice"}, "password": {"pw"}})
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("login set %d cookies, want 1", len(cs))
	}
	c := cs[0]
	if c.Name != "__Host-sded_session" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie = %+v, want __Host-, Secure, HttpOnly, SameSite=Strict, Path=/", c)
	}
	if strings.Contains(resp.Header.Get("Location"), "pending-alice") {
		t.Error("session token in a URL")
	}
}

func TestCrossOriginRequestsRefused(t *testing.T) {
	f := baseFake()
	called := false
	f.LoginFn = func(context.Context, string, string, string) (string, model.User, error) {
		called = true
		return "pending-alice", alice, nil
	}
	f.DeleteWorkstationFn = func(context.Context, model.Actor, string) error { called = true; return nil }
	ts := newTestServer(t, f, nil)
	for _, tc := range []struct{ name, header, value, path string }{
		{"cross-site fetch metadata", "Sec-Fetch-Site", "cross-site", "/login"},
		{"foreign origin", "Origin", "https://evil.example", "/login"},
		{"foreign origin on API", "Origin", "https://evil.example", "/api/v1/workstations/w1"},
	} {
		method := "POST"
		if strings.HasPrefix(tc.path, "/api/") {
			method = "DELETE"
		}
		req, _ := http.NewRequest(method, ts.URL+tc.path, strings.NewReader("username=alice&password=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(tc.header, tc.value)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "full-alice"})
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, resp.StatusCode)
		}
	}
	if called {
		t.Error("a cross-origin request reached the service")
	}
}

func TestLoginFlow(t *testing.T) {
	f := baseFake()
	var logins []string
	f.LoginFn = func(_ context.Context, u, p, _ string) (string, model.User, error) {
		logins = append(logins, u)
		switch {
		case u == "locked":
			return "", model.User{}, model.Errorf(model.CodeForbidden, "account locked until 15:04 UTC after repeated failures")
		case u != "alice" || p != "correct horse":
			return "", model.User{}, model.ErrUnauthenticated
		}
		return "pending-alice", alice, nil
	}
	f.VerifyTOTPFn = func(_ context.Context, tok, code, _ string) (string, error) {
		if tok != "pending-alice" || code != "123456" {
			return "", model.FieldError("code", "wrong code")
		}
		return "full-alice", nil
	}
	var loggedOut string
	f.LogoutFn = func(_ context.Context, tok string) error { loggedOut = tok; return nil }
	f.ListProjectsFn = func(context.Context, model.Actor) ([]model.Project, error) { return nil, nil }
	ts := newTestServer(t, f, nil)

	// Wrong password: 400, a message that does not say whether the user
	// exists, the username kept, the password not echoed.
	resp, body := ts.post(t, "/login", "", url.Values{"username": {"alice"}, "password": {"wrong-pass"}})
	if resp.StatusCode != 400 || !strings.Contains(body, "username or password is wrong") || !strings.Contains(body, `value="alice"`) || strings.Contains(body, "wrong-pass") {
		t.Errorf("wrong password: status %d, body lacks message/kept username or echoes password", resp.StatusCode)
	}
	// Lockout is said plainly.
	if resp, body := ts.post(t, "/login", "", url.Values{"username": {"locked"}, "password": {"x"}}); resp.StatusCode != 400 || !strings.Contains(body, "locked until") {
		t.Errorf("lockout: status %d, message missing", resp.StatusCode)
	}
	// Empty fields never reach the service.
	n := len(logins)
	if resp, body := ts.post(t, "/login", "", url.Values{"username": {""}, "password": {"x"}}); resp.StatusCode != 400 || !strings.Contains(body, `data-testid="error-username"`) {
		t.Errorf("empty username: status %d, field error missing", resp.StatusCode)
	}
	if len(logins) != n {
		t.Error("an empty username reached the service")
	}
	// Password right: the second step.
	resp, _ = ts.post(t, "/login", "", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/totp" {
		t.Fatalf("login: status %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The pending session cannot see the home page yet.
	if resp, _ := ts.do(t, "GET", "/", "pending-alice", "", nil, ""); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/totp" {
		t.Errorf("home with pending session: %d to %q, want 303 to /login/totp", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := ts.post(t, "/login/totp", "pending-alice", url.Values{"code": {"000000"}}); resp.StatusCode != 400 || !strings.Contains(body, `data-testid="error-code"`) {
		t.Errorf("wrong code: status %d, want 400 with the error next to the field", resp.StatusCode)
	}
	resp, _ = ts.post(t, "/login/totp", "pending-alice", url.Values{"code": {"123456"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("totp: status %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Value != "full-alice" {
		t.Errorf("totp did not issue the new session token: %v", c)
	}
	if resp, body := ts.do(t, "GET", "/", "full-alice", "", nil, ""); resp.StatusCode != 200 || !strings.Contains(body, "Alice Researcher") || !strings.Contains(body, `data-testid="no-projects"`) {
		t.Errorf("home: status %d, want 200 naming the user with an empty state", resp.StatusCode)
	}
	resp, _ = ts.post(t, "/logout", "full-alice", nil)
	if resp.StatusCode != 303 || loggedOut != "full-alice" {
		t.Errorf("logout: status %d, service saw %q", resp.StatusCode, loggedOut)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %v", c)
	}
}

func TestEnrolment(t *testing.T) {
	f := baseFake()
	unenrolled := alice
	unenrolled.TOTPEnrolled = false
	f.AuthenticateFn = func(context.Context, string) (model.Session, model.User, error) {
		return model.Session{UserID: alice.ID, MFAPending: true}, unenrolled, nil
	}
	f.BeginTOTPFn = func(context.Context, string) (string, string, error) {
		return "JBSWY3DPEHPK3PXPJBSWY3DP", "otpauth://totp/sded:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=sded", nil
	}
	f.ConfirmTOTPFn = func(_ context.Context, _, code, _ string) (string, []string, error) {
		if code != "654321" {
			return "", nil, model.FieldError("code", "wrong")
		}
		return "full-alice", []string{"aaaa-bbbb", "cccc-dddd"}, nil
	}
	ts := newTestServer(t, f, nil)
	if resp, _ := ts.do(t, "GET", "/login/totp", "p", "", nil, ""); resp.Header.Get("Location") != "/login/enrol" {
		t.Errorf("unenrolled user sent to %q, want /login/enrol", resp.Header.Get("Location"))
	}
	resp, body := ts.do(t, "GET", "/login/enrol", "p", "", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `src="data:image/png;base64,`) || !strings.Contains(body, "JBSW Y3DP") {
		t.Errorf("enrol page: status %d, want QR image and grouped key", resp.StatusCode)
	}
	if resp, body := ts.post(t, "/login/enrol", "p", url.Values{"code": {"111111"}}); resp.StatusCode != 400 || !strings.Contains(body, `data-testid="error-code"`) {
		t.Errorf("wrong enrolment code: status %d", resp.StatusCode)
	}
	resp, body = ts.post(t, "/login/enrol", "p", url.Values{"code": {"654321"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "aaaa-bbbb") || !strings.Contains(body, "shown only now") {
		t.Errorf("confirm: status %d, recovery codes not shown", resp.StatusCode)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Value != "full-alice" {
		t.Errorf("confirm did not issue the new session token: %v", c)
	}
}

// TestErrorStatus checks the one mapping from domain error codes to HTTP
// statuses, and that internal details never reach the client.
func TestErrorStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{model.FieldError("name", "bad"), 400},
		{model.ErrNotFound, 404},
		{model.ErrAlreadyExists, 409},
		{model.ErrConflict, 409},
		{model.ErrForbidden, 403},
		{model.ErrUnauthenticated, 401},
		{model.ErrTooLarge, 413},
		{model.ErrUnavailable, 503},
		{model.ErrInternal, 500},
		{io.ErrUnexpectedEOF, 500},
	}
	for _, tt := range tests {
		f := baseFake()
		f.GetProjectFn = func(context.Context, model.Actor, string) (model.Project, error) { return model.Project{}, tt.err }
		ts := newTestServer(t, f, nil)
		resp, body := ts.do(t, "GET", "/api/v1/projects/p1", "full-alice", "", nil, "")
		if resp.StatusCode != tt.want {
			t.Errorf("%v: status %d, want %d", tt.err, resp.StatusCode, tt.want)
		}
		if tt.want == 500 && strings.Contains(body, "unexpected EOF") {
			t.Errorf("internal error detail leaked: %s", body)
		}
	}
}

// TestBadAPIInput: malformed or oversized requests get a 4xx with a clear
// message and never reach the service.
func TestBadAPIInput(t *testing.T) {
	f := baseFake()
	called := false
	f.CreateProjectFn = func(context.Context, model.Actor, model.CreateProject) (model.Project, error) {
		called = true
		return model.Project{}, nil
	}
	ts := newTestServer(t, f, nil)
	tests := []struct {
		name, body, ctype string
		want              int
		msg               string
	}{
		{"not JSON", "{nope", "application/json", 400, "malformed JSON"},
		{"unknown field", `{"name":"x","is_admin":true}`, "application/json", 400, "unknown field"},
		{"trailing data", `{"name":"x"} {}`, "application/json", 400, "trailing data"},
		{"wrong content type", `{"name":"x"}`, "text/plain", 400, "application/json"},
		{"too large", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, "application/json", 413, "too large"},
	}
	for _, tt := range tests {
		resp, body := ts.do(t, "POST", "/api/v1/projects", "full-admin", "", strings.NewReader(tt.body), tt.ctype)
		if resp.StatusCode != tt.want || !strings.Contains(body, tt.msg) {
			t.Errorf("%s: status %d body %.200q, want %d containing %q", tt.name, resp.StatusCode, body, tt.want, tt.msg)
		}
	}
	if called {
		t.Error("a bad request reached the service")
	}
}

// TestFormsKeepValues: a form with errors comes back with every entered
// value and the error next to its field.
func TestFormsKeepValues(t *testing.T) {
	f := baseFake()
	f.ListUsersFn = func(context.Context, model.Actor) ([]model.User, error) { return []model.User{alice, admin}, nil }
	f.CreateProjectFn = func(_ context.Context, _ model.Actor, c model.CreateProject) (model.Project, error) {
		return model.Project{}, model.FieldError("slug", "is already taken")
	}
	ts := newTestServer(t, f, nil)
	form := url.Values{"name": {"Diabetes cohort"}, "slug": {"diabetes"}, "approval_ref": {"DAC-1"}, "dsa_ref": {"DSA-9"},
		"starts_at": {"2026-12-01"}, "expires_at": {"not a date"}, "tier": {"3"}, "quota.vcpu": {"4"}, "quota.memory_mib": {"8192"},
		"quota.disk_gib": {"50"}, "quota.workstations": {"two"}, "owner": {alice.ID}}
	resp, body := ts.post(t, "/projects", "full-admin", form)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	for _, want := range []string{`value="Diabetes cohort"`, `value="DAC-1"`, `value="not a date"`, `data-testid="error-expires_at"`, `data-testid="error-quota.workstations"`, `value="u-alice" selected`} {
		if !strings.Contains(body, want) {
			t.Errorf("redisplayed form lacks %s", want)
		}
	}
	form.Set("expires_at", "2027-12-01")
	form.Set("quota.workstations", "2")
	resp, body = ts.post(t, "/projects", "full-admin", form)
	if resp.StatusCode != 400 || !strings.Contains(body, `data-testid="error-slug"`) || !strings.Contains(body, "is already taken") {
		t.Errorf("service field error not shown next to the field (status %d)", resp.StatusCode)
	}
}

func TestStatic(t *testing.T) {
	ts := newTestServer(t, baseFake(), nil)
	if resp, body := ts.do(t, "GET", "/static/sded.css", "", "", nil, ""); resp.StatusCode != 200 || !strings.Contains(body, "--accent") {
		t.Errorf("stylesheet: status %d", resp.StatusCode)
	}
	for _, p := range []string{"/static/", "/static/vendor/", "/static/vendor/.gitignore"} {
		if resp, _ := ts.do(t, "GET", p, "", "", nil, ""); resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404 (no listings, no dotfiles)", p, resp.StatusCode)
		}
	}
}

func TestStatusOfWorkstation(t *testing.T) {
	tests := []struct {
		desired model.DesiredState
		obs     model.ObservedState
		want    workstationView
	}{
		{model.DesiredRunning, "", workstationView{State: "provisioning", Busy: true}},
		{model.DesiredRunning, model.ObservedPending, workstationView{State: "provisioning", Busy: true}},
		{model.DesiredRunning, model.ObservedStopped, workstationView{State: "starting", Busy: true}},
		{model.DesiredRunning, model.ObservedRunning, workstationView{State: "running", Running: true}},
		{model.DesiredStopped, model.ObservedRunning, workstationView{State: "stopping", Busy: true}},
		{model.DesiredStopped, model.ObservedStopped, workstationView{State: "stopped"}},
		{model.DesiredRunning, model.ObservedFailed, workstationView{State: "failed"}},
		{model.DesiredDeleted, model.ObservedRunning, workstationView{State: "deleting", Busy: true}},
	}
	for _, tt := range tests {
		got := statusOfWorkstation(model.Workstation{Desired: tt.desired, Status: model.Observed{State: tt.obs, ObservedAt: time.Now()}})
		if got != tt.want {
			t.Errorf("%s/%s: %+v, want %+v", tt.desired, tt.obs, got, tt.want)
		}
	}
}

func TestBreakGlassSetting(t *testing.T) {
	f := baseFake()
	var put []string
	f.SettingFn = func(context.Context, model.Actor, string) (model.Setting, error) {
		return model.Setting{}, model.ErrNotFound
	}
	f.PutSettingFn = func(_ context.Context, a model.Actor, k, v string) (model.Setting, error) {
		put = append(put, a.UserID+" "+k+"="+v)
		return model.Setting{Key: k, Value: v}, nil
	}
	ts := newTestServer(t, f, nil)
	if resp, body := ts.do(t, "GET", "/admin/settings", "full-admin", "", nil, ""); resp.StatusCode != 200 || !strings.Contains(body, `data-testid="break-glass-state">off`) {
		t.Errorf("settings page: status %d, want break-glass shown off", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/admin/settings/break-glass", "full-admin", url.Values{"break_glass": {"sideways"}}); resp.StatusCode != 400 {
		t.Errorf("bad value: status %d, want 400", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/admin/settings/break-glass", "full-alice", url.Values{"break_glass": {"on"}}); resp.StatusCode != 403 {
		t.Errorf("non-admin: status %d, want 403", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/admin/settings/break-glass", "full-admin", url.Values{"break_glass": {"on"}}); resp.StatusCode != 303 {
		t.Errorf("admin: status %d, want 303", resp.StatusCode)
	}
	if want := []string{"u-admin desktop.break_glass=true"}; !slices.Equal(put, want) {
		t.Errorf("settings written %v, want %v", put, want)
	}
}

func TestAPIToken(t *testing.T) {
	f := baseFake()
	f.ListProjectsFn = func(_ context.Context, a model.Actor) ([]model.Project, error) {
		if a.UserID != alice.ID || a.TokenID != "t1" {
			t.Errorf("service saw actor %+v, want alice through token t1", a)
		}
		return []model.Project{{ID: "p1", Name: "Diabetes"}}, nil
	}
	ts := newTestServer(t, f, nil)
	resp, body := ts.do(t, "GET", "/api/v1/projects", "", "tok-alice-read", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"name":"Diabetes"`) {
		t.Errorf("scoped token: status %d body %s", resp.StatusCode, body)
	}
	for _, tc := range []struct{ name, header string }{
		{"unknown token", "Bearer nope"},
		{"not a bearer", "Basic YWxpY2U6cHc="},
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/projects", nil)
		req.Header.Set("Authorization", tc.header)
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tc.name, resp.StatusCode)
		}
	}
}
