package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// fake implements Engine, Directory and System with function fields and
// records what it was asked.
type fake struct {
	mu      sync.Mutex
	ws      []model.Workstation
	reqs    map[string]model.AirlockRequest
	audits  []model.RecordAudit
	calls   []string
	addFile func(name string, body io.Reader) error
}

func newFake() *fake {
	return &fake{ws: []model.Workstation{
		{ID: "w1", ProjectID: "p1", OwnerID: "rita", Name: "rita-1", IP: "10.64.1.10", Desired: model.DesiredRunning},
		{ID: "w2", ProjectID: "p1", OwnerID: "rex", Name: "rex-1", IP: "10.64.1.11", Desired: model.DesiredRunning},
		{ID: "w3", ProjectID: "p1", OwnerID: "gone", Name: "old", IP: "10.64.1.12", Desired: model.DesiredDeleted},
	}, reqs: map[string]model.AirlockRequest{
		"r1": {ID: "r1", ProjectID: "p1", WorkstationID: "w1", CreatedBy: "rita", State: model.AirlockDraft, Title: "mine", RequiredApprovals: 2},
		"r2": {ID: "r2", ProjectID: "p1", WorkstationID: "w2", CreatedBy: "rex", State: model.AirlockDraft, Title: "rex's", RequiredApprovals: 2},
		"r9": {ID: "r9", ProjectID: "p9", WorkstationID: "w9", CreatedBy: "rita", State: model.AirlockDraft, Title: "elsewhere", RequiredApprovals: 2},
	}}
}

func (f *fake) called(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *fake) Create(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error) {
	f.called("create " + actor.UserID + " " + p.ProjectID + " " + p.WorkstationID + " " + string(p.Direction) + " " + p.Title + " / " + p.Context)
	return model.AirlockRequest{ID: "new", ProjectID: p.ProjectID, WorkstationID: p.WorkstationID, CreatedBy: actor.UserID, State: model.AirlockDraft, Title: p.Title}, nil
}
func (f *fake) AddFile(ctx context.Context, actor model.Actor, id, name string, body io.Reader, opt airlock.FileOptions) (model.AirlockRequest, error) {
	f.called("add " + actor.UserID + " " + id + " " + name)
	if f.addFile != nil {
		if err := f.addFile(name, body); err != nil {
			return model.AirlockRequest{}, err
		}
	}
	b, _ := io.ReadAll(body)
	r := f.reqs[id]
	r.Files = append(r.Files, model.AirlockFile{Name: name, Size: int64(len(b)), SHA256: strings.Repeat("a", 64)})
	return r, nil
}
func (f *fake) Submit(ctx context.Context, actor model.Actor, s airlock.Submission) (model.AirlockRequest, error) {
	f.called("submit " + actor.UserID + " " + s.RequestID + " " + s.DisclosureControls + " / " + s.Context)
	if s.DisclosureControls == "" {
		return model.AirlockRequest{}, model.FieldError("disclosure_controls", "are required")
	}
	r := f.reqs[s.RequestID]
	r.State = model.AirlockSubmitted
	return r, nil
}
func (f *fake) Transition(ctx context.Context, actor model.Actor, id string, to model.AirlockState, reason string) (model.AirlockRequest, error) {
	f.called("transition " + actor.UserID + " " + id + " " + string(to))
	r := f.reqs[id]
	r.State = to
	return r, nil
}
func (f *fake) Airlock(ctx context.Context, actor model.Actor, id string) (model.AirlockRequest, error) {
	r, ok := f.reqs[id]
	if !ok {
		return r, model.Errorf(model.CodeNotFound, "airlock request %s not found", id)
	}
	if r.ProjectID != "p1" {
		return r, model.Errorf(model.CodeForbidden, "not a member of project %s", r.ProjectID)
	}
	return r, nil
}
func (f *fake) AirlockRequests(ctx context.Context, actor model.Actor, projectID string) ([]model.AirlockRequest, error) {
	return []model.AirlockRequest{f.reqs["r1"], f.reqs["r2"]}, nil
}
func (f *fake) ProjectWorkstations(ctx context.Context, projectID string) ([]model.Workstation, error) {
	var out []model.Workstation
	for _, w := range f.ws {
		if w.ProjectID == projectID {
			out = append(out, w)
		}
	}
	return out, nil
}
func (f *fake) RecordSystemAudit(ctx context.Context, ev model.RecordAudit) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	f.audits = append(f.audits, ev)
	f.mu.Unlock()
	return nil
}

func newGateway(t *testing.T, f *fake) *Gateway {
	t.Helper()
	g, err := New(Config{Engine: f, Directory: f, System: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func do(t *testing.T, h http.Handler, remote, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

const formType = "application/x-www-form-urlencoded"

func TestRequestsAreBoundBySourceAddress(t *testing.T) {
	f := newFake()
	h := newGateway(t, f).Handler("p1")
	code, body := do(t, h, "10.64.1.10:40000", "POST", "/requests", "title=T1&context=ctx&workstation_id=w2&user_id=rex", "Content-Type", formType)
	if code != http.StatusCreated || !strings.Contains(body, "created request new") {
		t.Fatalf("create = %d %s", code, body)
	}
	// The guest's claims (workstation_id, user_id) are ignored: the address decides.
	if d := cmp.Diff([]string{"create rita p1 w1 export T1 / ctx"}, f.calls); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
	// IPv4-mapped IPv6 source addresses are the same workstation.
	if code, _ := do(t, h, "[::ffff:10.64.1.10]:40000", "GET", "/requests/r1", ""); code != 200 {
		t.Errorf("mapped address = %d", code)
	}
	for name, remote := range map[string]string{
		"unknown address":        "10.64.1.99:1",
		"deleted workstation":    "10.64.1.12:1",
		"host":                   "127.0.0.1:1",
		"garbage":                "nonsense",
		"other project's subnet": "10.64.2.10:1",
	} {
		n := len(f.audits)
		code, body := do(t, h, remote, "GET", "/requests", "")
		if code != http.StatusForbidden || !strings.Contains(body, "refused") {
			t.Errorf("%s: %d %s", name, code, body)
		}
		if len(f.audits) != n+1 || f.audits[n].Action != "access.denied" || f.audits[n].ProjectID != "p1" {
			t.Errorf("%s: refusal not audited: %+v", name, f.audits)
		}
	}
	// Another workstation's request, or another project's, is refused and audited.
	for _, id := range []string{"r2", "r9"} {
		n := len(f.audits)
		if code, body := do(t, h, "10.64.1.10:1", "PUT", "/requests/"+id+"/files/a.csv", "x"); code != http.StatusForbidden {
			t.Errorf("%s: %d %s", id, code, body)
		}
		if len(f.audits) != n+1 || f.audits[n].Details["user_id"] != "rita" {
			t.Errorf("%s: not audited: %+v", id, f.audits)
		}
	}
	// The same request from its own workstation is fine.
	if code, body := do(t, h, "10.64.1.11:1", "PUT", "/requests/r2/files/a.csv", "x"); code != 200 {
		t.Errorf("own request: %d %s", code, body)
	}
	// A listener of another project does not know these workstations at all.
	if code, _ := do(t, newGateway(t, f).Handler("p2"), "10.64.1.10:1", "GET", "/requests", ""); code != http.StatusForbidden {
		t.Errorf("other project's listener = %d", code)
	}
}

func TestEndpoints(t *testing.T) {
	f := newFake()
	h := newGateway(t, f).Handler("p1")
	ws := "10.64.1.10:5000"
	if code, body := do(t, h, ws, "GET", "/", ""); code != 200 || !strings.Contains(body, "curl -T table1.csv http://") || !strings.Contains(body, "rita-1") {
		t.Errorf("usage = %d %s", code, body)
	}
	if code, body := do(t, h, ws, "GET", "/requests", ""); code != 200 || !strings.Contains(body, "r1  draft") || strings.Contains(body, "r2") {
		t.Errorf("list = %d %s", code, body)
	}
	code, body := do(t, h, ws, "GET", "/requests?format=json", "")
	var list []requestView
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != 1 || list[0].ID != "r1" {
		t.Errorf("JSON list = %d %s %v", code, body, err)
	}
	if code, body := do(t, h, ws, "POST", "/requests/r1/files/t.csv", "a,b\n"); code != 200 || !strings.Contains(body, "stored t.csv (4 bytes") {
		t.Errorf("POST raw = %d %s", code, body)
	}
	code, body = do(t, h, ws, "POST", "/requests/r1/submit", `{"disclosure_controls":"rounded","context":"c2"}`, "Content-Type", "application/json", "Accept", "application/json")
	if code != 200 || !strings.Contains(body, `"state":"submitted"`) {
		t.Errorf("submit JSON = %d %s", code, body)
	}
	code, body = do(t, h, ws, "POST", "/requests/r1/submit", "", "Content-Type", formType, "Accept", "application/json")
	var e struct {
		Error model.Error `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e); code != http.StatusBadRequest || e.Error.Field != "disclosure_controls" {
		t.Errorf("submit without statement = %d %s", code, body)
	}
	if code, _ := do(t, h, ws, "POST", "/requests/r1/withdraw", ""); code != 200 {
		t.Errorf("withdraw = %d", code)
	}
	if code, body := do(t, h, ws, "GET", "/nope", ""); code != http.StatusNotFound || !strings.Contains(body, "GET / shows the usage") {
		t.Errorf("unknown = %d %s", code, body)
	}
	f.addFile = func(name string, body io.Reader) error { return io.ErrUnexpectedEOF }
	if code, body := do(t, h, ws, "PUT", "/requests/r1/files/t.csv", "x"); code != 500 || strings.Contains(body, "EOF") {
		t.Errorf("internal error = %d %q (details must stay in the log)", code, body)
	}
}

func TestMultipartNamesAsSent(t *testing.T) {
	f := newFake()
	h := newGateway(t, f).Handler("p1")
	body := "--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../a.csv\"\r\n\r\nx,y\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.csv\"\r\n\r\n1,2\r\n--B--\r\n"
	do(t, h, "10.64.1.10:1", "POST", "/requests/r1/files", body, "Content-Type", "multipart/form-data; boundary=B")
	if d := cmp.Diff([]string{"add rita r1 ../../a.csv", "add rita r1 b.csv"}, f.calls); d != "" {
		t.Errorf("the engine must see the name as sent (-want +got):\n%s", d)
	}
	if code, _ := do(t, h, "10.64.1.10:1", "POST", "/requests/r1/files", "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--B--\r\n", "Content-Type", "multipart/form-data; boundary=B"); code != http.StatusBadRequest {
		t.Errorf("no file part = %d", code)
	}
}

func TestStatusOf(t *testing.T) {
	for code, want := range map[model.ErrorCode]int{
		model.CodeInvalid: 400, model.CodeNotFound: 404, model.CodeAlreadyExists: 409, model.CodeForbidden: 403, model.CodeConflict: 409,
		model.CodeUnauthenticated: 401, model.CodeTooLarge: 413, model.CodeUnavailable: 503, model.CodeInternal: 500, "new": 500,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

func freePort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// TestSetListeners: listeners follow the desired set; a moved project gets
// a new listener, a removed one stops, an unusable address is reported
// without stopping the rest.
func TestSetListeners(t *testing.T) {
	f := newFake()
	g := newGateway(t, f)
	ctx := context.Background()
	lo := netip.MustParseAddr("127.0.0.1")
	a1, a2, a3 := netip.AddrPortFrom(lo, freePort(t)), netip.AddrPortFrom(lo, freePort(t)), netip.AddrPortFrom(lo, freePort(t))
	if err := g.Set(ctx, map[string]netip.AddrPort{"p1": a1, "p2": a2}); err != nil {
		t.Fatal(err)
	}
	get := func(a netip.AddrPort) int {
		resp, err := http.Get("http://" + a.String() + "/")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Loopback is no workstation: refused, but served.
	if get(a1) != http.StatusForbidden || get(a2) != http.StatusForbidden {
		t.Fatalf("listeners not serving")
	}
	err := g.Set(ctx, map[string]netip.AddrPort{"p1": a3, "p3": {}})
	if err == nil || !strings.Contains(err.Error(), "p3") {
		t.Errorf("invalid address not reported: %v", err)
	}
	if get(a1) != 0 || get(a2) != 0 || get(a3) != http.StatusForbidden {
		t.Errorf("after moving p1 and removing p2: %d %d %d", get(a1), get(a2), get(a3))
	}
	if got := g.Addrs(); len(got) != 1 || got["p1"] != a3 {
		t.Errorf("addrs = %v, want p1 on %s", got, a3)
	}
	// Idempotent.
	if err := g.Set(ctx, map[string]netip.AddrPort{"p1": a3}); err != nil {
		t.Fatal(err)
	}
	// An address already in use is an error for that project only.
	ln, _ := net.Listen("tcp", a1.String())
	defer ln.Close()
	if err := g.Set(ctx, map[string]netip.AddrPort{"p1": a3, "p2": a1}); err == nil {
		t.Error("busy address not reported")
	}
	if get(a3) != http.StatusForbidden {
		t.Error("p1 stopped because p2 failed")
	}
	g.Close()
	if get(a3) != 0 {
		t.Error("Close left a listener")
	}
}

func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(ln, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	a, b := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two are open")
	case <-time.After(100 * time.Millisecond):
	}
	a.Close()
	a.Close() // closing twice frees one slot only
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("closing a connection did not free its slot")
	}
	b.Close()
}

// Free text typed after curl -d without encoding still arrives as typed.
func TestFormIsLenient(t *testing.T) {
	for body, want := range map[string]map[string]string{
		"disclosure_controls=rounded to 5; cells <10 suppressed, 100% checked": {"disclosure_controls": "rounded to 5; cells <10 suppressed, 100% checked"},
		"title=T%C3%A9st&context=a+b":                                          {"title": "Tést", "context": "a b"},
		"a=1&&b=&c":                                                            {"a": "1", "b": "", "c": ""},
	} {
		req := httptest.NewRequest("POST", "/requests?title=from+query&format=json", strings.NewReader(body))
		req.Header.Set("Content-Type", formType)
		got, err := form(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := want["title"]; !ok {
			want["title"] = "from query"
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%q (-want +got):\n%s", body, d)
		}
	}
}
