package model

import (
	"encoding/json"
	"path"
	"strings"
	"time"
	"unicode"
)

// AirlockDirection says whether data enters or leaves a project.
type AirlockDirection string

// The directions.
const (
	AirlockImport AirlockDirection = "import"
	AirlockExport AirlockDirection = "export"
)

// AirlockState is an airlock request's state, after AzureTRE (draft,
// submitted, in_review, approved, rejected, cancelled, blocked, failed,
// revoked) and OpenSAFELY (returned for changes, withdrawn, released).
type AirlockState string

// The airlock states.
const (
	AirlockDraft     AirlockState = "draft"
	AirlockSubmitted AirlockState = "submitted"
	AirlockInReview  AirlockState = "in_review"
	AirlockApproved  AirlockState = "approved"
	AirlockRejected  AirlockState = "rejected"
	AirlockCancelled AirlockState = "cancelled"
	AirlockBlocked   AirlockState = "blocked"
	AirlockFailed    AirlockState = "failed"
	AirlockRevoked   AirlockState = "revoked"
	AirlockReturned  AirlockState = "returned"
	AirlockWithdrawn AirlockState = "withdrawn"
	AirlockReleased  AirlockState = "released"
)

// AirlockStates lists every state.
var AirlockStates = []AirlockState{AirlockDraft, AirlockSubmitted, AirlockInReview, AirlockApproved, AirlockRejected,
	AirlockCancelled, AirlockBlocked, AirlockFailed, AirlockRevoked, AirlockReturned, AirlockWithdrawn, AirlockReleased}

// airlockTransitions is the transition table: from → allowed targets.
//
//	draft     → submitted (requester), cancelled (requester, owner)
//	submitted → in_review (reviewer, or the first vote), withdrawn (requester), blocked, failed (system)
//	in_review → approved (votes only), rejected, returned (reviewer), withdrawn (requester), blocked, failed (system)
//	returned  → submitted (requester resubmits), cancelled, withdrawn (requester)
//	approved  → released (system or reviewer), revoked (reviewer, admin), failed (system)
//	released  → revoked (reviewer, admin)
//	rejected, cancelled, blocked, failed, revoked, withdrawn: terminal
var airlockTransitions = map[AirlockState][]AirlockState{
	AirlockDraft:     {AirlockSubmitted, AirlockCancelled},
	AirlockSubmitted: {AirlockInReview, AirlockWithdrawn, AirlockBlocked, AirlockFailed},
	AirlockInReview:  {AirlockApproved, AirlockRejected, AirlockReturned, AirlockWithdrawn, AirlockBlocked, AirlockFailed},
	AirlockReturned:  {AirlockSubmitted, AirlockCancelled, AirlockWithdrawn},
	AirlockApproved:  {AirlockReleased, AirlockRevoked, AirlockFailed},
	AirlockReleased:  {AirlockRevoked},
}

// CanTransition reports whether an airlock request may move from → to.
func CanTransition(from, to AirlockState) bool {
	for _, s := range airlockTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves s.
func (s AirlockState) Terminal() bool { return len(airlockTransitions[s]) == 0 }

// Valid reports whether s is a defined state.
func (s AirlockState) Valid() bool {
	for _, x := range AirlockStates {
		if s == x {
			return true
		}
	}
	return false
}

// DisclosureResult is the automatic disclosure check's verdict on a file.
type DisclosureResult string

// The disclosure results; "" means not checked yet.
const (
	DisclosurePass    DisclosureResult = "pass"
	DisclosureReview  DisclosureResult = "review"
	DisclosureFail    DisclosureResult = "fail"
	DisclosureBlocked DisclosureResult = "blocked"
)

// AirlockFile is one file's metadata; the bytes live in storage.
type AirlockFile struct {
	Name       string           `json:"name"`
	Size       int64            `json:"size"`
	SHA256     string           `json:"sha256"`
	Disclosure DisclosureResult `json:"disclosure,omitempty"`
	AddedAt    time.Time        `json:"added_at"`
}

// VoteDecision is a reviewer's decision on one file.
type VoteDecision string

// The decisions.
const (
	VoteApprove VoteDecision = "approve"
	VoteReject  VoteDecision = "reject"
)

// AirlockVote is one reviewer's decision on one file.
type AirlockVote struct {
	Reviewer string       `json:"reviewer"`
	File     string       `json:"file"`
	Decision VoteDecision `json:"decision"`
	At       time.Time    `json:"at"`
}

// AirlockComment is a note on a request.
type AirlockComment struct {
	Author string    `json:"author"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

// AirlockTransition records one state change.
type AirlockTransition struct {
	From   AirlockState `json:"from"`
	To     AirlockState `json:"to"`
	By     string       `json:"by"`
	Reason string       `json:"reason,omitempty"`
	At     time.Time    `json:"at"`
}

// AirlockRequest is one import or export through the airlock.
type AirlockRequest struct {
	ID                 string              `json:"id"`
	ProjectID          string              `json:"project_id"`
	Direction          AirlockDirection    `json:"direction"`
	CreatedBy          string              `json:"created_by"`
	WorkstationID      string              `json:"workstation_id,omitempty"`
	Title              string              `json:"title"`
	Context            string              `json:"context,omitempty"`             // the researcher's context
	DisclosureControls string              `json:"disclosure_controls,omitempty"` // controls applied, required for export
	State              AirlockState        `json:"state"`
	RequiredApprovals  int                 `json:"required_approvals"`
	Files              []AirlockFile       `json:"files"`
	DisclosureRecord   json.RawMessage     `json:"disclosure_record,omitempty"`
	Votes              []AirlockVote       `json:"votes,omitempty"`
	Comments           []AirlockComment    `json:"comments,omitempty"`
	History            []AirlockTransition `json:"history,omitempty"`
	CreatedAt          time.Time           `json:"created_at"`
	UpdatedAt          time.Time           `json:"updated_at"`
}

// Limits on airlock requests.
const (
	MaxAirlockFiles        = 100
	MaxAirlockComments     = 500
	MaxAirlockTransitions  = 200 // bounds review rounds (returned → submitted → ...)
	MaxDisclosureRecordLen = 512 << 10
	MaxFileNameLen         = 255
)

// Validate checks the request's fields.
func (r AirlockRequest) Validate() error {
	if err := checkID("id", r.ID); err != nil {
		return err
	}
	if err := checkID("project_id", r.ProjectID); err != nil {
		return err
	}
	if r.Direction != AirlockImport && r.Direction != AirlockExport {
		return FieldError("direction", "must be import or export")
	}
	if err := checkOptionalID("workstation_id", r.WorkstationID); err != nil {
		return err
	}
	if err := checkName("title", r.Title); err != nil {
		return err
	}
	if err := checkText("context", r.Context, MaxTextLen, false, true); err != nil {
		return err
	}
	if err := checkText("disclosure_controls", r.DisclosureControls, MaxTextLen, false, true); err != nil {
		return err
	}
	if !r.State.Valid() {
		return FieldError("state", "unknown state %q", r.State)
	}
	if r.RequiredApprovals < 1 || r.RequiredApprovals > 5 {
		return FieldError("required_approvals", "must be 1-5")
	}
	if len(r.Files) > MaxAirlockFiles {
		return FieldError("files", "more than %d files", MaxAirlockFiles)
	}
	return nil
}

// File returns the named file and whether it exists.
func (r AirlockRequest) File(name string) (AirlockFile, bool) {
	for _, f := range r.Files {
		if f.Name == name {
			return f, true
		}
	}
	return AirlockFile{}, false
}

// Approvals counts distinct approving reviewers of a file.
func (r AirlockRequest) Approvals(file string) int {
	seen := map[string]bool{}
	for _, v := range r.Votes {
		if v.File == file && v.Decision == VoteApprove {
			seen[v.Reviewer] = true
		}
	}
	return len(seen)
}

// AllApproved reports whether every file has enough approvals.
func (r AirlockRequest) AllApproved() bool {
	if len(r.Files) == 0 {
		return false
	}
	for _, f := range r.Files {
		if r.Approvals(f.Name) < r.RequiredApprovals {
			return false
		}
	}
	return true
}

// CheckFileName refuses names that are not a single plain file name: path
// separators, traversal, hidden files, control and bidi characters, or
// anything not in Unicode normal printable form.
func CheckFileName(name string) error {
	if err := checkText("name", name, MaxFileNameLen, true, false); err != nil {
		return err
	}
	if name != strings.TrimSpace(name) || strings.ContainsAny(name, `/\:*?"<>|`) || name == "." || name == ".." ||
		strings.HasPrefix(name, ".") || path.Base(name) != name {
		return FieldError("name", "%q is not a plain file name", name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return FieldError("name", "contains a non-printing character")
		}
	}
	return nil
}

// CreateAirlock opens a draft request.
type CreateAirlock struct {
	ID                string           `json:"id"`
	ProjectID         string           `json:"project_id"`
	Direction         AirlockDirection `json:"direction"`
	WorkstationID     string           `json:"workstation_id,omitempty"`
	Title             string           `json:"title"`
	Context           string           `json:"context,omitempty"`
	RequiredApprovals int              `json:"required_approvals"`
}

// Validate checks the request.
func (p CreateAirlock) Validate() error {
	return AirlockRequest{ID: p.ID, ProjectID: p.ProjectID, Direction: p.Direction, WorkstationID: p.WorkstationID,
		Title: p.Title, Context: p.Context, State: AirlockDraft, RequiredApprovals: p.RequiredApprovals}.Validate()
}

// AddAirlockFile records a staged file's metadata on a draft or returned
// request; a file of the same name is replaced.
type AddAirlockFile struct {
	RequestID string `json:"request_id"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// Validate checks the metadata.
func (p AddAirlockFile) Validate() error {
	if err := checkID("request_id", p.RequestID); err != nil {
		return err
	}
	if err := CheckFileName(p.Name); err != nil {
		return err
	}
	if p.Size < 0 {
		return FieldError("size", "is negative")
	}
	if !ValidSHA256(p.SHA256) {
		return FieldError("sha256", "must be a SHA-256 hex digest")
	}
	return nil
}

// SubmitAirlock submits a request with the disclosure check results: a
// result per file and the machine-readable record.
type SubmitAirlock struct {
	RequestID          string                      `json:"request_id"`
	DisclosureControls string                      `json:"disclosure_controls,omitempty"`
	Results            map[string]DisclosureResult `json:"results"`
	Record             json.RawMessage             `json:"record,omitempty"`
}

// Validate checks the fields.
func (p SubmitAirlock) Validate() error {
	if err := checkID("request_id", p.RequestID); err != nil {
		return err
	}
	if err := checkText("disclosure_controls", p.DisclosureControls, MaxTextLen, false, true); err != nil {
		return err
	}
	if len(p.Results) > MaxAirlockFiles {
		return FieldError("results", "too many")
	}
	for _, r := range p.Results {
		switch r {
		case DisclosurePass, DisclosureReview, DisclosureFail, DisclosureBlocked:
		default:
			return FieldError("results", "unknown result %q", r)
		}
	}
	if len(p.Record) > MaxDisclosureRecordLen {
		return &Error{Code: CodeTooLarge, Field: "record", Message: "disclosure record is too large"}
	}
	if len(p.Record) > 0 && !json.Valid(p.Record) {
		return FieldError("record", "is not JSON")
	}
	return nil
}

// VoteAirlock records a reviewer's decision on one file.
type VoteAirlock struct {
	RequestID string       `json:"request_id"`
	File      string       `json:"file"`
	Decision  VoteDecision `json:"decision"`
}

// Validate checks the fields.
func (p VoteAirlock) Validate() error {
	if err := checkID("request_id", p.RequestID); err != nil {
		return err
	}
	if err := CheckFileName(p.File); err != nil {
		return err
	}
	if p.Decision != VoteApprove && p.Decision != VoteReject {
		return FieldError("decision", "must be approve or reject")
	}
	return nil
}

// CommentAirlock adds a comment.
type CommentAirlock struct {
	RequestID string `json:"request_id"`
	Text      string `json:"text"`
}

// Validate checks the fields.
func (p CommentAirlock) Validate() error {
	if err := checkID("request_id", p.RequestID); err != nil {
		return err
	}
	return checkText("text", p.Text, MaxTextLen, true, true)
}

// TransitionAirlock moves a request to another state.
type TransitionAirlock struct {
	RequestID string       `json:"request_id"`
	To        AirlockState `json:"to"`
	Reason    string       `json:"reason,omitempty"`
}

// Validate checks the fields.
func (p TransitionAirlock) Validate() error {
	if err := checkID("request_id", p.RequestID); err != nil {
		return err
	}
	if !p.To.Valid() {
		return FieldError("to", "unknown state %q", p.To)
	}
	return checkText("reason", p.Reason, MaxTextLen, false, true)
}
