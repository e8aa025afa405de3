package ui

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sded/sded/cluster/model"
)

// recordedActions reads the Go source under dirs (tests excluded) for the
// audit actions it writes as string literals: the first argument of
// auditAs, a value assigned to a variable named action, and the Action
// field of a RecordAudit or AuditEvent literal.
func recordedActions(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	found := map[string]string{} // action -> where
	lit := func(e ast.Expr) (string, bool) {
		bl, ok := e.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(bl.Value)
		return s, err == nil
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				add := func(e ast.Expr) {
					if s, ok := lit(e); ok {
						found[s] = fset.Position(e.Pos()).String()
					}
				}
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "auditAs" && len(n.Args) > 0 {
						add(n.Args[0])
					}
				case *ast.AssignStmt:
					for i, l := range n.Lhs {
						if id, ok := l.(*ast.Ident); ok && id.Name == "action" && i < len(n.Rhs) {
							add(n.Rhs[i])
						}
					}
				case *ast.CompositeLit:
					name := ""
					switch ty := n.Type.(type) {
					case *ast.SelectorExpr:
						name = ty.Sel.Name
					case *ast.Ident:
						name = ty.Name
					}
					if name != "RecordAudit" && name != "AuditEvent" {
						return true
					}
					for _, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Action" {
								add(kv.Value)
							}
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatalf("reading %s: %v", dir, err)
		}
	}
	return found
}

// TestAuditActionsComplete: the audit filter offers every action an audit
// event can carry today: every command's name, every audit-only event, and
// every name the FSM, the cluster service, the airlock and the gateway
// write in their source.
func TestAuditActionsComplete(t *testing.T) {
	list := auditActions()
	if !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
		t.Errorf("audit actions not sorted or not unique: %v", list)
	}
	want := map[string]string{}
	for _, c := range model.CommandTypes() {
		want[c.String()] = "command " + strconv.Itoa(int(c))
	}
	for k := range model.AuditKinds {
		want[k] = "model.AuditKinds"
	}
	found := recordedActions(t, "../cluster", "gateway")
	if len(found) < 10 {
		t.Fatalf("found only %d audit actions in the source: %v; has the code moved?", len(found), found)
	}
	for k, where := range found {
		want[k] = where
	}
	for a, where := range want {
		if !slices.Contains(list, a) {
			t.Errorf("audit action %q (%s) is missing from the audit filter", a, where)
		}
	}
	for _, a := range []string{"project.schedule_set", "schedule.enforce", "airlock.transition", "airlock.file_download",
		"network.drift_repaired", "image.register", "image.delete", "desktop.open", "login.lockout"} {
		if !slices.Contains(list, a) {
			t.Errorf("audit filter lacks %q", a)
		}
	}
}

func TestAuditPageOffersActions(t *testing.T) {
	f := baseFake()
	var q AuditQuery
	f.ListAuditFn = func(_ context.Context, _ model.Actor, aq AuditQuery) ([]model.AuditEvent, error) {
		q = aq
		return nil, nil
	}
	ts := newTestServer(t, f, nil)
	resp, body := ts.do(t, "GET", "/admin/audit?action=project.schedule_set", "full-admin", "", nil, "")
	if resp.StatusCode != 200 || q.Action != "project.schedule_set" {
		t.Fatalf("status %d, query %+v", resp.StatusCode, q)
	}
	for _, a := range auditActions() {
		if !strings.Contains(body, `<option value="`+a+`">`) {
			t.Errorf("audit page does not offer %q", a)
		}
	}
}
