package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
)

// applyTimeout bounds how long a leader waits to enqueue one entry.
const applyTimeout = 5 * time.Second

// Propose commits cmd through raft and returns the FSM's result. On the leader
// it applies the command; on a follower it forwards it to the leader over the
// mutual-TLS cluster RPC. The FSM's *model.Error arrives in Result.Err intact,
// whichever node applied it.
//
// While leadership changes, Propose retries with the same RequestID (stamping a
// random one if cmd has none), which the FSM deduplicates, until ctx ends. An
// error is a *model.Error: "invalid" or "too_large" for a command that cannot
// be encoded, "unavailable" when no leader committed it in time (its outcome is
// then unknown: retry with the same RequestID).
func (n *Node) Propose(ctx context.Context, cmd model.Command) (fsm.Result, error) {
	if cmd.RequestID == "" {
		cmd.RequestID = randomID()
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	return n.proposeEncoded(ctx, data)
}

func (n *Node) proposeEncoded(ctx context.Context, data []byte) (fsm.Result, error) {
	var last error
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		res, err, retry := n.proposeOnce(ctx, data)
		if !retry {
			return res, err
		}
		last = err
		select {
		case <-ctx.Done():
			return fsm.Result{}, unavailable("proposing: %v (last error: %v)", ctx.Err(), last)
		case <-n.ctx.Done():
			return fsm.Result{}, unavailable("proposing: node is shutting down")
		case <-time.After(wait):
		}
	}
}

// proposeOnce tries the current leader once; retry says whether another
// attempt (with the same bytes) makes sense.
func (n *Node) proposeOnce(ctx context.Context, data []byte) (fsm.Result, error, bool) {
	addr, id := n.raft.LeaderWithID()
	switch {
	case addr == "":
		return fsm.Result{}, unavailable("no leader"), true
	case string(id) == n.id:
		res, err := n.applyLocal(ctx, data, true)
		if err != nil {
			return res, err, isRetryable(err)
		}
		return res, nil, false
	}
	var res fsm.Result
	err := n.rpc.call(ctx, string(addr), "propose", proposeRequest{Cmd: data}, &res)
	if err != nil {
		var me *model.Error
		if errors.As(err, &me) && me.Code == codeUnavailable {
			return res, err, true
		}
		return res, err, false
	}
	return res, nil, false
}

type proposeRequest struct {
	Cmd []byte `json:"cmd"`
}

// applyLocal applies an encoded command on this node, which must lead.
// encodedHere says data came from fsm.Encode in this process; bytes from a
// peer are decoded first, so malformed ones never reach the log.
func (n *Node) applyLocal(ctx context.Context, data []byte, encodedHere bool) (fsm.Result, error) {
	if len(data) > fsm.MaxCommandSize {
		return fsm.Result{}, &model.Error{Code: codeTooLarge, Message: fmt.Sprintf("command of %d bytes exceeds the %d byte limit", len(data), fsm.MaxCommandSize)}
	}
	if !encodedHere {
		if _, err := fsm.Decode(data); err != nil {
			return fsm.Result{}, err
		}
	}
	f := n.raft.Apply(data, applyTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fsm.Result{}, unavailableFromRaft(err)
		}
	case <-ctx.Done():
		return fsm.Result{}, unavailable("waiting for commit: %v (outcome unknown; retry with the same request ID)", ctx.Err())
	}
	switch r := f.Response().(type) {
	case fsm.Result:
		return r, nil
	case *fsm.Result:
		return *r, nil
	case *model.Error:
		return fsm.Result{Index: f.Index(), Err: r}, nil
	case error:
		return fsm.Result{Index: f.Index(), Err: toModelError(r)}, nil
	default:
		return fsm.Result{}, &model.Error{Code: codeInternal, Message: fmt.Sprintf("FSM returned %T", r)}
	}
}

// errNotLeader is what a node answers to a forwarded request it cannot serve.
var errNotLeader = &model.Error{Code: codeUnavailable, Message: "not the leader"}

func unavailableFromRaft(err error) error {
	return &model.Error{Code: codeUnavailable, Message: "raft: " + err.Error()}
}

// isRetryable reports whether the same request may be sent again: the leader
// changed or was unreachable, so the command may or may not have committed.
func isRetryable(err error) bool {
	var me *model.Error
	return errors.As(err, &me) && me.Code == codeUnavailable &&
		me.Message != "raft: "+raft.ErrRaftShutdown.Error()
}

// handlePropose serves a follower's forwarded command.
func (n *Node) handlePropose(ctx context.Context, peer string, body json.RawMessage) (any, error) {
	var req proposeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &model.Error{Code: codeInvalid, Message: "decoding forwarded command: " + err.Error()}
	}
	if !n.IsLeader() {
		return nil, errNotLeader
	}
	res, err := n.applyLocal(ctx, req.Cmd, false)
	if err != nil {
		var me *model.Error
		if errors.As(err, &me) && me.Code != codeUnavailable {
			n.logger.Warn("refused forwarded command", "peer", peer, "err", err)
		}
		return nil, err
	}
	return res, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
