package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// probeLib is typed into the guest before the probes. Each probe prints one
// word: ok (connected, or answered), refused (the packet reached a host that
// refused it: reachable), timeout, unreachable or blocked.
const probeLib = `tcp() { o=$(timeout 6 nc -w 3 "$1" "$2" </dev/null 2>&1); case "$o" in *refused*) echo refused;; *"timed out"*) echo timeout;; *nreachable*|*"No route"*) echo unreachable;; ""|ok) echo ok;; *) echo "other";; esac; }
png() { if ping -c 1 -W 2 "$@" >/dev/null 2>&1; then echo ok; else echo blocked; fi; }
udp() { if timeout 5 nslookup e2e.test "$1" >/dev/null 2>&1; then echo ok; else echo blocked; fi; }
r() { echo "SDED-PROBE-RESULT net.$1=$2" >/dev/ttyS0; }
`

// probe is one row of the probe matrix: a shell expression run in the guest
// and what it must print.
type probe struct {
	key, what, to string
	sh            string // prints the result word
	// want is "ok", "reached" (ok, or refused by the host: the packet
	// passed the firewall), "blocked" (timeout, unreachable or blocked) or
	// an exact value.
	want string
	got  string
}

func (p *probe) pass() bool {
	switch p.want {
	case "blocked":
		return p.got == "timeout" || p.got == "unreachable" || p.got == "blocked"
	case "reached":
		return p.got == "ok" || p.got == "refused"
	}
	return p.got == p.want
}

// probeScript runs the probes in parallel (each at most a few seconds), then
// the sequential ones (address and MAC spoofing change the guest's own
// interface), and reports each with r.
func probeScript(parallel, sequential []*probe) string {
	var b strings.Builder
	b.WriteString("mkdir -p /tmp/p; rm -f /tmp/p/*\n")
	for _, p := range parallel {
		fmt.Fprintf(&b, "(r %s \"$(%s)\") &\n", p.key, p.sh)
	}
	b.WriteString("wait\n")
	for _, p := range sequential {
		fmt.Fprintf(&b, "r %s \"$(%s)\"\n", p.key, p.sh)
	}
	b.WriteString("r done 1\n")
	return b.String()
}

// runProbes types the library and the probes into dt, runs them and fills
// in each probe's result.
func runProbes(t testing.TB, dt *desktop, setup string, parallel, sequential []*probe) {
	t.Helper()
	dt.sendFile("/tmp/probe.sh", probeLib+setup+"\n"+probeScript(parallel, sequential))
	dt.run("sh /tmp/probe.sh", 120*time.Second, false)
	res := dt.results()
	if res["net.done"] != "1" {
		t.Fatalf("%s: probes did not finish", dt.name)
	}
	for _, p := range append(append([]*probe(nil), parallel...), sequential...) {
		p.got = res["net."+p.key]
	}
}

// printMatrix logs the matrix and counts the rows that did not behave.
func printMatrix(t testing.TB, title string, ps []*probe) int {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n%-44s %-20s %-10s %-12s\n", title, "PROBE", "TO", "WANT", "GOT")
	bad := 0
	for _, p := range ps {
		mark := ""
		if !p.pass() {
			mark = "  <-- MISMATCH"
			if p.got == "refused" && p.want == "ok" {
				mark += " (the firewall let it through but nothing listens there)"
			}
			bad++
		}
		fmt.Fprintf(&b, "%-44s %-20s %-10s %-12s%s\n", p.what, p.to, p.want, p.got, mark)
	}
	t.Log(b.String())
	return bad
}
