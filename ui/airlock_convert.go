package ui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

// names resolves user IDs for display: the viewer is "you", others by
// display name where the viewer may list users (admins), else by ID.
type names map[string]string

func (n names) of(id string) string {
	if v := n[id]; v != "" {
		return v
	}
	return "user " + shortID(id)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// actorName names the "by" of a transition ("user:ID" or "node:ID").
func (n names) actorName(by string) string {
	if id, ok := strings.CutPrefix(by, "user:"); ok {
		id, _, _ = strings.Cut(id, "/")
		return n.of(id)
	}
	if strings.HasPrefix(by, "node:") {
		return "sded"
	}
	return by
}

// waiting says what a request waits for.
func waiting(r model.AirlockRequest) string {
	switch r.State {
	case model.AirlockDraft:
		return "the requester to submit"
	case model.AirlockSubmitted:
		return "a checker to start the review"
	case model.AirlockInReview:
		done := 0
		for _, f := range r.Files {
			if r.Approvals(f.Name) >= r.RequiredApprovals {
				done++
			}
		}
		return fmt.Sprintf("reviews (%d of %d files fully approved)", done, len(r.Files))
	case model.AirlockReturned:
		return "the requester to change and resubmit"
	case model.AirlockApproved:
		return "release"
	case model.AirlockReleased:
		if r.Direction == model.AirlockExport {
			return "nothing: released to the requester"
		}
		return "nothing: in the project's data volume"
	case model.AirlockBlocked:
		return "nothing: blocked by the automatic checks"
	}
	return "nothing: closed"
}

func airlockRow(r model.AirlockRequest, pr model.Project, v airlockViewer, n names) view.AirlockRow {
	return view.AirlockRow{ID: r.ID, Title: r.Title, Direction: string(r.Direction), State: string(r.State),
		Requester: n.of(r.CreatedBy), ProjectID: pr.ID, ProjectName: pr.Name, Updated: stamp(r.UpdatedAt),
		Files: len(r.Files), Waiting: waiting(r), ForMe: v.outstanding(r)}
}

// recordFiles reads the per-file entries of a disclosure record (nil if
// it has none or cannot be read: the page then shows the result alone).
func recordFiles(raw json.RawMessage) map[string]airlock.FileCheck {
	if len(raw) == 0 {
		return nil
	}
	var rec struct {
		Files []airlock.FileCheck `json:"files"`
	}
	if json.Unmarshal(raw, &rec) != nil {
		return nil
	}
	out := make(map[string]airlock.FileCheck, len(rec.Files))
	for _, f := range rec.Files {
		out[f.Name+"\x00"+f.SHA256] = f
	}
	return out
}

// fired lists the rules that fired with their cell counts, in rule order.
func fired(counts map[string]int) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range ruleOrder {
		if n := counts[r.key]; n > 0 {
			out = append(out, fmt.Sprintf("%s: %s", r.label, cells(n)))
			seen[r.key] = true
		}
	}
	var rest []string
	for k, n := range counts {
		if !seen[k] && n > 0 {
			rest = append(rest, fmt.Sprintf("%s: %s", k, cells(n)))
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func cells(n int) string {
	if n == 1 {
		return "1 cell"
	}
	return strconv.Itoa(n) + " cells"
}

// ruleOrder is the disclosure rules in the order the record lists them,
// with the names checkers know them by.
var ruleOrder = []struct{ key, label string }{
	{"threshold", "Threshold"}, {"zeros", "Zeros"}, {"nk-rule", "Dominance (N-K)"}, {"p-ratio", "p-percent"},
	{"all-values-same", "All values same"}, {"negative", "Negative"}, {"missing", "Missing"},
}

func airlockDetail(r model.AirlockRequest, pr model.Project, v airlockViewer, n names, links map[string]airlock.Link, maxUpload int64) view.AirlockDetail {
	pm := v.perms(r)
	d := view.AirlockDetail{
		ID: r.ID, Title: r.Title, Direction: string(r.Direction), State: string(r.State), ProjectID: pr.ID, ProjectName: pr.Name,
		Requester: n.of(r.CreatedBy), Created: stamp(r.CreatedAt), Context: r.Context, DisclosureControls: r.DisclosureControls,
		Waiting: waiting(r), Approvals: strconv.Itoa(r.RequiredApprovals), Import: r.Direction == model.AirlockImport,
		CanUpload: pm.upload, CanSubmit: pm.submit, CanComment: pm.comment, CanVote: pm.vote && len(r.Files) > 0, CanDecide: pm.decide,
		CanWithdraw: pm.withdraw, CanCancel: pm.cancel, CanRevoke: pm.revoke, MaxUpload: humanSize(maxUpload),
	}
	checks := recordFiles(r.DisclosureRecord)
	for _, f := range r.Files {
		row := view.AirlockFileRow{Name: f.Name, Size: humanSize(f.Size), SHA256: f.SHA256, Result: string(f.Disclosure),
			Approvals: fmt.Sprintf("%d of %d", r.Approvals(f.Name), r.RequiredApprovals), MyVote: string(myVote(r, f.Name, v.userID)),
			Content: pm.content}
		if c, ok := checks[f.Name+"\x00"+f.SHA256]; ok {
			row.Summary, row.Rules = c.Summary, fired(c.RuleCounts)
		}
		for _, vt := range r.Votes {
			if vt.File == f.Name {
				row.Votes = append(row.Votes, view.AirlockVoteRow{Reviewer: n.of(vt.Reviewer), Decision: string(vt.Decision), At: stamp(vt.At)})
			}
		}
		if l, ok := links[f.Name]; ok {
			row.Link = &view.AirlockLink{Token: l.Token, Expires: stamp(l.Expires)}
		}
		d.Files = append(d.Files, row)
	}
	type ev struct {
		e   view.AirlockEvent
		at  int64
		seq int
	}
	var evs []ev
	for i, h := range r.History {
		what, text := "moved the request to "+string(h.To), h.Reason
		switch h.To {
		case model.AirlockInReview:
			what, text = "started the review", ""
		case model.AirlockApproved:
			what = "gave the last approval"
		case model.AirlockReleased:
			what = "released the request"
		case model.AirlockRejected:
			what = "rejected the request"
		case model.AirlockWithdrawn:
			what = "withdrew the request"
		case model.AirlockCancelled:
			what = "cancelled the request"
		case model.AirlockRevoked:
			what = "revoked the request"
		case model.AirlockSubmitted:
			what = "submitted the request"
			if h.From == model.AirlockReturned {
				what = "resubmitted the request"
			}
		case model.AirlockReturned:
			what = "returned the request for changes"
		}
		evs = append(evs, ev{view.AirlockEvent{At: stamp(h.At), Who: n.actorName(h.By), What: what, Text: text}, h.At.UnixNano(), i})
	}
	for i, c := range r.Comments {
		evs = append(evs, ev{view.AirlockEvent{At: stamp(c.At), Who: n.of(c.Author), What: "commented", Text: c.Text, Comment: true}, c.At.UnixNano(), len(r.History) + i})
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].at != evs[j].at {
			return evs[i].at < evs[j].at
		}
		return evs[i].seq < evs[j].seq
	})
	for _, e := range evs {
		d.Activity = append(d.Activity, e.e)
	}
	return d
}

// recordRules is the part of the record's rules the file view shows
// (storage/disclosure.Rules).
type recordRules struct {
	Threshold       *int     `json:"threshold"`
	NKN             *int     `json:"nk_n"`
	NKK             *float64 `json:"nk_k"`
	PRatio          *float64 `json:"p_ratio"`
	ZerosDisclosive *bool    `json:"zeros_disclosive"`
	CheckMissing    *bool    `json:"check_missing"`
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func optNum(f *float64) string {
	if f == nil {
		return ""
	}
	return num(*f)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func rulesOf(raw json.RawMessage) []view.AirlockRule {
	var r recordRules
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil {
		return nil
	}
	var out []view.AirlockRule
	if r.Threshold != nil {
		out = append(out, view.AirlockRule{Name: "Threshold", Setting: "every cell counts at least " + strconv.Itoa(*r.Threshold)})
	}
	if r.NKN != nil && r.NKK != nil {
		out = append(out, view.AirlockRule{Name: "Dominance (N-K)", Setting: fmt.Sprintf("the largest %d contributors make up at most %s%% of a cell's total", *r.NKN, num(*r.NKK*100))})
	}
	if r.PRatio != nil {
		out = append(out, view.AirlockRule{Name: "p-percent", Setting: fmt.Sprintf("the total less the two largest contributors is at least %s%% of the largest", num(*r.PRatio*100))})
	}
	if r.ZerosDisclosive != nil {
		out = append(out, view.AirlockRule{Name: "Zeros", Setting: "a zero cell is disclosive: " + yesNo(*r.ZerosDisclosive)})
	}
	if r.CheckMissing != nil {
		out = append(out, view.AirlockRule{Name: "Missing", Setting: "missing values need review: " + yesNo(*r.CheckMissing)})
	}
	out = append(out, view.AirlockRule{Name: "Negative", Setting: "negative values need review"})
	return out
}

func rounding(c airlock.ColumnSummary) string {
	switch {
	case c.Rounded && c.RoundedTo > 0:
		return "rounded to " + strconv.FormatInt(c.RoundedTo, 10)
	case c.Role == "category":
		return ""
	}
	return "not rounded"
}

func airlockFileDetail(r model.AirlockRequest, fv airlock.FileView, pm airlockPerms) view.AirlockFileDetail {
	d := view.AirlockFileDetail{RequestID: r.ID, RequestTitle: r.Title, State: string(r.State), Name: fv.File.Name,
		Size: humanSize(fv.File.Size), SHA256: fv.File.SHA256, Result: string(fv.File.Disclosure), Content: pm.content}
	c := fv.Check
	if c == nil {
		return d
	}
	d.Checked = true
	d.Kind, d.Status, d.Summary, d.Error = c.Kind, c.Status, c.Summary, c.Error
	d.Categories, d.Column = strings.Join(c.Categories, ", "), c.Column
	d.Rows, d.CellsTotal = strconv.FormatInt(c.Rows, 10), strconv.Itoa(c.CellsTotal)
	d.Rules, d.Fired, d.Truncated = rulesOf(fv.Rules), fired(c.RuleCounts), c.Truncated
	for _, ro := range ruleOrder {
		d.RuleNames = append(d.RuleNames, ro.label)
	}
	for _, cell := range c.Cells {
		vc := view.AirlockCell{Key: strings.Join(cell.Key, " / "), N: strconv.FormatInt(cell.N, 10), Total: optNum(cell.Total),
			Status: cell.Status, Note: cell.Note}
		if cell.Line > 0 {
			vc.Line = strconv.Itoa(cell.Line)
		}
		for _, ro := range ruleOrder {
			res := cell.Results[ro.key]
			if res == "" {
				res = "n/a"
			}
			vc.Results = append(vc.Results, view.AirlockCellResult{Rule: ro.key, Result: res})
		}
		d.Cells = append(d.Cells, vc)
	}
	for _, col := range c.Columns {
		vc := view.AirlockColumn{Name: col.Name, Role: col.Role, Count: strconv.FormatInt(col.Count, 10),
			Missing: strconv.FormatInt(col.Missing, 10), NonNumeric: strconv.FormatInt(col.NonNumeric, 10),
			Min: optNum(col.Min), Max: optNum(col.Max), Sum: optNum(col.Sum), Rounding: rounding(col)}
		if col.Distinct > 0 {
			vc.Distinct = strconv.Itoa(col.Distinct)
			if col.DistinctCapped {
				vc.Distinct += "+"
			}
		}
		d.Columns = append(d.Columns, vc)
	}
	return d
}
