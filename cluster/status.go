package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// rpcHandlers builds the cluster RPC's method table.
func (n *Node) rpcHandlers() map[string]rpcHandler {
	return map[string]rpcHandler{
		"propose":     n.handlePropose,
		"readindex":   n.handleReadIndex,
		"addvoter":    n.handleAddVoter,
		"remove":      n.handleRemove,
		"status":      n.handleStatus,
		"createtoken": n.handleCreateToken,
		"signjoin":    n.handleSignJoin,
	}
}

// NodeStatus is one node's view of itself.
type NodeStatus struct {
	ID           string `json:"id"`
	Addr         string `json:"addr"`
	State        string `json:"state"` // Leader, Follower, Candidate, Shutdown
	Term         uint64 `json:"term"`
	LastIndex    uint64 `json:"last_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"` // applied by the FSM
	// LastContact is how long ago a follower heard from the leader.
	LastContact time.Duration `json:"last_contact"`
	// SignsCertificates says this node holds the CA key (creates and redeems
	// join tokens).
	SignsCertificates bool `json:"signs_certificates"`
	// CertExpires is when this node's certificate expires.
	CertExpires time.Time `json:"cert_expires"`
}

// Peer is one member of the configuration as seen from this node.
type Peer struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	Voter     bool   `json:"voter"`
	Leader    bool   `json:"leader"`
	Reachable bool   `json:"reachable"`
	// Status is the peer's own report; nil when it could not be reached.
	Status *NodeStatus `json:"status,omitempty"`
	Err    string      `json:"err,omitempty"`
}

// Status is what the UI shows about the cluster.
type Status struct {
	Self     NodeStatus `json:"self"`
	LeaderID string     `json:"leader_id"`
	Leader   string     `json:"leader_addr"`
	Peers    []Peer     `json:"peers"`
}

func (n *Node) selfStatus() NodeStatus {
	a, _ := n.applied.get()
	s := NodeStatus{
		ID: n.id, Addr: n.cfg.AdvertiseAddr, State: n.raft.State().String(),
		Term: n.raft.CurrentTerm(), LastIndex: n.raft.LastIndex(),
		CommitIndex: n.raft.CommitIndex(), AppliedIndex: a,
		SignsCertificates: n.ident.caKey != nil,
		CertExpires:       n.ident.cert.NotAfter,
	}
	if s.State != raft.Leader.String() {
		s.LastContact = time.Since(n.raft.LastContact())
	}
	return s
}

// Status reports this node, the leader and every member; it asks each peer
// for its own status (each with a one-second timeout) to tell health.
func (n *Node) Status(ctx context.Context) (Status, error) {
	st := Status{Self: n.selfStatus()}
	addr, id := n.raft.LeaderWithID()
	st.Leader, st.LeaderID = string(addr), string(id)
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return st, unavailableFromRaft(err)
	}
	servers := f.Configuration().Servers
	st.Peers = make([]Peer, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		p := &st.Peers[i]
		*p = Peer{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: s.ID == id}
		if p.ID == n.id {
			self := st.Self
			p.Status, p.Reachable = &self, true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			var ns NodeStatus
			if err := n.rpc.call(cctx, p.Addr, "status", struct{}{}, &ns); err != nil {
				p.Err = err.Error()
				return
			}
			p.Status, p.Reachable = &ns, true
		}()
	}
	wg.Wait()
	return st, nil
}

func (n *Node) handleStatus(context.Context, string, json.RawMessage) (any, error) {
	return n.selfStatus(), nil
}

// Leader returns the current leader's ID and address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}
