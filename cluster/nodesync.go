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
