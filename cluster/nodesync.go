package cluster

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sded/sded/cluster/model"
)

// nodeSyncInterval is how often the leader compares the raft configuration
// with the node records in the state.
const nodeSyncInterval = 2 * time.Second

// syncNodes runs on every node; while it leads, it keeps the state's node
// records (model.Node, which the UI and the reconciler read) equal to the raft
// configuration, proposing CmdPutNode and CmdRemoveNode as the system actor.
// Membership changes thereby land in the audit log too.
func (n *Node) syncNodes() {
	t := time.NewTicker(nodeSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if n.cfg.Store == nil || n.raft.State() != raft.Leader {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		if err := n.syncNodesOnce(ctx); err != nil {
			n.logger.Warn("recording cluster members in the state", "err", err)
		}
		cancel()
	}
}

func (n *Node) syncNodesOnce(ctx context.Context) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	recorded, err := n.cfg.Store.Nodes()
	if err != nil {
		return err
	}
	have := map[string]model.Node{}
	for _, r := range recorded {
		have[r.ID] = r
	}
	actor := model.Actor{NodeID: n.id}
	now := time.Now()
	for _, s := range f.Configuration().Servers {
		want := model.Node{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter}
		if r, ok := have[want.ID]; ok && r.Address == want.Address && r.Voter == want.Voter {
			delete(have, want.ID)
			continue
		}
		delete(have, want.ID)
		if err := n.proposeSystem(ctx, model.CmdPutNode, actor, now, model.PutNode{Node: want}); err != nil {
			return err
		}
	}
	for id := range have {
		if err := n.proposeSystem(ctx, model.CmdRemoveNode, actor, now, model.RemoveNode{ID: id}); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) proposeSystem(ctx context.Context, t model.CommandType, actor model.Actor, now time.Time, payload any) error {
	cmd, err := model.NewCommand(t, randomID(), actor, now, payload)
	if err != nil {
		return err
	}
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}

// updateOwnAddress runs once after a restart: if the configuration records
// this node under another address (its IP changed), it asks a peer to update
// it. Peers cannot reach this node at the old address, so it asks them, not
// the leader it may not know yet.
func (n *Node) updateOwnAddress() {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	var peers []string
	stale := false
	for _, s := range f.Configuration().Servers {
		switch {
		case string(s.ID) != n.id:
			peers = append(peers, string(s.Address))
		case string(s.Address) != n.cfg.AdvertiseAddr:
			stale = true
			n.logger.Info("this node's address changed; asking the cluster to update it", "old", string(s.Address), "new", n.cfg.AdvertiseAddr)
		}
	}
	if !stale {
		return
	}
	req := addVoterRequest{ID: n.id, Addr: n.cfg.AdvertiseAddr}
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
		for _, p := range peers {
			ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
			err := n.rpc.call(ctx, p, "addvoter", req, nil)
			cancel()
			if err == nil {
				n.logger.Info("cluster updated this node's address", "addr", n.cfg.AdvertiseAddr)
				return
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
