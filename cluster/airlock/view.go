package airlock

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/sded/sded/cluster/model"
)

// ColumnSummary summarises one column of a checked table (from the
// disclosure record).
type ColumnSummary struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"` // category, count or value
	Count      int64    `json:"count"`
	Missing    int64    `json:"missing"`
	NonNumeric int64    `json:"non_numeric"`
	Min        *float64 `json:"min,omitempty"`
	Max        *float64 `json:"max,omitempty"`
	Sum        *float64 `json:"sum,omitempty"`
	// Rounded: every value is a whole multiple of RoundedTo ≥ 5.
	Rounded        bool  `json:"rounded"`
	RoundedTo      int64 `json:"rounded_to,omitempty"`
	Distinct       int   `json:"distinct,omitempty"`
	DistinctCapped bool  `json:"distinct_capped,omitempty"`
}

// CellResult is one listed cell of a checked table.
type CellResult struct {
	Key     []string          `json:"key"`
	Line    int               `json:"line,omitempty"`
	N       int64             `json:"n"`
	Total   *float64          `json:"total,omitempty"`
	Results map[string]string `json:"results"`
	Status  string            `json:"status"`
	Note    string            `json:"note,omitempty"`
}

// FileCheck is the disclosure record's entry for one file.
type FileCheck struct {
	Name       string          `json:"name"`
	SHA256     string          `json:"sha256"`
	Size       int64           `json:"size"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	Summary    string          `json:"summary"`
	Error      string          `json:"error,omitempty"`
	Categories []string        `json:"categories,omitempty"`
	Column     string          `json:"column,omitempty"`
	Rows       int64           `json:"rows"`
	CellsTotal int             `json:"cells_total"`
	RuleCounts map[string]int  `json:"rule_counts,omitempty"`
	Cells      []CellResult    `json:"cells,omitempty"`
	Truncated  bool            `json:"truncated,omitempty"`
	Columns    []ColumnSummary `json:"columns,omitempty"`
}

// record is the part of the disclosure record (storage/disclosure.Record,
// version 1) the views read.
type record struct {
	Version int             `json:"version"`
	Rules   json.RawMessage `json:"rules"`
	Status  string          `json:"status"`
	Files   []FileCheck     `json:"files"`
}

// FileView is what a reviewer (or the requester) sees of one file: its
// metadata, the automatic result and the record's per-column summaries and
// flagged cells. It never carries the file's bytes.
type FileView struct {
	RequestID string            `json:"request_id"`
	File      model.AirlockFile `json:"file"`
	// Check is the record's entry for the file; nil for imports and files
	// not checked yet.
	Check *FileCheck      `json:"check,omitempty"`
	Rules json.RawMessage `json:"rules,omitempty"`
}

// View returns a file's view for anyone who may read the request, and
// audits it (airlock.file_view).
func (e *Engine) View(ctx context.Context, actor model.Actor, requestID, file string) (FileView, error) {
	r, err := e.load(ctx, actor, model.ActAirlockFileView, requestID)
	if err != nil {
		return FileView{}, err
	}
	if err := e.authorize(ctx, actor, model.ActAirlockFileView, r); err != nil {
		return FileView{}, err
	}
	f, ok := r.File(file)
	if !ok {
		return FileView{}, model.Errorf(model.CodeNotFound, "file %s is not in request %s", quote(file), r.ID)
	}
	v := FileView{RequestID: r.ID, File: f}
	if len(r.DisclosureRecord) > 0 {
		var rec record
		if err := json.Unmarshal(r.DisclosureRecord, &rec); err != nil {
			e.log.WarnContext(ctx, "unreadable disclosure record", slog.String("request", r.ID), slog.Any("err", err))
		} else {
			v.Rules = rec.Rules
			for i := range rec.Files {
				if rec.Files[i].Name == f.Name && rec.Files[i].SHA256 == f.SHA256 {
					v.Check = &rec.Files[i]
				}
			}
		}
	}
	if err := e.cfg.Requests.RecordAudit(ctx, actor, model.RecordAudit{Action: "airlock.file_view", Object: "airlock/" + r.ID,
		ProjectID: r.ProjectID, Outcome: model.OutcomeSuccess, Details: map[string]string{"file": quote(f.Name), "content": "false"}}); err != nil {
		return FileView{}, err
	}
	return v, nil
}

// OpenForReview returns a file's bytes to a reviewer of the request, so an
// output checker can read what would leave. The requester (no one reviews
// their own request, and nothing leaves before release) and anyone without
// the reviewer role are refused. Audited (airlock.file_view, content=true).
func (e *Engine) OpenForReview(ctx context.Context, actor model.Actor, requestID, file string) (Download, error) {
	r, err := e.load(ctx, actor, model.ActAirlockFileView, requestID)
	if err != nil {
		return Download{}, err
	}
	if err := e.authorize(ctx, actor, reviewAction(r.Direction), r); err != nil {
		return Download{}, err
	}
	if r.CreatedBy == actor.UserID {
		return Download{}, model.Errorf(model.CodeForbidden, "no one may review their own request")
	}
	switch r.State {
	case model.AirlockSubmitted, model.AirlockInReview, model.AirlockApproved, model.AirlockReleased:
	default:
		return Download{}, model.Errorf(model.CodeConflict, "a %s request is not under review", r.State)
	}
	sf, err := e.stagedFile(r, file)
	if err != nil {
		return Download{}, err
	}
	staging, _, err := e.cfg.Keys.AirlockKeys(ctx, r.ProjectID)
	if err != nil {
		return Download{}, err
	}
	rc, err := e.opener(r.ProjectID, staging, sf)(ctx)
	if err != nil {
		return Download{}, err
	}
	f, _ := r.File(file)
	if err := e.cfg.Requests.RecordAudit(ctx, actor, model.RecordAudit{Action: "airlock.file_view", Object: "airlock/" + r.ID,
		ProjectID: r.ProjectID, Outcome: model.OutcomeSuccess, Details: map[string]string{"file": quote(f.Name), "content": "true"}}); err != nil {
		rc.Close()
		return Download{}, err
	}
	return Download{File: f, Body: rc}, nil
}
