package cluster_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// The wiring of `sded serve`: open the state, build the FSM over it, open
// the node (a fresh data directory bootstraps a one-node cluster), propose.
func Example() {
	ctx := context.Background()
	dataDir, _ := os.MkdirTemp("", "sded-example-")
	defer os.RemoveAll(dataDir)
	logger := slog.New(slog.DiscardHandler)

	st, err := state.Open(filepath.Join(dataDir, "state.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close() // after the node
	node, err := cluster.Open(ctx, cluster.Config{
		DataDir:  dataDir,
		NodeID:   "node1",
		BindAddr: "127.0.0.1:17946", // raft, cluster RPC and joins share this port
		Logger:   logger,
		FSM:      fsm.NewBatching(fsm.New(st, logger, nil)), // onApply: kick the reconciler
		Store:    st,
	})
	if err != nil {
		panic(err)
	}
	defer node.Close()

	cmd, _ := model.NewCommand(model.CmdCreateUser, "first-admin", model.Actor{NodeID: node.ID()}, time.Now(),
		model.CreateUser{ID: "admin", Username: "admin", DisplayName: "Admin", Admin: true})
	res, err := node.Propose(ctx, cmd)
	if err != nil { // unavailable: outcome unknown, retry with the same request ID
		panic(err)
	}
	if res.Err != nil { // the FSM refused it: res.Err.Code says why
		panic(res.Err)
	}
	_ = node.Barrier(ctx) // before a read that must see every committed write
	// Other subcommands:
	//   sded init:       cluster.Init(cfg)
	//   sded join:       cluster.Join(ctx, "10.1.2.11:7946", token, cfg)
	//   join token:      node.CreateJoinToken(ctx, 24*time.Hour)
	//   sded backup:     node.Backup(ctx, w) in the daemon; cluster.CheckBackup(file)
	//   sded restore:    cluster.Restore(ctx, file, cfg) on an empty data directory
	//   UI:              node.Status(ctx), node.RemoveNode(ctx, id)
}
