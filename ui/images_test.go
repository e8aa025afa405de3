package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sded/sded/cluster/model"
)

// fakeImages is an Images whose methods call its function fields; an unset
// field fails the call with an internal error naming it.
type fakeImages struct {
	AddImageFn    func(ctx context.Context, actor model.Actor, r ImageRequest) (model.Image, error)
	DeleteImageFn func(ctx context.Context, actor model.Actor, id string) error
	ImportFilesFn func(ctx context.Context, actor model.Actor) (ImportDir, error)
}

var _ Images = (*fakeImages)(nil)

func (f *fakeImages) AddImage(ctx context.Context, actor model.Actor, r ImageRequest) (model.Image, error) {
	if f.AddImageFn == nil {
		return model.Image{}, notSet("AddImage")
	}
	return f.AddImageFn(ctx, actor, r)
}

func (f *fakeImages) DeleteImage(ctx context.Context, actor model.Actor, id string) error {
	if f.DeleteImageFn == nil {
		return notSet("DeleteImage")
	}
	return f.DeleteImageFn(ctx, actor, id)
}

func (f *fakeImages) ImportFiles(ctx context.Context, actor model.Actor) (ImportDir, error) {
	if f.ImportFilesFn == nil {
		return ImportDir{}, notSet("ImportFiles")
	}
	return f.ImportFilesFn(ctx, actor)
}

var debian = model.Image{ID: "i1", Name: "debian-12", Format: model.FormatQCOW2, SHA256: strings.Repeat("a", 64), Size: 2 << 30}

// imageFakes is a service listing one image and an image port whose import
// directory holds two files; added records the requests that reached
// AddImage.
func imageFakes(added *[]ImageRequest) (*fakeService, *fakeImages) {
	f := baseFake()
	f.ListImagesFn = func(context.Context, model.Actor) ([]model.Image, error) { return []model.Image{debian}, nil }
	ims := &fakeImages{
		ImportFilesFn: func(_ context.Context, a model.Actor) (ImportDir, error) {
			return ImportDir{Path: "/var/lib/sded/import", Files: []ImportFile{
				{Name: "ubuntu.qcow2", Size: 3 << 30, Modified: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)},
				{Name: "vmlinuz", Size: 9 << 20, Modified: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)},
			}}, nil
		},
		AddImageFn: func(_ context.Context, a model.Actor, r ImageRequest) (model.Image, error) {
			if a.UserID != admin.ID {
				return model.Image{}, model.ErrForbidden
			}
			*added = append(*added, r)
			switch r.File {
			case "gone.qcow2":
				return model.Image{}, model.FieldError("file", "no file %q in the import directory", r.File)
			case "bad-sum.qcow2":
				return model.Image{}, model.FieldError("sha256", "the file's SHA-256 is %s, not the one expected", strings.Repeat("b", 64))
			case "notimage.txt":
				return model.Image{}, model.FieldError("file", "not a qcow2 or raw image")
			case "broken.qcow2":
				return model.Image{}, model.Errorf(model.CodeInternal, "disk full")
			}
			if r.Name == debian.Name {
				return model.Image{}, &model.Error{Code: model.CodeAlreadyExists, Field: "name", Message: "an image with this name exists"}
			}
			return model.Image{ID: "i2", Name: r.Name, Format: model.FormatQCOW2}, nil
		},
		DeleteImageFn: func(_ context.Context, a model.Actor, id string) error {
			switch id {
			case "i1":
				return model.Errorf(model.CodeConflict, "image debian-12 is in use by workstation w1")
			case "i2":
				return nil
			}
			return model.ErrNotFound
		},
	}
	return f, ims
}

func imageServer(t *testing.T, f *fakeService, ims Images) *testServer {
	t.Helper()
	return newTestServerCfg(t, Config{Version: "test", Images: ims}, f, nil)
}

func TestImagesPage(t *testing.T) {
	var added []ImageRequest
	f, ims := imageFakes(&added)
	ts := imageServer(t, f, ims)
	resp, body := ts.do(t, "GET", "/admin/images", "full-admin", "", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("admin: status %d", resp.StatusCode)
	}
	for _, want := range []string{`data-testid="image-form"`, `data-testid="delete-debian-12"`, `/var/lib/sded/import`,
		`<option value="ubuntu.qcow2">ubuntu.qcow2 (3.0 GiB, 2026-11-20 09:00:00 UTC)</option>`, `<option value="auto" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("admin's page lacks %s", want)
		}
	}
	// A researcher sees the list only.
	resp, body = ts.do(t, "GET", "/admin/images", "full-alice", "", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "debian-12") || strings.Contains(body, "image-form") || strings.Contains(body, "delete-") || strings.Contains(body, "/var/lib/sded/import") {
		t.Errorf("researcher: status %d, want the list without form, delete buttons or import directory", resp.StatusCode)
	}
	// Without the port the admin sees the list and how to use the CLI.
	noPort := newTestServer(t, f, nil)
	resp, body = noPort.do(t, "GET", "/admin/images", "full-admin", "", nil, "")
	if resp.StatusCode != 200 || strings.Contains(body, "image-form") || strings.Contains(body, "delete-") || !strings.Contains(body, "sded image add") {
		t.Errorf("without the port: status %d, want the list only", resp.StatusCode)
	}
	// An unreadable import directory is said on the page, which still works.
	ims2 := *ims
	ims2.ImportFilesFn = func(context.Context, model.Actor) (ImportDir, error) {
		return ImportDir{Path: "/srv/import"}, model.Errorf(model.CodeUnavailable, "import directory missing")
	}
	resp, body = imageServer(t, f, &ims2).do(t, "GET", "/admin/images", "full-admin", "", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="import-error"`) || !strings.Contains(body, "import directory missing") {
		t.Errorf("unreadable import directory: status %d, want the page saying so", resp.StatusCode)
	}
}

func TestImageRegisterForm(t *testing.T) {
	good := url.Values{"name": {"ubuntu-24"}, "file": {"ubuntu.qcow2"}, "format": {"auto"}, "sha256": {strings.Repeat("AB", 32)},
		"kernel": {""}, "initrd": {""}, "cmdline": {""}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, x := range good {
			v[k] = x
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		form       url.Values
		status     int
		field      string // the field whose error is shown ("" for above the form)
		reachesSvc bool
	}{
		{"name with a slash", with("name", "../x"), 400, "name", false},
		{"empty name", with("name", ""), 400, "name", false},
		{"no file", with("file", ""), 400, "file", false},
		{"absolute path", with("file", "/etc/shadow"), 400, "file", false},
		{"path traversal", with("file", "../../etc/shadow"), 400, "file", false},
		{"subdirectory", with("file", "sub/disk.qcow2"), 400, "file", false},
		{"dot file", with("file", ".bash_history"), 400, "file", false},
		{"dot dot", with("file", ".."), 400, "file", false},
		{"control character", with("file", "a\x1bb.qcow2"), 400, "file", false},
		{"backslash", with("file", `..\x`), 400, "file", false},
		{"unknown format", with("format", "vmdk"), 400, "format", false},
		{"bad checksum", with("sha256", "abc"), 400, "sha256", false},
		{"kernel path", with("kernel", "/boot/vmlinuz"), 400, "kernel", false},
		{"initrd without kernel", with("initrd", "initrd.img"), 400, "initrd", false},
		{"cmdline without kernel", with("cmdline", "console=ttyS0"), 400, "cmdline", false},
		{"cmdline with newline", with("kernel", "vmlinuz", "cmdline", "a\nb"), 400, "cmdline", false},
		{"file vanished", with("file", "gone.qcow2"), 400, "file", true},
		{"checksum mismatch", with("file", "bad-sum.qcow2"), 400, "sha256", true},
		{"not an image", with("file", "notimage.txt"), 400, "file", true},
		{"name taken", with("name", "debian-12"), 409, "name", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var added []ImageRequest
			f, ims := imageFakes(&added)
			ts := imageServer(t, f, ims)
			resp, body := ts.post(t, "/admin/images", "full-admin", tt.form)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(body, `data-testid="error-`+tt.field+`"`) {
				t.Errorf("no error next to %s", tt.field)
			}
			if (len(added) > 0) != tt.reachesSvc {
				t.Errorf("reached the image port: %v, want %v", len(added) > 0, tt.reachesSvc)
			}
			// Nothing typed is lost.
			for _, k := range []string{"name", "sha256", "cmdline"} {
				if v := tt.form.Get(k); v != "" && !strings.Contains(body, `value="`+htmlEscape(v)+`"`) {
					t.Errorf("redisplayed form lost %s=%q", k, v)
				}
			}
			if v := tt.form.Get("file"); v != "" && !strings.Contains(body, `<option value="`+htmlEscape(v)+`" selected>`) {
				t.Errorf("redisplayed form lost the chosen file %q", v)
			}
		})
	}

	t.Run("success", func(t *testing.T) {
		var added []ImageRequest
		f, ims := imageFakes(&added)
		ts := imageServer(t, f, ims)
		resp, _ := ts.post(t, "/admin/images", "full-admin", with("kernel", "vmlinuz", "cmdline", " console=ttyS0 ", "format", "qcow2"))
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/images" {
			t.Fatalf("status %d to %q, want 303 to /admin/images", resp.StatusCode, resp.Header.Get("Location"))
		}
		want := []ImageRequest{{Name: "ubuntu-24", File: "ubuntu.qcow2", Format: "qcow2", SHA256: strings.Repeat("ab", 32), Kernel: "vmlinuz", Cmdline: "console=ttyS0"}}
		if d := cmp.Diff(want, added); d != "" {
			t.Errorf("request reaching the port (-want +got):\n%s", d)
		}
	})
	t.Run("server fault", func(t *testing.T) {
		var added []ImageRequest
		f, ims := imageFakes(&added)
		resp, body := imageServer(t, f, ims).post(t, "/admin/images", "full-admin", with("file", "broken.qcow2"))
		if resp.StatusCode != 500 || strings.Contains(body, "disk full") {
			t.Errorf("status %d, want 500 without the internal detail", resp.StatusCode)
		}
	})
	t.Run("non-admin", func(t *testing.T) {
		var added []ImageRequest
		f, ims := imageFakes(&added)
		if resp, _ := imageServer(t, f, ims).post(t, "/admin/images", "full-alice", good); resp.StatusCode != 403 || len(added) > 0 {
			t.Errorf("status %d (port called: %v), want 403 before the port", resp.StatusCode, len(added) > 0)
		}
	})
	t.Run("cross-origin", func(t *testing.T) {
		var added []ImageRequest
		f, ims := imageFakes(&added)
		ts := imageServer(t, f, ims)
		req, _ := http.NewRequest("POST", ts.URL+"/admin/images", strings.NewReader(good.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "full-admin"})
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || len(added) > 0 {
			t.Errorf("status %d (port called: %v), want 403", resp.StatusCode, len(added) > 0)
		}
	})
	t.Run("without the port", func(t *testing.T) {
		var added []ImageRequest
		f, _ := imageFakes(&added)
		if resp, _ := newTestServer(t, f, nil).post(t, "/admin/images", "full-admin", good); resp.StatusCode != 503 {
			t.Errorf("status %d, want 503", resp.StatusCode)
		}
	})
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func TestImageDeleteForm(t *testing.T) {
	var added []ImageRequest
	f, ims := imageFakes(&added)
	var deleted []string
	del := ims.DeleteImageFn
	ims.DeleteImageFn = func(ctx context.Context, a model.Actor, id string) error {
		deleted = append(deleted, a.UserID+" "+id)
		return del(ctx, a, id)
	}
	ts := imageServer(t, f, ims)
	if resp, _ := ts.post(t, "/admin/images/i2/delete", "full-admin", nil); resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/images" {
		t.Errorf("delete: status %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := ts.post(t, "/admin/images/i1/delete", "full-admin", nil)
	if resp.StatusCode != 409 || !strings.Contains(body, `data-testid="delete-error"`) || !strings.Contains(body, "in use by workstation w1") || !strings.Contains(body, "debian-12") {
		t.Errorf("image in use: status %d, want 409 with the reason above the list", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/admin/images/nope/delete", "full-admin", nil); resp.StatusCode != 404 {
		t.Errorf("unknown image: status %d, want 404", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/admin/images/i2/delete", "full-alice", nil); resp.StatusCode != 403 {
		t.Errorf("non-admin: status %d, want 403", resp.StatusCode)
	}
	if d := cmp.Diff([]string{"u-admin i2", "u-admin i1", "u-admin nope"}, deleted); d != "" {
		t.Errorf("deletes reaching the port (-want +got):\n%s", d)
	}
	if resp, _ := newTestServer(t, f, nil).post(t, "/admin/images/i2/delete", "full-admin", nil); resp.StatusCode != 503 {
		t.Errorf("without the port: status %d, want 503", resp.StatusCode)
	}
}

func TestImagesAPI(t *testing.T) {
	var added []ImageRequest
	f, ims := imageFakes(&added)
	ts := imageServer(t, f, ims)
	type apiErr struct {
		Error model.Error `json:"error"`
	}
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"created", `{"name":"ubuntu-24","file":"ubuntu.qcow2","format":"auto"}`, 201, ""},
		{"unknown field", `{"name":"x","file":"a","path":"/etc/shadow"}`, 400, ""},
		{"absolute path", `{"name":"x","file":"/etc/shadow"}`, 400, "file"},
		{"traversal in kernel", `{"name":"x","file":"a.qcow2","kernel":"../vmlinuz"}`, 400, "kernel"},
		{"bad name", `{"name":"-x","file":"a.qcow2"}`, 400, "name"},
		{"checksum mismatch", `{"name":"x","file":"bad-sum.qcow2"}`, 400, "sha256"},
		{"name taken", `{"name":"debian-12","file":"ubuntu.qcow2"}`, 409, "name"},
	}
	for _, tt := range tests {
		resp, body := ts.do(t, "POST", "/api/v1/images", "full-admin", "", strings.NewReader(tt.body), "application/json")
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d body %s, want %d", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		if tt.status >= 400 {
			var e apiErr
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Field != tt.field || e.Error.Message == "" {
				t.Errorf("%s: error %s, want one naming field %q", tt.name, body, tt.field)
			}
		} else if !strings.Contains(body, `"name":"ubuntu-24"`) {
			t.Errorf("%s: body %s lacks the image", tt.name, body)
		}
	}
	if d := cmp.Diff([]string{"ubuntu.qcow2", "bad-sum.qcow2", "ubuntu.qcow2"}, fileNames(added)); d != "" {
		t.Errorf("requests reaching the port (-want +got):\n%s", d)
	}
	if resp, _ := ts.do(t, "DELETE", "/api/v1/images/i2", "full-admin", "", nil, ""); resp.StatusCode != 204 {
		t.Errorf("delete: status %d, want 204", resp.StatusCode)
	}
	if resp, body := ts.do(t, "DELETE", "/api/v1/images/i1", "full-admin", "", nil, ""); resp.StatusCode != 409 || !strings.Contains(body, "in use") {
		t.Errorf("delete in use: status %d body %s, want 409", resp.StatusCode, body)
	}
	resp, body := ts.do(t, "GET", "/api/v1/images/import", "full-admin", "", nil, "")
	var dir ImportDir
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &dir) != nil || len(dir.Files) != 2 || dir.Path != "/var/lib/sded/import" {
		t.Errorf("import listing: status %d body %s", resp.StatusCode, body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/images", `{"name":"x","file":"a.qcow2"}`}, {"DELETE", "/api/v1/images/i2", ""}, {"GET", "/api/v1/images/import", ""},
	} {
		if resp, _ := ts.do(t, c.method, c.path, "full-alice", "", strings.NewReader(c.body), "application/json"); resp.StatusCode != 403 {
			t.Errorf("non-admin %s %s: status %d, want 403", c.method, c.path, resp.StatusCode)
		}
		if resp, _ := newTestServer(t, f, nil).do(t, c.method, c.path, "full-admin", "", strings.NewReader(c.body), "application/json"); resp.StatusCode != 503 {
			t.Errorf("without the port %s %s: status %d, want 503", c.method, c.path, resp.StatusCode)
		}
	}
}

func fileNames(rs []ImageRequest) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.File)
	}
	return out
}

func TestCheckImportName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"debian-12.qcow2", true}, {"disk image (v2).raw", true}, {"ünïcode.img", true}, {"-leading-dash.img", true},
		{"", false}, {".", false}, {"..", false}, {".hidden", false}, {"../x", false}, {"a/b", false}, {"/etc/shadow", false},
		{`a\b`, false}, {"tab\tname", false}, {"nl\nname", false}, {"nul\x00name", false}, {"del\x7fname", false},
		{"bad\xffutf8", false}, {"disk\u202egmi.qcow2", false}, {"zero\u200bwidth", false}, {strings.Repeat("a", 256), false}, {strings.Repeat("a", 255), true},
	} {
		err := CheckImportName("file", tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckImportName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && model.AsError(err).Field != "file" {
			t.Errorf("CheckImportName(%q): error names field %q, want file", tt.name, model.AsError(err).Field)
		}
	}
}
