package view

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/a-h/templ"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var layout = Layout{Title: "T", User: "Alice", Version: "v1"}

// pages renders every page with a representative view model, including
// errors and empty states.
var pages = map[string]templ.Component{
	"login_error": Login(Layout{Title: "Sign in"}, Form{Values: map[string]string{"username": "alice"},
		Errors: map[string]string{"password": "Enter your password."}, Error: "The username or password is wrong."}),
	"enrol":      EnrolPage(Layout{Title: "Enrol"}, Enrol{QR: "data:image/png;base64,AAAA", Secret: "ABCD EFGH"}),
	"recovery":   Recovery(Layout{Title: "Codes"}, []string{"aaaa-bbbb", "cccc-dddd"}),
	"home_empty": HomePage(layout, Home{Name: "Alice"}),
	"project": ProjectPage(layout, ProjectDetail{ID: "p1", Name: "Diabetes", State: "active", Tier: "3", CanManage: true,
		CanCreateWorkstation: true, Members: []MemberRow{{UserID: "u1", Name: "Alice", Role: "owner"}},
		Workstations:    []WorkstationRow{{ID: "w1", Name: "ws", State: "provisioning", Busy: true}},
		WorkstationForm: Form{Values: map[string]string{"name": "x y"}, Errors: map[string]string{"name": "bad name"}},
		Roles:           []Option{{"owner", "owner"}}, Images: []Option{{"i1", "Debian"}}, Flavours: []Option{{"small", "small"}},
		Schedule: "nightly shutdown 22:00 Europe/London", CanSchedule: true,
		ScheduleForm: Form{Values: map[string]string{"schedule.nightly_shutdown": "22:00", "schedule.time_zone": "Europe/Londn", "schedule.idle_stop_after": "2h"},
			Errors: map[string]string{"schedule.time_zone": "unknown time zone"}}}),
	"workstation_busy": WorkstationPage(Layout{Title: "ws", User: "Alice", Refresh: 5, Scripts: []string{"/static/status.js"}},
		WorkstationRow{ID: "w1", Name: "ws", ProjectID: "p1", ProjectName: "Diabetes", State: "provisioning", Busy: true, Desired: "running"}),
	"desktop":          DesktopPage(Layout{Title: "Desktop", User: "Alice", Scripts: []string{"/static/desktop.js"}}, Desktop{WorkstationID: "w1", Name: "ws", NoVNC: true}),
	"desktop_no_novnc": DesktopPage(layout, Desktop{WorkstationID: "w1", Name: "ws"}),
	"users":            UsersPage(Layout{Title: "Users", User: "Ada", Admin: true}, Users{Rows: []UserRow{{ID: "u1", Username: "alice", Name: "Alice"}}}),
	"audit_empty":      AuditPage(Layout{Title: "Audit", User: "Ada", Admin: true}, Audit{Filter: Form{Values: map[string]string{"outcome": "denied"}}}),
	"images_manage": ImagesPage(Layout{Title: "Images", User: "Ada", Admin: true}, Images{Manage: true, ImportDir: "/var/lib/sded/import",
		Rows:        []ImageRow{{ID: "i1", Name: "debian-12", Format: "qcow2", Size: "2.0 GiB", SHA256: "ab", Created: "2026-11-22", DirectBoot: true}},
		DeleteError: "image debian-12 is in use by workstation w1",
		Files:       []Option{{"ubuntu.qcow2", "ubuntu.qcow2 (3.0 GiB)"}},
		Form: Form{Values: map[string]string{"name": "ubuntu", "file": "gone.qcow2", "format": "auto"},
			Errors: map[string]string{"file": "no file \"gone.qcow2\" in the import directory"}}}),
	"images_readonly": ImagesPage(layout, Images{Rows: []ImageRow{{ID: "i1", Name: "debian-12", Format: "qcow2"}}}),
	"settings":        SettingsPage(Layout{Title: "Settings", User: "Ada", Admin: true}, Settings{BreakGlass: true, ChangedBy: "user:u1", ChangedAt: "2026-11-22"}),
	"error":           ErrorPage(Layout{Title: "Error"}, ErrorView{Status: 404, Message: "page not found"}),
}

var (
	inlineScript = regexp.MustCompile(`<script(?:[^>]*)>[^<]`)
	inlineStyle  = regexp.MustCompile(`<style|\sstyle=|\son[a-z]+=`)
	inputID      = regexp.MustCompile(`<(?:input|select|textarea)[^>]*\sid="([^"]+)"`)
)

// TestPages compares every page with its golden file (go test -update
// rewrites them) and checks what the CSP and accessibility need: no inline
// script, style or event handler, and a label for every form control.
func TestPages(t *testing.T) {
	for name, c := range pages {
		var buf bytes.Buffer
		if err := c.Render(context.Background(), &buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		html := buf.Bytes()
		if inlineScript.Match(html) || inlineStyle.Match(html) {
			t.Errorf("%s: inline script, style or event handler (the CSP forbids them)", name)
		}
		for _, m := range inputID.FindAllSubmatch(html, -1) {
			if !bytes.Contains(html, []byte(`for="`+string(m[1])+`"`)) {
				t.Errorf("%s: control #%s has no label", name, m[1])
			}
		}
		golden := filepath.Join("testdata", name+".html")
		if *update {
			if err := os.WriteFile(golden, html, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%s: %v (run go test -update)", name, err)
		}
		if !bytes.Equal(html, want) {
			t.Errorf("%s: rendered page differs from %s (run go test -update and review the diff)", name, golden)
		}
	}
}
