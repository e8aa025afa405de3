package ui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

const dateFmt = "2006-01-02"

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dateFmt)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// pasteMaxTier is the highest tier whose desktops accept paste-in, as the UI
// describes it; the service's OpenDesktop decides what the proxy enforces.
const pasteMaxTier = 1

func clipboardText(tier int) string {
	if tier <= pasteMaxTier {
		return "paste-in allowed, copy-out blocked"
	}
	return "clipboard blocked both ways"
}

func projectRow(p model.Project, role string) view.ProjectRow {
	return view.ProjectRow{ID: p.ID, Name: p.Name, Slug: p.Slug, State: string(p.State), Tier: strconv.Itoa(p.Tier), Expires: day(p.ExpiresAt), Role: role}
}

// workstationView is the status shown for a workstation: what it is doing
// and whether it is busy getting where it should be.
type workstationView struct {
	State   string `json:"state"`
	Busy    bool   `json:"busy"`
	Running bool   `json:"running"`
	Reason  string `json:"reason,omitempty"`
}

func statusOfWorkstation(w model.Workstation) workstationView {
	st := w.Status.State
	v := workstationView{State: string(st), Reason: w.Status.Reason, Running: st == model.ObservedRunning && w.Desired == model.DesiredRunning}
	if st == "" {
		v.State = string(model.ObservedPending)
	}
	switch {
	case w.Desired == model.DesiredDeleted:
		v.State, v.Busy = "deleting", true
	case st == model.ObservedFailed:
	case string(st) != string(w.Desired):
		v.Busy = true
		if st == "" || st == model.ObservedPending {
			v.State = "provisioning"
		} else if w.Desired == model.DesiredRunning {
			v.State = "starting"
		} else {
			v.State = "stopping"
		}
	}
	return v
}

func workstationRow(w model.Workstation, names map[string]string) view.WorkstationRow {
	v := statusOfWorkstation(w)
	owner := names[w.OwnerID]
	if owner == "" {
		owner = w.OwnerID
	}
	return view.WorkstationRow{
		ID: w.ID, Name: w.Name, ProjectID: w.ProjectID, Owner: owner, Image: w.ImageID, Flavour: w.Flavour,
		Size:    fmt.Sprintf("%d vCPU, %d MiB, %d GiB", w.VCPU, w.MemoryMiB, w.DiskGiB),
		Desired: string(w.Desired), State: v.State, Reason: v.Reason, Busy: v.Busy, Running: v.Running,
	}
}

func userRow(u model.User) view.UserRow {
	return view.UserRow{ID: u.ID, Username: u.Username, Name: u.DisplayName, Email: u.Email, Admin: u.Admin,
		Disabled: u.Disabled, Enrolled: u.TOTPEnrolled, LastLogin: stamp(u.LastLoginAt)}
}

func auditRow(e model.AuditEvent) view.AuditRow {
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var d []string
	for _, k := range keys {
		d = append(d, k+"="+e.Details[k])
	}
	return view.AuditRow{Seq: e.Seq, Time: stamp(e.Time), Actor: e.Actor.String(), Action: e.Action, Object: e.Object,
		Project: e.ProjectID, Outcome: string(e.Outcome), Details: strings.Join(d, " ")}
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
