package ui

import (
	"slices"

	"github.com/sded/sded/cluster/model"
)

// fsmAuditActions are the audit actions the FSM records under a name of its
// own rather than the command's (cluster/fsm: auditAs and the refusal of
// a malformed entry). A test reads the FSM's source to keep this complete.
var fsmAuditActions = []string{
	"command.malformed", "login.failure", "login.lockout", "login.success", "logout",
	"project.key_destroyed", "session.delete", "session.expired", "workstation.auto_stop", "workstation.removed",
}

// auditActions lists every action an audit event can carry, sorted: the
// name of every replicated command, every audit-only event
// (model.AuditKinds) and the FSM's own names. The audit page offers them
// in its action filter.
func auditActions() []string {
	seen := map[string]bool{}
	for _, t := range model.CommandTypes() {
		seen[t.String()] = true
	}
	for k := range model.AuditKinds {
		seen[k] = true
	}
	for _, a := range fsmAuditActions {
		seen[a] = true
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}
