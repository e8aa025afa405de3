package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/testenv"
)

// freeTCP returns a loopback address with a free port.
func freeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testDaemon is a real `sded serve` running in the test process on a fresh
// data directory, and an admin signed in to its HTTPS interface.
type testDaemon struct {
	t       *testing.T
	cfg     *Config
	base    string
	web     *http.Client
	dataDir string
}

func startTestDaemon(t *testing.T) *testDaemon {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireLibvirt(t)
	testenv.RequireCommand(t, "qemu-img")
	testenv.LockHost(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sded.conf")
	text := fmt.Sprintf("[node]\nid = images-test\ndata_dir = %s/data\n[cluster]\nbind = %s\n[ui]\nlisten = %s\n"+
		"[hypervisor]\ndomain_type = qemu\n[network]\npool = 10.78.0.0/16\n[flavour.small]\nvcpu = 1\nmemory = 256MiB\ndisk = 1GiB\n",
		dir, freeTCP(t), freeTCP(t))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	d := &testDaemon{t: t, cfg: cfg, base: "https://" + cfg.UI.Listen, dataDir: cfg.Node.DataDir}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	logw := &lockedWriter{}
	go func() { errc <- serve(ctx, conf, logw, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("sded serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("sded did not stop")
		}
		if t.Failed() {
			t.Logf("sded log:\n%s", logw.String())
		}
	})
	// The local socket, then the first admin through it (as `sded user add`).
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(socketPath(cfg)); err == nil {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("sded serve stopped: %v\n%s", err, logw.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("sded did not start:\n%s", logw.String())
		}
	}
	lc, err := newLocalClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.call(ctx, "/v1/user/add", userAddReq{Username: "admin", DisplayName: "Ada Admin", Password: "admin password 123", Admin: true}, nil); err != nil {
		t.Fatalf("adding the admin: %v", err)
	}
	d.login("admin", "admin password 123")
	return d
}

// lockedWriter is the daemon's log, written by its goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}

// login signs in over HTTPS: password, then TOTP enrolment with the code
// computed from the key the page shows. The session cookie stays in the
// client's jar.
func (d *testDaemon) login(user, password string) {
	t := d.t
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(d.dataDir, "ui-tls", "cert.pem"))
	for end := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		pem, err = os.ReadFile(filepath.Join(d.dataDir, "ui-tls", "cert.pem"))
	}
	if err != nil {
		t.Fatalf("the UI's certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	jar, _ := cookiejar.New(nil)
	d.web = &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	signIn(t, d.web, d.base, user, password)
}

// signIn signs user in over HTTPS with hc (which must have a cookie jar):
// password, then TOTP enrolment with the code computed from the key the
// page shows. The full session stays in the jar.
func signIn(t *testing.T, hc *http.Client, base, user, password string) {
	t.Helper()
	var resp *http.Response
	var err error
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err = hc.PostForm(base+"/login", url.Values{"username": {user}, "password": {password}})
		if err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("signing in: %v", err)
	}
	page := body(resp)
	m := regexp.MustCompile(`data-testid="totp-secret">([A-Z2-7 ]+)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("signing in: %s at %s, no TOTP key on the page", resp.Status, resp.Request.URL)
	}
	code, err := auth.TOTPCode(strings.ReplaceAll(m[1], " ", ""), auth.TOTPStep(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.PostForm(base+"/login/enrol", url.Values{"code": {code}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("enrolling TOTP: %v %v", err, resp)
	}
	body(resp)
}

func body(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// api sends a JSON request with the session and decodes a 2xx answer into
// out; it returns the status and, for an error, the API's error.
func (d *testDaemon) api(method, path string, in, out any) (int, model.Error) {
	d.t.Helper()
	var rd io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.base+path, rd)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.web.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	b := body(resp)
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error model.Error `json:"error"`
		}
		json.Unmarshal([]byte(b), &e)
		return resp.StatusCode, e.Error
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			d.t.Fatalf("%s %s: decoding %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, model.Error{}
}

// TestImagesThroughDaemon registers and deletes images through a real
// daemon's HTTPS API and form: real qcow2 files checked by qemu-img,
// copies under storage.dir, the replicated state and its audit log. Every
// way out of the import directory is refused and a failed registration
// leaves nothing behind.
func TestImagesThroughDaemon(t *testing.T) {
	d := startTestDaemon(t)
	imp := d.cfg.Storage.ImageImportDir
	if st, err := os.Stat(imp); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("import directory %s: %v, %v; want 0700, made by the daemon", imp, st, err)
	}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(imp, "disk.qcow2"), "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v %s", err, out)
	}
	for name, text := range map[string]string{"vmlinuz": "a kernel", "initrd.img": "an initrd"} {
		if err := os.WriteFile(filepath.Join(imp, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:$y$secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(imp, "shadow.img")); err != nil {
		t.Fatal(err)
	}
	imagesDir := filepath.Join(d.cfg.Storage.Dir, "images")
	listImages := func() []string {
		ents, _ := os.ReadDir(imagesDir)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}

	var dir struct {
		Path  string `json:"path"`
		Files []struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		} `json:"files"`
	}
	if st, e := d.api("GET", "/api/v1/images/import", nil, &dir); st != 200 {
		t.Fatalf("listing the import directory: %d %v", st, e)
	}
	var names []string
	for _, f := range dir.Files {
		names = append(names, f.Name)
	}
	if dir.Path != imp || strings.Join(names, ",") != "disk.qcow2,initrd.img,vmlinuz" {
		t.Errorf("import listing %s %v, want %s with disk.qcow2, initrd.img, vmlinuz (no symlink)", dir.Path, names, imp)
	}

	// Refused: each names its field; nothing is copied.
	for _, tc := range []struct {
		name  string
		req   map[string]string
		code  int
		field string
	}{
		{"symlink out", map[string]string{"name": "x1", "file": "shadow.img"}, 400, "file"},
		{"absolute path", map[string]string{"name": "x1", "file": secret}, 400, "file"},
		{"traversal", map[string]string{"name": "x1", "file": "../../../etc/shadow"}, 400, "file"},
		{"kernel out", map[string]string{"name": "x1", "file": "disk.qcow2", "kernel": "/boot/vmlinuz"}, 400, "kernel"},
		{"missing", map[string]string{"name": "x1", "file": "nope.qcow2"}, 400, "file"},
		{"checksum mismatch", map[string]string{"name": "x1", "file": "disk.qcow2", "sha256": strings.Repeat("0", 64)}, 400, "sha256"},
		{"wrong format", map[string]string{"name": "x1", "file": "disk.qcow2", "format": "raw"}, 400, "file"},
		{"not an image (qcow2 wanted)", map[string]string{"name": "x1", "file": "vmlinuz", "format": "qcow2"}, 400, "file"},
		{"bad name", map[string]string{"name": "../x", "file": "disk.qcow2"}, 400, "name"},
	} {
		st, e := d.api("POST", "/api/v1/images", tc.req, nil)
		if st != tc.code || e.Field != tc.field {
			t.Errorf("%s: %d %v (field %q), want %d on %q", tc.name, st, e, e.Field, tc.code, tc.field)
		}
	}
	if got := listImages(); len(got) != 0 {
		t.Errorf("refused registrations left files in %s: %v", imagesDir, got)
	}

	// Registered through the API, with a kernel and initrd for direct boot.
	var img model.Image
	st, e := d.api("POST", "/api/v1/images", map[string]string{"name": "web-img", "file": "disk.qcow2", "format": "auto",
		"kernel": "vmlinuz", "initrd": "initrd.img", "cmdline": "console=ttyS0"}, &img)
	if st != 201 {
		t.Fatalf("registering: %d %v", st, e)
	}
	if img.Format != model.FormatQCOW2 || img.Size != 16<<20 || img.Kernel != filepath.Join(imagesDir, "web-img.kernel") || img.Cmdline != "console=ttyS0" {
		t.Errorf("registered %+v", img)
	}
	if b, err := os.ReadFile(img.Kernel); err != nil || string(b) != "a kernel" {
		t.Errorf("kernel copy: %q, %v", b, err)
	}
	if st, e := d.api("POST", "/api/v1/images", map[string]string{"name": "web-img", "file": "disk.qcow2"}, nil); st != 409 || e.Field != "name" {
		t.Errorf("name taken: %d %v, want 409 on name", st, e)
	}

	// Two requests for one name at once (a double-clicked form): one wins,
	// the other is refused, and the winner keeps its file.
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			st, _ := d.api("POST", "/api/v1/images", map[string]string{"name": "twice", "file": "disk.qcow2"}, nil)
			codes <- st
		}()
	}
	if a, b := <-codes, <-codes; a+b != 201+409 {
		t.Errorf("concurrent registrations of one name: %d and %d, want 201 and 409", a, b)
	}
	if _, err := os.Stat(filepath.Join(imagesDir, "twice.qcow2")); err != nil {
		t.Errorf("the registered image's file: %v", err)
	}

	// Registered through the form (same session, same-origin POST).
	resp, err := d.web.PostForm(d.base+"/admin/images", url.Values{"name": {"form-img"}, "file": {"disk.qcow2"}, "format": {"qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	page := body(resp)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/admin/images" || !strings.Contains(page, `data-testid="image-form-img"`) {
		t.Errorf("form: %s at %s, want the images page listing form-img", resp.Status, resp.Request.URL)
	}
	resp, err = d.web.PostForm(d.base+"/admin/images", url.Values{"name": {"form-img2"}, "file": {"shadow.img"}, "format": {"auto"}, "sha256": {"abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if page := body(resp); resp.StatusCode != 400 || !strings.Contains(page, `data-testid="error-sha256"`) || !strings.Contains(page, `value="form-img2"`) {
		t.Errorf("bad form: %s, want 400 with the error next to the field and the name kept", resp.Status)
	}

	var ims []model.Image
	d.api("GET", "/api/v1/images", nil, &ims)
	if len(ims) != 3 {
		t.Fatalf("images: %+v, want web-img, twice and form-img", ims)
	}
	for _, im := range ims {
		if st, e := d.api("DELETE", "/api/v1/images/"+im.ID, nil, nil); st != 204 {
			t.Errorf("deleting %s: %d %v", im.Name, st, e)
		}
	}
	if st, _ := d.api("DELETE", "/api/v1/images/"+ims[0].ID, nil, nil); st != 404 {
		t.Errorf("deleting again: %d, want 404", st)
	}
	if got := listImages(); len(got) != 0 {
		t.Errorf("deleted images left files in %s: %v", imagesDir, got)
	}
	// The files waiting in the import directory are untouched.
	if _, err := os.Stat(filepath.Join(imp, "disk.qcow2")); err != nil {
		t.Errorf("import file: %v", err)
	}

	// Audited, under the admin.
	var evs []model.AuditEvent
	d.api("GET", "/api/v1/audit?action=image.register&outcome=success", nil, &evs)
	if len(evs) != 3 {
		t.Errorf("image.register events: %d, want 3", len(evs))
	}
	d.api("GET", "/api/v1/audit?action=image.delete&outcome=success", nil, &evs)
	if len(evs) != 3 {
		t.Errorf("image.delete events: %d, want 3", len(evs))
	}

	// `sded image add` still takes any absolute path (root on the node).
	lc, err := newLocalClient(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var cli model.Image
	if err := lc.call(context.Background(), "/v1/image/add", map[string]any{"as": "admin", "Name": "cli-img", "File": filepath.Join(imp, "disk.qcow2"),
		"Kernel": filepath.Join(imp, "vmlinuz")}, &cli); err != nil || cli.Kernel == "" {
		t.Fatalf("sded image add: %+v %v", cli, err)
	}
	if err := lc.call(context.Background(), "/v1/image/add", map[string]any{"as": "admin", "Name": "cli-rel", "File": "disk.qcow2"}, nil); err == nil {
		t.Error("sded image add took a relative path")
	}
	if err := lc.call(context.Background(), "/v1/image/delete", map[string]any{"as": "admin", "Name": "cli-img"}, nil); err != nil {
		t.Errorf("sded image delete: %v", err)
	}
	if got := listImages(); len(got) != 0 {
		t.Errorf("sded image delete left files: %v", got)
	}
}
