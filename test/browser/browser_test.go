package browser

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/testenv"
	"github.com/sded/sded/ui"
)

// artifacts is where screenshots go (gitignored).
var artifacts = filepath.Join("..", "artifacts")

// startVNC runs QEMU with no disk and its VNC server on a unix socket: the
// guest's console shows SeaBIOS and "No bootable device". It returns the
// socket path.
func startVNC(t testing.TB) string {
	t.Helper()
	qemu := testenv.RequireCommand(t, "qemu-system-x86_64")
	dir := t.TempDir()
	sock := filepath.Join(dir, "vnc.sock")
	cmd := exec.Command(qemu, "-machine", "accel=tcg", "-m", "64", "-display", "none", "-nic", "none",
		"-vnc", "unix:"+sock, "-no-reboot")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for range 100 {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("qemu's VNC socket did not appear: %s", stderr.String())
	return ""
}

// unixDialer dials every workstation's console at one socket.
type unixDialer string

func (d unixDialer) DialConsole(ctx context.Context, _ string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, "unix", string(d))
}

// startServer serves the UI over TLS with a self-signed certificate made by
// ui.EnsureSelfSigned, as sded does at init, and returns its base URL.
func startServer(t testing.TB, svc ui.Service, d ui.DesktopDialer) string {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := ui.EnsureSelfSigned(cert, key, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := ui.TLSConfig(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logw io.Writer = io.Discard
	if testing.Verbose() {
		logw = os.Stderr
	}
	srv := &http.Server{
		Handler:           ui.New(ui.Config{Version: "browser-test"}, svc, d, slog.New(slog.NewTextHandler(logw, nil))),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// newBrowser starts headless Chromium with a fresh profile; everything done
// with the context must finish within timeout (90 s when zero).
func newBrowser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	chromium := testenv.RequireCommand(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), // the test's self-signed certificate
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx
		t.Fatalf("starting chromium: %v", err)
	}
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelT)
	return ctx
}

func saveArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifacts, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// variance is the variance of the pixels' luminance: near zero for a blank
// (single-colour) image.
func variance(t testing.TB, data []byte) float64 {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decoding screenshot: %v", err)
	}
	var sum, sq, n float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += l
			sq += l * l
			n++
		}
	}
	mean := sum / n
	return sq/n - mean*mean
}

func TestLoginWorkstationDesktop(t *testing.T) {
	sock := startVNC(t)
	svc := newMemService(3 * time.Second)
	alice := svc.addUser("alice", "Alice Researcher", "correct horse battery", false)
	svc.addUser("admin", "Ada Admin", "admin password 1", true)
	project := svc.addProject("diabetes", 3, alice.ID)
	base := startServer(t, svc, unixDialer(sock))
	desktopFlow(t, flow{
		base: base, username: "alice", password: "correct horse battery", projectID: project.ID, slug: "diabetes",
		shot:  "desktop.png",
		audit: func(action string) []model.AuditEvent { return svc.events(action) },
	})
}

// flow is one run of the browser journey against a server.
type flow struct {
	base, username, password, projectID, slug string
	shot                                      string // screenshot file name under test/artifacts
	// created is told the new workstation's page path (the reconciler's cue
	// when the test plays it).
	created func(path string)
	// audit returns the audit events of an action.
	audit func(action string) []model.AuditEvent
	// timeout bounds the whole journey (90 s when zero).
	timeout time.Duration
	// ready, if set, blocks until the guest console shows what the
	// screenshot should (the real guest's shell prompt).
	ready func()
}

// desktopFlow signs in for the first time (password, TOTP enrolment with a
// code computed from the key on the page, recovery codes), signs out and in
// again with a TOTP code, creates a workstation and watches its progress,
// opens its desktop and checks a screenshot of the guest console, then leaves
// and checks the desktop session was audited with its duration.
func desktopFlow(t *testing.T, f flow) {
	testenv.RequireFile(t, filepath.Join("..", "..", "ui", "static", "vendor", "novnc", "core", "rfb.js"),
		"run ui/assets/fetch.sh (part of make deps) to fetch noVNC, then rebuild")
	ctx := newBrowser(t, f.timeout)
	base, project := f.base, struct{ ID string }{f.projectID}
	projectRow := `[data-testid=project-` + f.slug + `]`
	type css = chromedp.CSS
	login := func(password string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(css(`[data-testid=input-username]`)),
			chromedp.SendKeys(css(`[data-testid=input-username]`), f.username),
			chromedp.SendKeys(css(`[data-testid=input-password]`), password),
			chromedp.Click(css(`[data-testid=login-submit]`)),
		)
	}

	// 1. First login: password, then TOTP enrolment with a code computed
	// from the key the page shows.
	if err := chromedp.Do(ctx, login(f.password), chromedp.WaitVisible(css(`[data-testid=totp-secret]`))); err != nil {
		t.Fatalf("login and enrolment page: %v", err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=totp-secret]`)))
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.ReplaceAll(secret, " ", "")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`[data-testid=input-code]`), totpCode(secret, stepAt(time.Now()))),
		chromedp.Click(css(`[data-testid=enrol-submit]`)),
		chromedp.WaitVisible(css(`[data-testid=recovery-codes]`)),
	); err != nil {
		t.Fatalf("enrolment: %v", err)
	}
	codes, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=recovery-codes]`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.Fields(codes)) < 3 {
		t.Errorf("recovery codes not shown: %q", codes)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid=continue]`)),
		chromedp.WaitVisible(css(projectRow)),
	); err != nil {
		t.Fatalf("home page after enrolment: %v", err)
	}

	// 2. Sign out and in again with a TOTP code (the next step's: the
	// enrolment's code may not be replayed).
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid=logout]`)),
		chromedp.WaitVisible(css(`[data-testid=login-form]`)),
		login(f.password),
		chromedp.WaitVisible(css(`[data-testid=totp-form]`)),
		chromedp.SendKeys(css(`[data-testid=input-code]`), totpCode(secret, stepAt(time.Now())+1)),
		chromedp.Click(css(`[data-testid=totp-submit]`)),
		chromedp.WaitVisible(css(projectRow)),
	); err != nil {
		t.Fatalf("login with TOTP: %v", err)
	}

	// 3. Create a workstation; its page shows progress while it provisions,
	// then the desktop link.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/projects/"+project.ID),
		chromedp.WaitVisible(css(`[data-testid=workstation-form]`)),
		chromedp.SendKeys(css(`[data-testid=workstation-form] [data-testid=input-name]`), "analysis-1"),
		chromedp.SetValue(css(`[data-testid=workstation-form] [data-testid=input-flavour]`), "small"),
		chromedp.Click(css(`[data-testid=workstation-submit]`)),
		chromedp.WaitVisible(css(`[data-testid=ws-progress]`)),
	); err != nil {
		t.Fatalf("creating the workstation: %v", err)
	}
	if progress, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		saveArtifact(t, "provisioning-"+f.shot, progress)
	}
	if f.created != nil {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		f.created(loc)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`[data-testid=open-desktop]:not(.hidden)`))); err != nil {
		t.Fatalf("workstation never became ready: %v", err)
	}

	// 4. Open the desktop: noVNC through sded's proxy to the guest console.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid=open-desktop]`)),
		chromedp.WaitVisible(css(`#desktop-state[data-state=connected]`)),
	); err != nil {
		t.Fatalf("opening the desktop: %v", err)
	}
	if f.ready != nil {
		f.ready()
	}
	if err := chromedp.Do(ctx, chromedp.Sleep(4*time.Second)); err != nil { // let the console draw and updates arrive
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(css(`[data-testid=desktop-screen]`), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := saveArtifact(t, f.shot, shot)
	v := variance(t, shot)
	t.Logf("desktop screenshot %s: luminance variance %.1f", p, v)
	if v < 50 {
		t.Errorf("desktop screenshot looks blank (variance %.1f)", v)
	}

	// 5. Leaving the desktop closes the session, audited with its duration.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(f.audit("desktop.close")) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if o, c := f.audit("desktop.open"), f.audit("desktop.close"); len(o) != 1 || len(c) != 1 || c[0].Details["duration"] == "" {
		t.Errorf("desktop audit: %d opens, %d closes (%v), want one of each with a duration", len(o), len(c), c)
	}
}
