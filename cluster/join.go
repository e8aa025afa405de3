package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sded/sded/cluster/model"
)

// The join protocol (protocol byte 'J'): the new node, which has no
// certificate yet, connects pinning the CA fingerprint from its token and sends
// one joinRequest frame; the server answers one joinResponse frame with the
// signed certificate. The new node then starts raft with that certificate and
// asks, over the mutual-TLS cluster RPC, to be added as a voter.

type joinRequest struct {
	Token  string `json:"token"`
	NodeID string `json:"node_id"`
	CSR    []byte `json:"csr"`
}

type joinResponse struct {
	Cert []byte       `json:"cert,omitempty"`
	Err  *model.Error `json:"err,omitempty"`
}

// selfAddWindow is how long after its certificate was issued a node that is
// not a member may ask to be added as a voter (a variable for tests).
var selfAddWindow = time.Hour

type addVoterRequest struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// Join makes the node described by cfg (a fresh data directory) a member of
// the cluster that addr (any member) belongs to, using a join token from
// CreateJoinToken. It gets its certificate signed, starts raft and waits until
// it is a voter. A data directory that already has raft state is simply
// opened: a node that joined before rejoins with its data. A join interrupted
// after the certificate was written resumes without spending another token.
func Join(ctx context.Context, addr, token string, cfg Config) (*Node, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if fresh, err := isFresh(filepath.Join(cfg.DataDir, "raft")); err != nil {
		return nil, err
	} else if !fresh {
		cfg.Logger.Info("data directory already has raft state; rejoining with it")
		n, err := open(ctx, cfg, false)
		if err != nil || n.inConfiguration(n.id) {
			return n, err
		}
		// Started before, but never added: finish the join.
		if err := n.addSelf(ctx, addr); err != nil {
			n.Close()
			return nil, err
		}
		return n, nil
	}
	tok, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.TLSDir, caCertFile)); err == nil {
		return resumeJoin(ctx, addr, tok, cfg)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating node key: %w", err)
	}
	csr, err := createCSR(cfg.NodeID, key)
	if err != nil {
		return nil, err
	}
	var ca *x509.Certificate
	conn, err := dialProto(ctx, addr, pinnedTLS(tok.fingerprint, &ca), protoJoin)
	if err != nil {
		return nil, fmt.Errorf("joining via %s: %w", addr, err)
	}
	var resp joinResponse
	err = roundTripJoin(ctx, conn, joinRequest{Token: token, NodeID: cfg.NodeID, CSR: csr}, &resp)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("joining via %s: %w", addr, err)
	}
	if resp.Err != nil {
		return nil, fmt.Errorf("joining via %s: %w", addr, resp.Err)
	}
	cert, err := x509.ParseCertificate(resp.Cert)
	if err != nil {
		return nil, fmt.Errorf("joining via %s: parsing signed certificate: %w", addr, err)
	}
	id := &identity{caCert: ca, cert: cert, key: key}
	if err := id.check(); err != nil {
		return nil, fmt.Errorf("joining via %s: signed certificate: %w", addr, err)
	}
	if err := os.MkdirAll(cfg.TLSDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating TLS directory: %w", err)
	}
	if err := writeKey(filepath.Join(cfg.TLSDir, nodeKeyFile), key); err != nil {
		return nil, err
	}
	if err := writeCert(filepath.Join(cfg.TLSDir, nodeCertFile), cert); err != nil {
		return nil, err
	}
	if err := writeCert(filepath.Join(cfg.TLSDir, caCertFile), ca); err != nil {
		return nil, err
	}
	n, err := open(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	if err := n.addSelf(ctx, addr); err != nil {
		n.Close()
		return nil, err
	}
	n.logger.Info("joined cluster", "via", addr)
	return n, nil
}

// resumeJoin finishes a join whose certificate was already written.
func resumeJoin(ctx context.Context, addr string, tok parsedToken, cfg Config) (*Node, error) {
	id, err := loadIdentity(cfg.TLSDir)
	if err != nil {
		return nil, fmt.Errorf("joining: %w", err)
	}
	if id.caKey != nil || id.fingerprint() != tok.fingerprint || id.nodeID() != cfg.NodeID {
		return nil, fmt.Errorf("joining: %s already holds TLS material of another cluster or node; use an empty data directory", cfg.TLSDir)
	}
	cfg.Logger.Info("resuming an interrupted join")
	n, err := open(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	if err := n.addSelf(ctx, addr); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func roundTripJoin(ctx context.Context, conn *tls.Conn, req joinRequest, resp *joinResponse) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultRPCTimeout)
	}
	_ = conn.SetDeadline(deadline)
	if err := writeFrame(conn, req); err != nil {
		return err
	}
	return readFrame(conn, resp)
}

// addSelf asks the cluster (via addr, which forwards to the leader) to add this
// node as a voter, and waits until this node has a leader.
func (n *Node) addSelf(ctx context.Context, addr string) error {
	req := addVoterRequest{ID: n.id, Addr: n.cfg.AdvertiseAddr}
	var err error
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		if err = n.rpc.call(ctx, addr, "addvoter", req, nil); err == nil {
			break
		}
		if !isRetryable(err) {
			return fmt.Errorf("adding this node as a voter: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("adding this node as a voter: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	return n.WaitLeader(ctx)
}

// maxJoinFrame bounds a join request (a token and a certificate request are
// well under 4 KiB); maxJoins bounds joins served at once.
const (
	maxJoinFrame = 64 << 10
	maxJoins     = 8
)

// serveJoin answers one join request on a connection without a client
// certificate.
func (n *Node) serveJoin(conn *tls.Conn) {
	defer conn.Close()
	remote := conn.RemoteAddr().String()
	select {
	case n.joinSlots <- struct{}{}:
		defer func() { <-n.joinSlots }()
	default:
		n.mux.refuse(remote, "join: too many joins in progress", true)
		_ = writeFrame(conn, joinResponse{Err: unavailable("too many joins in progress; try again")})
		return
	}
	_ = conn.SetDeadline(time.Now().Add(defaultRPCTimeout))
	var req joinRequest
	if err := readFrameLimit(conn, &req, maxJoinFrame); err != nil {
		n.mux.refuse(remote, fmt.Sprintf("join: reading request: %v", err), true)
		return
	}
	cert, err := n.signJoin(n.ctx, req)
	if err != nil {
		me := toModelError(err)
		n.mux.refuse(remote, fmt.Sprintf("join as node %q refused: %v", req.NodeID, me), true)
		_ = writeFrame(conn, joinResponse{Err: me})
		return
	}
	n.logger.Info("signed certificate for joining node", "node", req.NodeID, "remote", remote)
	_ = writeFrame(conn, joinResponse{Cert: cert.Raw})
}

// signJoin checks a join request and signs its certificate, here if this node
// holds the CA key, otherwise on the member that does.
func (n *Node) signJoin(ctx context.Context, req joinRequest) (*x509.Certificate, error) {
	if err := validNodeID(req.NodeID); err != nil {
		return nil, &model.Error{Code: codeInvalid, Field: "node_id", Message: err.Error()}
	}
	tok, err := parseToken(req.Token)
	if err != nil {
		return nil, err
	}
	if tok.fingerprint != n.ident.fingerprint() {
		return nil, ErrTokenInvalid
	}
	if n.inConfiguration(req.NodeID) {
		return nil, &model.Error{Code: model.CodeAlreadyExists, Message: fmt.Sprintf("node %q is already a member; remove it first", req.NodeID)}
	}
	if n.ident.caKey == nil {
		addr, err := n.caHolder(ctx)
		if err != nil {
			return nil, err
		}
		var out joinResponse
		if err := n.rpc.call(ctx, addr, "signjoin", req, &out); err != nil {
			return nil, err
		}
		return x509.ParseCertificate(out.Cert)
	}
	// Check the request before spending the token on it.
	if _, err := signCSR(n.ident.caCert, n.ident.caKey, req.CSR, req.NodeID); err != nil {
		return nil, &model.Error{Code: codeInvalid, Field: "csr", Message: err.Error()}
	}
	if err := n.tokens().use(tokenHash(tok.secret), req.NodeID, time.Now()); err != nil {
		return nil, err
	}
	return signCSR(n.ident.caCert, n.ident.caKey, req.CSR, req.NodeID)
}

// handleSignJoin signs a join request a member relayed.
func (n *Node) handleSignJoin(ctx context.Context, peer string, body json.RawMessage) (any, error) {
	var req joinRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &model.Error{Code: codeInvalid, Message: "decoding join request: " + err.Error()}
	}
	if n.ident.caKey == nil {
		return nil, &model.Error{Code: codeForbidden, Message: "this node does not hold the cluster CA key"}
	}
	cert, err := n.signJoin(ctx, req)
	if err != nil {
		return nil, err
	}
	n.logger.Info("signed certificate for a node joining via a peer", "node", req.NodeID, "via", peer)
	return joinResponse{Cert: cert.Raw}, nil
}

func (n *Node) inConfiguration(id string) bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// handleAddVoter adds a node as a voter. A node may add itself; a current
// member may forward the request for another.
func (n *Node) handleAddVoter(ctx context.Context, peer string, body json.RawMessage) (any, error) {
	var req addVoterRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &model.Error{Code: codeInvalid, Message: "decoding add-voter request: " + err.Error()}
	}
	if err := validNodeID(req.ID); err != nil {
		return nil, &model.Error{Code: codeInvalid, Field: "id", Message: err.Error()}
	}
	switch {
	case n.inConfiguration(peer):
		// A member forwarding a request (or re-adding itself): trusted.
	case peer != req.ID:
		return nil, &model.Error{Code: codeForbidden, Message: fmt.Sprintf("node %q may not add node %q", peer, req.ID)}
	case time.Since(peerIssued(ctx)) > selfAddWindow:
		// Removal does not revoke certificates; this keeps a removed node
		// from adding itself back. It must join again with a new token.
		return nil, &model.Error{Code: codeForbidden, Message: fmt.Sprintf("node %q's certificate was issued more than %s ago; join again with a new token", req.ID, selfAddWindow)}
	}
	addr, leaderID := n.raft.LeaderWithID()
	switch {
	case addr == "":
		return nil, unavailable("no leader")
	case string(leaderID) != n.id:
		return struct{}{}, n.rpc.call(ctx, string(addr), "addvoter", req, nil)
	}
	if err := wait(ctx, n.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.Addr), 0, applyTimeout)); err != nil {
		return nil, err
	}
	n.logger.Info("added voter", "node", req.ID, "addr", req.Addr, "by", peer)
	return struct{}{}, nil
}

type removeRequest struct {
	ID string `json:"id"`
}

// RemoveNode removes a node from the cluster configuration. The removed node
// stops receiving log entries; its data directory must be wiped before it can
// join again. Removing the last voter is refused.
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	req := removeRequest{ID: id}
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		addr, leaderID := n.raft.LeaderWithID()
		var err error
		switch {
		case addr == "":
			err = unavailable("no leader")
		case string(leaderID) == n.id:
			err = n.removeLocal(ctx, id)
		default:
			err = n.rpc.call(ctx, string(addr), "remove", req, nil)
		}
		if err == nil || !isRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("removing node %q: %w (last error: %v)", id, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func (n *Node) removeLocal(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return errNotLeader
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return unavailableFromRaft(err)
	}
	found, voters := false, 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		found = found || string(s.ID) == id
	}
	if !found {
		return &model.Error{Code: model.CodeNotFound, Message: fmt.Sprintf("node %q is not a cluster member", id)}
	}
	if voters <= 1 {
		return &model.Error{Code: model.CodeConflict, Message: "refusing to remove the last voter"}
	}
	if err := wait(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, applyTimeout)); err != nil {
		return err
	}
	n.logger.Info("removed node", "node", id)
	return nil
}

func (n *Node) handleRemove(ctx context.Context, peer string, body json.RawMessage) (any, error) {
	var req removeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &model.Error{Code: codeInvalid, Message: "decoding remove request: " + err.Error()}
	}
	if err := n.removeLocal(ctx, req.ID); err != nil {
		return nil, err
	}
	n.logger.Info("node removal requested by peer", "node", req.ID, "peer", peer)
	return struct{}{}, nil
}
