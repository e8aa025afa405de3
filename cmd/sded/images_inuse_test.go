package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/test/testenv"
	"github.com/sded/sded/ui"
)

// TestImageInUseThroughRealService: the web UI's image port over the real
// cluster Service and real volumes (no reconciler, so nothing else on the
// host changes). An image a workstation uses cannot be deleted, from the
// API or the form, and keeps its files; a project owner cannot register
// one, and nothing is copied for them.
func TestImageInUseThroughRealService(t *testing.T) {
	testenv.RequireCommand(t, "qemu-img")
	svc, sys, st := realService(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	adm, err := svc.CreateUser(ctx, sys, model.CreateUser{Username: "admin", DisplayName: "Ada Admin", Admin: true}, "admin password long")
	if err != nil {
		t.Fatal(err)
	}
	a := model.Actor{UserID: adm.ID}
	olive, err := svc.CreateUser(ctx, a, model.CreateUser{Username: "olive", DisplayName: "Olive Owner"}, "olive password long")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := svc.CreateProject(ctx, a, model.CreateProject{Name: "Diabetes", Slug: "diabetes", ApprovalRef: "DAC-1", DSARef: "DSA-1",
		StartsAt: time.Now().Add(-time.Hour), ExpiresAt: time.Now().AddDate(1, 0, 0), Tier: 3,
		Quota: model.Quota{VCPU: 4, MemoryMiB: 4096, DiskGiB: 10, Workstations: 2}, Owners: []string{olive.ID}})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := storage.NewVolumes(storage.VolumesConfig{Root: filepath.Join(t.TempDir(), "volumes"), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	imp := filepath.Join(t.TempDir(), "import")
	if err := os.Mkdir(imp, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(imp, "disk.qcow2"), "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v %s", err, out)
	}
	d := &daemon{svc: svc, store: st, vols: vols, log: logger}
	ts := httptest.NewTLSServer(ui.New(ui.Config{Version: "test", Images: uiImages{d: d, dir: importDir(imp)}}, svc, nil, logger))
	defer ts.Close()
	client := func(user string) *http.Client {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Transport: ts.Client().Transport, Timeout: time.Minute}
		signIn(t, hc, ts.URL, user, user+" password long")
		return hc
	}
	admin, owner := client("admin"), client("olive")
	call := func(hc *http.Client, method, path, in string, out any) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(in))
		if in != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := body(resp)
		if out != nil {
			json.Unmarshal([]byte(b), out)
		}
		return resp.StatusCode, b
	}
	imagesDir := filepath.Dir(vols.ImagePath("x", "qcow2"))
	files := func() int { ents, _ := os.ReadDir(imagesDir); return len(ents) }

	if st, b := call(owner, "POST", "/api/v1/images", `{"name":"mine","file":"disk.qcow2"}`, nil); st != 403 || files() != 0 {
		t.Errorf("owner registering: %d %s, %d files; want 403 and nothing copied", st, b, files())
	}
	var img model.Image
	if st, b := call(admin, "POST", "/api/v1/images", `{"name":"debian","file":"disk.qcow2"}`, &img); st != 201 {
		t.Fatalf("registering: %d %s", st, b)
	}
	ws, err := svc.CreateWorkstation(ctx, model.Actor{UserID: olive.ID}, model.CreateWorkstation{ProjectID: pr.ID, Name: "ws1", ImageID: img.ID, Flavour: "small"})
	if err != nil {
		t.Fatalf("creating a workstation on the image: %v", err)
	}
	if st, b := call(owner, "DELETE", "/api/v1/images/"+img.ID, "", nil); st != 403 {
		t.Errorf("owner deleting: %d %s, want 403", st, b)
	}
	if st, b := call(admin, "DELETE", "/api/v1/images/"+img.ID, "", nil); st != 409 || !strings.Contains(b, ws.ID) {
		t.Errorf("deleting an image in use: %d %s, want 409 naming workstation %s", st, b, ws.ID)
	}
	resp, err := admin.PostForm(ts.URL+"/admin/images/"+img.ID+"/delete", nil)
	if err != nil {
		t.Fatal(err)
	}
	if page := body(resp); resp.StatusCode != 409 || !strings.Contains(page, `data-testid="delete-error"`) || !strings.Contains(page, `data-testid="image-debian"`) {
		t.Errorf("form delete of an image in use: %s, want 409 with the reason above the list", resp.Status)
	}
	if _, err := os.Stat(img.Path); err != nil || files() != 1 {
		t.Errorf("the image in use lost its file: %v (%d files)", err, files())
	}
	if ims, err := svc.ListImages(ctx, a); err != nil || len(ims) != 1 {
		t.Errorf("images after the refused delete: %v %v", ims, err)
	}
}
