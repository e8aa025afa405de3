package cluster

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sded/sded/cluster/model"
)

// Refused cluster connections and joins are access attempts: each is logged,
// and recorded in the replicated audit log as "access.denied" or "join.denied"
// (system actor: this node). To keep a port scan from flooding the log, one
// event per remote IP per auditInterval is written; refusals in between are
// counted into the next event's "suppressed" detail.
const auditInterval = 10 * time.Second

type accessAuditor struct {
	n  *Node
	mu sync.Mutex
	// per remote IP: when the last event was written and how many were
	// suppressed since.
	last       map[string]time.Time
	suppressed map[string]int
}

func newAccessAuditor(n *Node) *accessAuditor {
	return &accessAuditor{n: n, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// record is called for every refusal; join says it was a join attempt.
func (a *accessAuditor) record(remote, reason string, join bool) {
	ip, _, err := net.SplitHostPort(remote)
	if err != nil {
		ip = remote
	}
	now := time.Now()
	a.mu.Lock()
	if now.Sub(a.last[ip]) < auditInterval {
		a.suppressed[ip]++
		a.mu.Unlock()
		return
	}
	if len(a.last) > 4096 { // forget old entries rather than grow without bound
		for k, t := range a.last {
			if now.Sub(t) >= auditInterval {
				delete(a.last, k)
				delete(a.suppressed, k)
			}
		}
	}
	a.last[ip] = now
	suppressed := a.suppressed[ip]
	delete(a.suppressed, ip)
	a.mu.Unlock()

	action := "access.denied"
	if join {
		action = "join.denied"
	}
	details := map[string]string{"remote": remote, "reason": clip(reason, 240), "listener": "cluster"}
	if suppressed > 0 {
		details["suppressed"] = strconv.Itoa(suppressed)
	}
	go a.propose(action, details, now)
}

func (a *accessAuditor) propose(action string, details map[string]string, now time.Time) {
	n := a.n
	cmd, err := model.NewCommand(model.CmdRecordAudit, "", model.Actor{NodeID: n.id}, now,
		model.RecordAudit{Action: action, Outcome: model.OutcomeDenied, Details: details})
	if err != nil {
		n.logger.Error("building audit event for a refused connection", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	res, err := n.Propose(ctx, cmd)
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		n.logger.Warn("could not audit a refused connection", "action", action, "remote", details["remote"], "err", err)
	}
}

// clip shortens s to at most n bytes on a rune boundary, and drops control
// characters, so a peer cannot smuggle arbitrary text into the audit log.
func clip(s string, n int) string {
	out := make([]rune, 0, len(s))
	size := 0
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = '?'
		}
		size += utf8.RuneLen(r)
		if size > n {
			break
		}
		out = append(out, r)
	}
	return string(out)
}
