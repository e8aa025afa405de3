package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Outcome is how an audited attempt ended.
type Outcome string

// The outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeDenied  Outcome = "denied"
	OutcomeFailure Outcome = "failure"
)

// AuditEvent is one entry of the tamper-evident audit log. Hash is the SHA-256
// of PrevHash and the event's canonical JSON without Hash, so changing,
// removing or reordering any entry breaks the chain from there on. Details
// never hold secrets.
type AuditEvent struct {
	Seq       uint64            `json:"seq"`
	Index     uint64            `json:"index"` // raft log index that wrote it
	Time      time.Time         `json:"time"`
	Actor     Actor             `json:"actor"`
	Action    string            `json:"action"`
	Object    string            `json:"object,omitempty"` // kind/id
	ProjectID string            `json:"project_id,omitempty"`
	Outcome   Outcome           `json:"outcome"`
	RequestID string            `json:"request_id,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
	PrevHash  string            `json:"prev_hash"`
	Hash      string            `json:"hash"`
}

// ComputeHash returns the hash the event should carry given its PrevHash.
func (e AuditEvent) ComputeHash() string {
	e.Hash = ""
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e) // struct fields in order, map keys sorted: canonical
	if err != nil {
		// Only unsupported values fail; AuditEvent has none.
		panic("marshalling audit event: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// AuditKinds are the audit-only events a RecordAudit command may carry
// (things that change no state but must be on record).
var AuditKinds = map[string]bool{
	"login.failure": true, "login.lockout": true, "logout": true, "session.expired": true,
	"desktop.open": true, "desktop.close": true, "airlock.file_view": true, "airlock.file_download": true,
	"network.drift_repaired": true, "access.denied": true, "join.denied": true, "api.denied": true,
	"project.key_destroyed": true, "workstation.console": true,
}

// RecordAudit writes an audit-only event.
type RecordAudit struct {
	Action    string            `json:"action"`
	Object    string            `json:"object,omitempty"`
	ProjectID string            `json:"project_id,omitempty"`
	Outcome   Outcome           `json:"outcome"`
	Details   map[string]string `json:"details,omitempty"`
}

// Validate checks the event.
func (p RecordAudit) Validate() error {
	if !AuditKinds[p.Action] {
		return FieldError("action", "%q is not an audit-only event", p.Action)
	}
	if err := checkText("object", p.Object, 256, false, false); err != nil {
		return err
	}
	if err := checkOptionalID("project_id", p.ProjectID); err != nil {
		return err
	}
	switch p.Outcome {
	case OutcomeSuccess, OutcomeDenied, OutcomeFailure:
	default:
		return FieldError("outcome", "must be success, denied or failure")
	}
	return CheckDetails(p.Details)
}

// secretWords are the last words of detail keys that name a secret
// ("password", "new_password", "session_hash", "wrapped_key"); Validate
// refuses them. IDs ("token_id", "kek_id") are fine.
var secretWords = map[string]bool{"password": true, "secret": true, "token": true, "hash": true, "key": true,
	"seed": true, "otp": true, "totp": true, "wrapped": true, "dek": true, "kek": true}

// Validate checks an event about to be stored.
func (e AuditEvent) Validate() error {
	if e.Action == "" {
		return FieldError("action", "is required")
	}
	for k := range e.Details {
		words := strings.FieldsFunc(k, func(r rune) bool { return r == '_' || r == '.' || r == '-' })
		if len(words) > 0 && secretWords[words[len(words)-1]] {
			return FieldError("details", "key %q looks like a secret", k)
		}
	}
	return CheckDetails(e.Details)
}

// AuditQuery filters the audit log. Zero fields match everything.
type AuditQuery struct {
	ActorID   string    `json:"actor_id,omitempty"` // a user ID, or a node ID for system events
	Action    string    `json:"action,omitempty"`
	ProjectID string    `json:"project_id,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	Since     time.Time `json:"since,omitempty"`
	Until     time.Time `json:"until,omitempty"`
	Limit     int       `json:"limit,omitempty"` // 100 if 0; at most 10000
}

// Matches reports whether e passes the query's filters (Limit aside).
func (q AuditQuery) Matches(e AuditEvent) bool {
	actor := e.Actor.UserID
	if actor == "" {
		actor = e.Actor.NodeID
	}
	return (q.ActorID == "" || q.ActorID == actor) && (q.Action == "" || q.Action == e.Action) &&
		(q.ProjectID == "" || q.ProjectID == e.ProjectID) && (q.Outcome == "" || q.Outcome == string(e.Outcome)) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.Until.IsZero() || e.Time.Before(q.Until))
}
