package airlocktest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// wget is the guest-side command that fetches or posts to the gateway and
// prints the answer. It bounds the call with busybox timeout, never with
// wget -T: Debian builds busybox before 1.36.1-5 without
// FEATURE_WGET_TIMEOUT, yet -T stays in wget's option string with a NULL
// destination, so "-T 10" makes getopt32 store the number through a NULL
// pointer and wget dies of SIGSEGV (exit 139) before it opens a socket.
func wget(secs int, args string) string {
	return fmt.Sprintf("timeout %d wget -qO- %s", secs, args)
}

// airlockRequest reads one request through the CLI, as a checker sees it.
func (d *daemon) airlockRequest(as, project, id string) model.AirlockRequest {
	d.t.Helper()
	out := d.must("", "airlock", "list", "--as", as, "--json", project)
	var rs []model.AirlockRequest
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		d.t.Fatalf("airlock list --json: %v: %s", err, out)
	}
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	d.t.Fatalf("request %s is not in the list of project %s: %s", id, project, out)
	return model.AirlockRequest{}
}

// audit returns the audit events with the given action.
func (d *daemon) audit(action string) []model.AuditEvent {
	d.t.Helper()
	out := d.must("", "audit", "export")
	var evs []model.AuditEvent
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev model.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			d.t.Fatalf("audit export: %v: %s", err, sc.Text())
		}
		if ev.Action == action {
			evs = append(evs, ev)
		}
	}
	return evs
}

// inputDrops returns how many packets sded's input chain for the bridge
// holding addr has dropped (iptables-save counters of SDED-I-*'s final
// DROP, reached through SDED-INPUT's jump for that bridge).
func inputDrops(t *testing.T, addr string) uint64 {
	t.Helper()
	out, err := exec.Command("ip", "-j", "addr").Output()
	if err != nil {
		t.Fatalf("ip -j addr: %v", err)
	}
	var links []struct {
		Name  string `json:"ifname"`
		Addrs []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("ip -j addr: %v", err)
	}
	bridge := ""
	for _, l := range links {
		for _, a := range l.Addrs {
			if a.Local == addr {
				bridge = l.Name
			}
		}
	}
	if bridge == "" {
		t.Fatalf("no link holds %s", addr)
	}
	save, err := exec.Command("iptables-save", "-c", "-t", "filter").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	rule := regexp.MustCompile(`^\[(\d+):\d+\] -A (\S+) (.*)$`)
	chain := ""
	drops := map[string]uint64{}
	for _, line := range strings.Split(string(save), "\n") {
		m := rule.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[2] == "SDED-INPUT" && strings.HasPrefix(m[3], "-i "+bridge+" -j ") {
			chain = strings.TrimPrefix(m[3], "-i "+bridge+" -j ")
		}
		if m[3] == "-j DROP" {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			drops[m[2]] = n
		}
	}
	if n, ok := drops[chain]; chain != "" && ok {
		return n
	}
	t.Fatalf("no SDED-INPUT chain with a final DROP for bridge %s in:\n%s", bridge, save)
	return 0
}

func fileOf(t *testing.T, r model.AirlockRequest, name string) model.AirlockFile {
	t.Helper()
	f, ok := r.File(name)
	if !ok {
		t.Fatalf("request %s has no file %s: %+v", r.ID, name, r.Files)
	}
	return f
}

// TestGuestExportE2E: a real guest exports a table through its project's
// gateway; the checks flag a small cell; an output checker returns it; the
// guest uploads a fixed file and resubmits; two checkers approve; the
// requester downloads it. A guest of another project cannot reach the
// endpoint: its packets are dropped before they reach the gateway.
func TestGuestExportE2E(t *testing.T) {
	testenv.RequireLibvirt(t)
	gf := guest.Require(t)
	testenv.RequireCommand(t, "virsh")
	bin := sdedBin(t)
	d := startDaemon(t, bin)
	start := time.Now()
	pw := "e2e password 123456\n"
	d.must(pw, "user", "add", "--admin", "--password-file", "-", "admin")
	for _, u := range []string{"rita", "olly", "otto", "bob"} {
		d.must(pw, "user", "add", "--as", "admin", "--password-file", "-", u)
	}
	exp := time.Now().AddDate(1, 0, 0).Format("2006-01-02")
	d.must("", "project", "add", "--as", "admin", "--name", "Export study", "--approval", "DAC-1", "--dsa", "DSA-1", "--expires", exp, "--tier", "2", "--owner", "rita", "study")
	d.must("", "project", "add", "--as", "admin", "--name", "Other study", "--approval", "DAC-2", "--dsa", "DSA-2", "--expires", exp, "--owner", "bob", "other")
	d.must("", "project", "member-add", "--as", "admin", "study", "olly", "output_checker")
	d.must("", "project", "member-add", "--as", "admin", "study", "otto", "output_checker")
	d.must("", "image", "add", "--as", "admin", "--kernel", gf.Kernel, "--initrd", gf.Initrd, "--cmdline", guest.Cmdline, "test-guest", gf.Base)
	ws := d.workstation("rita", "study", "rita-1")
	wb := d.workstation("bob", "other", "bob-1")
	c := openConsole(t, ws)
	other := openConsole(t, wb)
	t.Logf("both guests at their shell after %s (rita-1 %s, bob-1 %s)", time.Since(start).Round(time.Second), ws.IP, wb.IP)

	gw := strings.TrimSpace(c.run("cat /seed/sded-airlock"))
	if !strings.HasPrefix(gw, "http://") || !strings.HasSuffix(gw, "/") {
		t.Fatalf("the seed's airlock URL is %q", gw)
	}
	otherGW := strings.TrimSpace(other.run("cat /seed/sded-airlock"))
	if otherGW == gw || !strings.HasPrefix(otherGW, "http://") {
		t.Fatalf("the other project's airlock URL is %q (this project's: %q)", otherGW, gw)
	}
	// The gateway knows the caller by its source address alone: the usage
	// names the workstation the request came from.
	if out := c.run(wget(30, gw)); !strings.Contains(out, "sded airlock: export outputs from workstation rita-1") {
		t.Fatalf("the guest did not get its gateway's usage text from %s:\n%s", gw, out)
	}
	if out := other.run(wget(30, otherGW)); !strings.Contains(out, "export outputs from workstation bob-1") {
		t.Fatalf("the other guest did not get its own gateway's usage text from %s:\n%s", otherGW, out)
	}

	// Create, upload a table with a small cell, submit: the check fails it.
	out := c.run(wget(30, "--post-data='title=Table 1&context=admissions by region' "+gw+"requests"))
	m := regexp.MustCompile(`created request ([0-9a-f]{32})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create: %s", out)
	}
	id := m[1]
	c.run(`printf 'region,count\nNorth,12\nSouth,3\n' >/tmp/t1.csv`)
	if out := c.run(wget(30, "--post-file=/tmp/t1.csv "+gw+"requests/"+id+"/files/table1.csv")); !strings.Contains(out, "stored table1.csv (30 bytes") {
		t.Fatalf("upload: %s", out)
	}
	if out := c.run(wget(30, "--post-data='disclosure_controls=none' "+gw+"requests/"+id+"/submit")); !strings.Contains(out, "submitted request "+id+": submitted") || !strings.Contains(out, "automatic check: fail") {
		t.Fatalf("submit: %s", out)
	}
	r := d.airlockRequest("olly", "study", id)
	if r.WorkstationID != ws.ID || r.Direction != model.AirlockExport || r.State != model.AirlockSubmitted || r.Title != "Table 1" {
		t.Fatalf("after submit: workstation %s (want %s), %s, %s, %q", r.WorkstationID, ws.ID, r.Direction, r.State, r.Title)
	}
	if f := fileOf(t, r, "table1.csv"); f.Disclosure != model.DisclosureFail || f.Size != 30 {
		t.Fatalf("table1.csv: %d bytes, check %q; want 30 bytes, fail (South has 3)", f.Size, f.Disclosure)
	}

	// The other project's guest gets no answer from this project's gateway.
	// Its DHCP lease has no router, so first its own kernel has no route;
	// then, as root (which a researcher is), it routes the address through
	// its own gateway, and its bridge's input chain drops the packets: the
	// gateway never sees the connection (no refusal, no audit of one).
	u, err := url.Parse(otherGW)
	if err != nil {
		t.Fatalf("the other project's airlock URL %q: %v", otherGW, err)
	}
	target, err := url.Parse(gw)
	if err != nil {
		t.Fatalf("the airlock URL %q: %v", gw, err)
	}
	deniedBefore := len(d.audit("access.denied"))
	unreachable := func(step string, want *regexp.Regexp) {
		t.Helper()
		out := other.run(wget(10, gw+"requests") + "; echo rc=$?")
		t.Logf("bob-1 -> %s (%s): %s", gw, step, strings.Join(strings.Fields(out), " "))
		if strings.Contains(out, "rc=0") || strings.Contains(out, "server returned error") || strings.Contains(out, "HTTP/") || strings.Contains(out, "request") {
			t.Fatalf("another project's guest got an HTTP answer from %s (%s): %s", gw, step, out)
		}
		if !want.MatchString(out) {
			t.Fatalf("another project's guest failed to reach %s (%s), but not as expected (%s): %s", gw, step, want, out)
		}
	}
	unreachable("no route", regexp.MustCompile(`Network is unreachable`))
	other.run("ip route add " + target.Hostname() + "/32 via " + u.Hostname() + " dev eth0")
	if out := other.run("ip route get " + target.Hostname()); !strings.Contains(out, "via "+u.Hostname()) {
		t.Fatalf("the other guest's route to %s: %s", target.Hostname(), out)
	}
	dropsBefore := inputDrops(t, u.Hostname())
	unreachable("routed via its own gateway", regexp.MustCompile(`rc=143`)) // dropped: busybox timeout kills wget
	if drops := inputDrops(t, u.Hostname()); drops <= dropsBefore {
		t.Errorf("sded's input chain of the other project's bridge dropped nothing (%d before, %d after)", dropsBefore, drops)
	} else {
		t.Logf("sded's input chain of the other project's bridge dropped %d packets", drops-dropsBefore)
	}
	for _, ev := range d.audit("access.denied")[deniedBefore:] {
		if ev.Details["remote"] == wb.IP {
			t.Errorf("the gateway saw a connection from the other project's guest: %+v", ev)
		}
	}

	// A checker returns it; the guest uploads a fixed file and resubmits.
	if out, err := d.cli("", "airlock", "list", "--as", "olly", "study"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("sded airlock list: %v\n%s", err, out)
	}
	d.must("", "airlock", "return", "--as", "olly", "--reason", "South has 3", id)
	if out := c.run(wget(30, gw+"requests/"+id)); !strings.Contains(out, "request "+id+": returned") || !strings.Contains(out, "(South has 3)") {
		t.Fatalf("the guest's status after the return: %s", out)
	}
	const fixed = "region,count\nNorth,12\nSouth+East,15\n"
	c.run(`printf 'region,count\nNorth,12\nSouth+East,15\n' >/tmp/t1.csv`)
	if out := c.run(wget(30, "--post-file=/tmp/t1.csv "+gw+"requests/"+id+"/files/table1.csv")); !strings.Contains(out, fmt.Sprintf("stored table1.csv (%d bytes", len(fixed))) {
		t.Fatalf("re-upload: %s", out)
	}
	if out := c.run(wget(30, "--post-data='disclosure_controls=merged small regions' "+gw+"requests/"+id+"/submit")); !strings.Contains(out, "automatic check: pass") {
		t.Fatalf("resubmit: %s", out)
	}
	r = d.airlockRequest("olly", "study", id)
	if f := fileOf(t, r, "table1.csv"); r.State != model.AirlockSubmitted || f.Disclosure != model.DisclosurePass || f.Size != int64(len(fixed)) || len(r.Files) != 1 {
		t.Fatalf("after resubmit: %s, %d file(s), table1.csv %d bytes check %q", r.State, len(r.Files), f.Size, f.Disclosure)
	}

	// The requester cannot review; two checkers approve; it is released.
	if out, err := d.cli("", "airlock", "vote", "--as", "rita", id, "table1.csv", "approve"); err == nil {
		t.Fatalf("the requester voted: %s", out)
	}
	d.must("", "airlock", "vote", "--as", "olly", id, "table1.csv", "approve")
	if r := d.airlockRequest("olly", "study", id); r.State != model.AirlockInReview {
		t.Fatalf("after one approval of two: %s", r.State)
	}
	if out := d.must("", "airlock", "vote", "--as", "otto", id, "table1.csv", "approve"); !strings.Contains(out, "is released") {
		t.Fatalf("second approval: %s", out)
	}
	if out, err := d.cli("", "airlock", "download", "--as", "olly", id, "table1.csv"); err == nil {
		t.Fatalf("a checker downloaded: %s", out)
	}
	if got := d.must("", "airlock", "download", "--as", "rita", id, "table1.csv"); got != fixed {
		t.Fatalf("downloaded %q", got)
	}
	if len(d.audit("airlock.file_download")) == 0 {
		t.Error("the download is not in the audit log")
	}
	if out := c.run(wget(30, gw+"requests")); !strings.Contains(out, id+"  released  1 file(s)  Table 1") {
		t.Errorf("the guest's list after release: %s", out)
	}
	t.Logf("whole flow in %s", time.Since(start).Round(time.Second))
}
