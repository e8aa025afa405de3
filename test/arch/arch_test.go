package arch

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sded/sded"

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// rule says which sded packages a package (by prefix) must not import, and
// whether it must import nothing outside the standard library.
type rule struct {
	prefix     string
	stdOnly    bool
	forbidden  []string // sded package prefixes, relative to the module
	allowedExt []string // non-standard import prefixes allowed besides sded's own
}

var rules = []rule{
	{prefix: "cluster/model", stdOnly: true},
	{prefix: "cluster/state", forbidden: []string{"cluster/fsm", "cluster/reconcile", "ui", "hypervisor", "network", "storage", "cmd"},
		allowedExt: []string{"go.etcd.io/bbolt"}},
	{prefix: "cluster/fsm", forbidden: []string{"cluster/reconcile", "ui", "hypervisor", "network", "storage", "cmd"},
		allowedExt: []string{"go.etcd.io/bbolt", "github.com/hashicorp/raft"}},
	{prefix: "cluster/airlock", forbidden: []string{"cluster/state", "cluster/fsm", "cluster/reconcile", "ui", "hypervisor", "network", "storage", "cmd"}},
	{prefix: "cluster/auditlog", forbidden: []string{"cluster/state", "cluster/fsm", "cluster/reconcile", "ui", "hypervisor", "network", "storage", "cmd"}},
	{prefix: "cluster/reconcile", forbidden: []string{"ui", "hypervisor", "network", "storage", "cmd"}},
	{prefix: "hypervisor", forbidden: []string{"cluster", "ui", "network", "storage", "cmd"}},
	{prefix: "network", forbidden: []string{"cluster", "ui", "hypervisor", "storage", "cmd"}},
	{prefix: "storage", forbidden: []string{"cluster", "ui", "hypervisor", "network", "cmd"}},
	{prefix: "ui", forbidden: []string{"cluster/state", "cluster/fsm", "cluster/reconcile", "hypervisor", "network", "storage", "cmd"}},
}

func matches(rel, prefix string) bool { return rel == prefix || strings.HasPrefix(rel, prefix+"/") }

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, r := range rules {
			if !matches(rel, r.prefix) {
				continue
			}
			for _, imp := range p.Imports {
				if isStd(imp) {
					continue
				}
				if r.stdOnly {
					t.Errorf("%s imports %s: it may import only the standard library", rel, imp)
					continue
				}
				if strings.HasPrefix(imp, module+"/") {
					irel := strings.TrimPrefix(imp, module+"/")
					for _, f := range r.forbidden {
						// ui may import cluster/model and cluster/auth, but not cluster itself.
						if matches(irel, f) {
							t.Errorf("%s imports %s, which ARCHITECTURE.md forbids", rel, irel)
						}
					}
					if (r.prefix == "ui" || r.prefix == "cluster/airlock" || r.prefix == "cluster/auditlog") && irel == "cluster" {
						t.Errorf("%s imports cluster: it declares the interfaces it consumes instead", rel)
					}
					continue
				}
				if r.allowedExt != nil {
					ok := false
					for _, a := range r.allowedExt {
						if strings.HasPrefix(imp, a) {
							ok = true
						}
					}
					if !ok {
						t.Errorf("%s imports %s; allowed outside sded and the standard library: %v", rel, imp, r.allowedExt)
					}
				}
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment (add one in doc.go)", p.ImportPath)
		}
	}
}

func TestTopLevelLayout(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	allowed := map[string]bool{"cmd": true, "hypervisor": true, "network": true, "storage": true, "ui": true,
		"cluster": true, "packaging": true, "go.mod": true, "go.sum": true, "Makefile": true, "README.md": true,
		"docs": true, "test": true, ".ci": true, ".gitignore": true}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(f, "/")
		if !allowed[top] && !seen[top] {
			seen[top] = true
			t.Errorf("top-level entry %q is not in ARCHITECTURE.md's fixed layout", top)
		}
	}
}
