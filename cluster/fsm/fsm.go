package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// MaxRequestResults is how many request IDs the state remembers for
// idempotency; the oldest are forgotten first.
const MaxRequestResults = 10000

// Result is what Apply returns for each entry (as the raft.ApplyFuture's
// Response). Err is nil on success; Value is the JSON of what the command
// produced (the created object, for most).
type Result struct {
	Index uint64          `json:"index"`
	Err   *model.Error    `json:"err,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// FSM applies raft log entries to the state. It implements raft.FSM.
type FSM struct {
	st      *state.Store
	log     *slog.Logger
	onApply func(index uint64)
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM over st. onApply, if not nil, is called after each
// entry is applied (and after a restore), e.g. to kick the reconciler.
func New(st *state.Store, logger *slog.Logger, onApply func(index uint64)) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onApply == nil {
		onApply = func(uint64) {}
	}
	return &FSM{st: st, log: logger, onApply: onApply}
}

// Apply applies one log entry and returns its Result. See the package
// documentation for the outcomes.
func (f *FSM) Apply(l *raft.Log) any {
	res := f.apply(l.Index, l.Data)
	f.onApply(l.Index)
	return res
}

// ApplyCommand applies an already-decoded command at index, as Apply would.
// It is for tests and tools that feed the FSM without raft.
func (f *FSM) ApplyCommand(index uint64, cmd model.Command) Result {
	b, err := Encode(cmd)
	if err != nil {
		return Result{Index: index, Err: model.AsError(err)}
	}
	return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b}).(Result)
}

// refusal is a domain error that refuses an entry, with the object the
// handler was checking (for the audit event).
type refusal struct {
	err    *model.Error
	target model.Object
}

func (r *refusal) Error() string { return r.err.Error() }

// entry is a log entry, decoded.
type entry struct {
	index uint64
	cmd   model.Command
	derr  *model.Error // malformed: refused before anything else
}

func decodeEntry(index uint64, data []byte) entry {
	cmd, err := Decode(data)
	if err != nil {
		return entry{index: index, cmd: model.Command{Type: cmd.Type}, derr: model.AsError(err)}
	}
	return entry{index: index, cmd: cmd}
}

// step applies one entry inside tx. It returns the entry's result, or a
// *refusal (a domain error: the caller must roll tx back and record the
// refusal in a transaction of its own), or another error (this replica
// cannot apply the log: fatal).
func (f *FSM) step(tx *state.Tx, e entry) (Result, error) {
	if e.index <= tx.AppliedIndex() {
		return Result{Index: e.index}, nil
	}
	if e.derr != nil {
		return Result{}, &refusal{err: e.derr}
	}
	reqKey := requestKey(e.cmd)
	if reqKey != "" {
		if prev, ok := tx.RequestResult(reqKey); ok {
			var res Result
			if err := json.Unmarshal(prev, &res); err != nil {
				return Result{}, fmt.Errorf("decoding stored result of a request: %w", err)
			}
			return res, tx.SetAppliedIndex(e.index)
		}
	}
	var target model.Object
	value, err := f.run(tx, e.index, e.cmd, &target)
	if err != nil {
		var me *model.Error
		if errors.As(err, &me) {
			return Result{}, &refusal{err: me, target: target}
		}
		return Result{}, err
	}
	res := Result{Index: e.index, Value: value}
	return res, f.finish(tx, e.index, reqKey, res)
}

func (f *FSM) apply(index uint64, data []byte) Result {
	e := decodeEntry(index, data)
	var res Result
	err := f.st.Update(func(tx *state.Tx) error {
		var err error
		res, err = f.step(tx, e)
		return err
	})
	if err == nil {
		return res
	}
	var r *refusal
	if !errors.As(err, &r) {
		panic(fmt.Sprintf("fsm: cannot apply log index %d (%s): %v", index, e.cmd.Type, err))
	}
	return f.refuse(index, e.cmd, r.target, r.err)
}

// run decodes the payload, resolves the actor and calls the handler, which
// re-checks policy and invariants and mutates; then it appends the audit
// events. A handler panic is a bug: it is turned into an internal error so
// every replica refuses the entry alike.
func (f *FSM) run(tx *state.Tx, index uint64, cmd model.Command, target *model.Object) (value json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			f.log.Error("command handler panicked", "index", index, "command", cmd.Type.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			value, err = nil, model.Errorf(model.CodeInternal, "%s handler failed", cmd.Type)
		}
	}()
	h, ok := handlers[cmd.Type]
	if !ok {
		return nil, model.Errorf(model.CodeInvalid, "no handler for %s", cmd.Type)
	}
	who, err := tx.Principal(cmd.Actor, cmd.Time)
	if err != nil {
		return nil, err
	}
	c := &applyCtx{tx: tx, cmd: cmd, index: index, who: who}
	v, err := h(c)
	*target = c.target
	if err != nil {
		return nil, err
	}
	for _, e := range c.events {
		if _, err := tx.AppendAudit(e); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s result: %w", cmd.Type, err)
	}
	return b, nil
}

func (f *FSM) finish(tx *state.Tx, index uint64, reqKey string, res Result) error {
	if reqKey != "" {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if err := tx.PutRequestResult(reqKey, index, b, MaxRequestResults); err != nil {
			return fmt.Errorf("storing request result: %w", err)
		}
	}
	return tx.SetAppliedIndex(index)
}

// refuse records a refused entry: one audit event naming what was
// attempted (when the handler got that far), the result, the index.
func (f *FSM) refuse(index uint64, cmd model.Command, target model.Object, me *model.Error) Result {
	outcome := model.OutcomeFailure
	if me.Code == model.CodeForbidden || me.Code == model.CodeUnauthenticated {
		outcome = model.OutcomeDenied
	}
	action := "command.malformed"
	if cmd.Type.Known() {
		action = cmd.Type.String()
	}
	details := map[string]string{"error_code": string(me.Code), "error": truncate(me.Error(), model.MaxDetailLen)}
	f.log.Info("command refused", "index", index, "command", action, "actor", cmd.Actor.String(), "code", string(me.Code), "err", me.Error())
	res := Result{Index: index, Err: me}
	reqKey := requestKey(cmd)
	err := f.st.Update(func(tx *state.Tx) error {
		if index <= tx.AppliedIndex() {
			res = Result{Index: index}
			return nil
		}
		obj := ""
		if target.Kind != "" {
			obj = target.String()
		}
		if _, err := tx.AppendAudit(model.AuditEvent{Index: index, Time: cmd.Time, Actor: cmd.Actor, Action: action,
			Object: obj, ProjectID: target.ProjectID, Outcome: outcome, RequestID: cmd.RequestID, Details: details}); err != nil {
			return err
		}
		return f.finish(tx, index, reqKey, res)
	})
	if err != nil {
		panic(fmt.Sprintf("fsm: cannot record refusal of log index %d: %v", index, err))
	}
	return res
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// requestKey scopes a request ID to its actor, so one actor cannot read or
// block another's results by guessing IDs.
func requestKey(cmd model.Command) string {
	if cmd.RequestID == "" {
		return ""
	}
	return cmd.Actor.String() + "\x00" + cmd.RequestID
}

// Snapshot captures the state for raft. Writes go on while it is persisted.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	sn, err := f.st.Snapshot()
	if err != nil {
		return nil, err
	}
	return &snapshot{sn: sn}, nil
}

// Restore replaces the state with a snapshot. A corrupt or foreign snapshot
// is refused and the current state kept.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.st.Restore(rc); err != nil {
		return fmt.Errorf("restoring state from snapshot: %w", err)
	}
	idx := f.st.AppliedIndex()
	f.log.Info("state restored from snapshot", "applied_index", idx)
	f.onApply(idx)
	return nil
}

type snapshot struct{ sn *state.Snapshot }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.sn.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("writing state snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { s.sn.Release() }
