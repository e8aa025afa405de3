package airlocktest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/testenv"
)

// TestGuestToolsThroughGateway runs the commands of docs/airlock.md with the
// real curl and busybox wget binaries against a real gateway listener. They
// run in the gateway's network namespace with a route that makes the
// workstation's address their source, as inside a guest on the bridge.
func TestGuestToolsThroughGateway(t *testing.T) {
	testenv.RequireCommand(t, "curl")
	testenv.RequireCommand(t, "busybox")
	e := newEnv(t)
	ctx := context.Background()
	rita := e.user("rita")
	p := e.project("study", map[model.MemberRole][]model.Actor{model.RoleResearcher: {rita}})
	ws := e.workstation(p, rita, "rita-1")
	g := e.gateway(p)
	g.guest(ws.IP) // adds the workstation's address to the namespace
	gwIP := gatewayOf(p).String()
	g.ns.MustRun(t, "ip", "route", "replace", "local", gwIP, "dev", "lo", "table", "local", "src", ws.IP, "proto", "kernel", "scope", "host")
	GW := "http://" + g.ads[p.ID].String()
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(want string, args ...string) string {
		t.Helper()
		out, err := g.ns.Run(args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("%v: %v\n%s\n(want %q)", args, err, out, want)
		}
		return out
	}

	out := run("created request", "curl", "-sS", "-d", "title=Table 1", "-d", "context=Admissions by region, cohort v3", GW+"/requests")
	id := regexp.MustCompile(`created request ([0-9a-f]{32})`).FindStringSubmatch(out)[1]
	t1 := write("table1.csv", "region,count\nNorth,12\nSouth,3\n")
	run("stored table1.csv (30 bytes", "curl", "-sS", "-T", t1, GW+"/requests/"+id+"/files/table1.csv")
	t2 := write("table2.csv", "region,count\nNorth,20\nSouth,30\n")
	run("stored table2.csv", "busybox", "wget", "-qO-", "--post-file="+t2, GW+"/requests/"+id+"/files/table2.csv")
	png := write("figure1.png", "\x89PNG\r\n\x1a\nnot really")
	run("stored figure1.png", "curl", "-sS", "-F", "file=@"+png, "-F", "file=@"+t2, GW+"/requests/"+id+"/files")
	run("submitted request "+id+": submitted", "curl", "-sS", "-d", "disclosure_controls=counts rounded to 5; cells under 10 suppressed", GW+"/requests/"+id+"/submit")
	out = run("automatic check: fail", "curl", "-sS", GW+"/requests/"+id)
	for _, want := range []string{"file table2.csv", "automatic check: pass", "file figure1.png", "automatic check: review"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	run(id+"  submitted  3 file(s)  Table 1", "busybox", "wget", "-qO-", GW+"/requests")
	run(`"state":"submitted"`, "curl", "-sS", "-H", "Accept: application/json", GW+"/requests/"+id)
	// Errors come back with a status and a reason.
	out, _ = g.ns.Run("curl", "-sS", "-w", "%{http_code}", "-T", t1, GW+"/requests/"+id+"/files/t.csv")
	if !strings.Contains(out, "error: files can be added only to a draft or returned request") || !strings.HasSuffix(out, "409") {
		t.Errorf("upload after submit: %s", out)
	}
	run("withdrawn", "curl", "-sS", "-X", "POST", GW+"/requests/"+id+"/withdraw")
	r, err := e.svc.Airlock(ctx, rita, id)
	if err != nil || r.State != model.AirlockWithdrawn || len(r.Files) != 3 {
		t.Fatalf("request %s with %d files, %v", r.State, len(r.Files), err)
	}
}
