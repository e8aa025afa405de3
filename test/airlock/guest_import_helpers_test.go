package airlocktest

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/sded/sded/cluster/model"
)

// waitWorkstation waits until the workstation called name reports the
// observed state want and returns it.
func (d *daemon) waitWorkstation(as, project, name string, want model.ObservedState, within time.Duration) model.Workstation {
	d.t.Helper()
	var last model.Workstation
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(time.Second) {
		var ws []model.Workstation
		out := d.must("", "workstation", "list", "--as", as, "--json", project)
		if err := json.Unmarshal([]byte(out), &ws); err != nil {
			d.t.Fatalf("workstation list: %v: %s", err, out)
		}
		for _, w := range ws {
			if w.Name != name {
				continue
			}
			last = w
			if w.Status.State == want {
				return w
			}
			if w.Status.State == model.ObservedFailed {
				d.t.Fatalf("workstation %s failed: %s", name, w.Status.Reason)
			}
		}
	}
	d.t.Fatalf("workstation %s is %q (%s), not %q, after %s", name, last.Status.State, last.Status.Reason, want, within)
	return model.Workstation{}
}

// stagedFiles counts the files in a project's part of the daemon's staged
// airlock store (what an upload leaves on the host).
func (d *daemon) stagedFiles(project string) int {
	n := 0
	filepath.WalkDir(filepath.Join(d.dir, "data", "volumes", "staged", project), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// projectID returns the ID of the project with the given slug.
func (d *daemon) projectID(slug string) string {
	d.t.Helper()
	var ps []model.Project
	out := d.must("", "project", "list", "--as", "admin", "--json")
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		d.t.Fatalf("project list: %v: %s", err, out)
	}
	for _, p := range ps {
		if p.Slug == slug {
			return p.ID
		}
	}
	d.t.Fatalf("no project %s in %s", slug, out)
	return ""
}
