package airlock

import (
	"context"
	"io"

	"github.com/sded/sded/cluster/model"
)

// Requests reads airlock state and authorises what is not a state change
// (*cluster.Service implements it).
type Requests interface {
	Airlock(ctx context.Context, actor model.Actor, id string) (model.AirlockRequest, error)
	AirlockRequests(ctx context.Context, actor model.Actor, projectID string) ([]model.AirlockRequest, error)
	AirlockObject(ctx context.Context, id string) (model.Object, error)
	GetProject(ctx context.Context, actor model.Actor, id string) (model.Project, error)
	// Authorize checks actor may do a on o; a refusal is audited.
	Authorize(ctx context.Context, actor model.Actor, a model.Action, o model.Object) error
	RecordAudit(ctx context.Context, actor model.Actor, ev model.RecordAudit) error
}

// System is the node's own access, with no user behind it: reading a
// request or a project's requests without a policy check (releasing,
// rebuilding a data volume) and recording audit events no user caused (a
// forged download link). The daemon reads its local replica (state.Store)
// and proposes RecordAudit as the node.
type System interface {
	AirlockRequest(ctx context.Context, id string) (model.AirlockRequest, error)
	ProjectAirlockRequests(ctx context.Context, projectID string) ([]model.AirlockRequest, error)
	RecordSystemAudit(ctx context.Context, ev model.RecordAudit) error
}

// Commands changes airlock state through raft (*cluster.Service implements
// it). The FSM re-checks policy and the transition table.
type Commands interface {
	CreateAirlock(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error)
	AddAirlockFile(ctx context.Context, actor model.Actor, p model.AddAirlockFile) (model.AirlockRequest, error)
	SubmitAirlock(ctx context.Context, actor model.Actor, p model.SubmitAirlock) (model.AirlockRequest, error)
	VoteAirlock(ctx context.Context, actor model.Actor, p model.VoteAirlock) (model.AirlockRequest, error)
	CommentAirlock(ctx context.Context, actor model.Actor, p model.CommentAirlock) (model.AirlockRequest, error)
	TransitionAirlock(ctx context.Context, actor model.Actor, p model.TransitionAirlock) (model.AirlockRequest, error)
	TransitionAirlockAsSystem(ctx context.Context, p model.TransitionAirlock) (model.AirlockRequest, error)
}

// StoredFile is a file in the staged store.
type StoredFile struct {
	ID     string
	Name   string
	Size   int64
	SHA256 string // hex, of the plaintext
}

// FileStore keeps staged files encrypted per project (storage/staged.Store
// behind an adapter). Refusals of the input (bad name, blocked type, too
// large, archive bomb) must come back as *model.Error with code invalid or
// too_large so that callers get a clear message; anything else is treated as
// an internal failure. A failed Put leaves nothing behind.
type FileStore interface {
	// CheckName refuses a name the store would refuse, before any byte is read.
	CheckName(name string) error
	Put(ctx context.Context, projectID string, key []byte, name string, r io.Reader) (StoredFile, error)
	Open(ctx context.Context, projectID string, key []byte, id string) (io.ReadCloser, error)
	Delete(ctx context.Context, projectID, id string) error
}

// Keys returns a project's airlock keys, derived from its data key
// (storage.DEK.StagingKey and PseudonymKey).
type Keys interface {
	AirlockKeys(ctx context.Context, projectID string) (staging, pseudonym []byte, err error)
}

// CheckInput is one file to check.
type CheckInput struct {
	Name string
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// The checker's file statuses (storage/disclosure's).
const (
	StatusPass   = "pass"
	StatusFail   = "fail"
	StatusReview = "review"
	StatusError  = "error" // malformed or oversized table: the file cannot be checked
)

// CheckResult is the outcome of a disclosure check.
type CheckResult struct {
	// Status per file name: StatusPass, StatusFail, StatusReview or StatusError.
	Status map[string]string
	// Errors says why a file has StatusError.
	Errors map[string]string
	// Record is the machine-readable disclosure record (JSON) of at most the
	// maxRecord bytes asked for.
	Record []byte
}

// Checker runs the automatic disclosure checks (storage/disclosure behind an
// adapter) with the rules of a project tier.
type Checker interface {
	Check(ctx context.Context, requestID string, tier int, files []CheckInput, maxRecord int) (CheckResult, error)
}

// Pseudonymiser copies a CSV from r to w replacing the named columns'
// values with keyed pseudonyms (storage/pseudonym.Transform). Malformed
// input or unknown columns must come back as *model.Error code invalid.
type Pseudonymiser interface {
	Pseudonymise(ctx context.Context, key []byte, r io.Reader, w io.Writer, columns []string) error
}

// DataFile is one approved import file for the project's data volume.
type DataFile struct {
	Name string
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// VolumeBuilder rebuilds a project's read-only data volume from the complete
// list of approved import files (storage.Volumes.BuildDataVolume with the
// project's data-volume secret).
type VolumeBuilder interface {
	BuildDataVolume(ctx context.Context, projectID string, files []DataFile) error
}
