package cluster_test

import (
	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/reconcile"
	"github.com/sded/sded/ui/gateway"
)

// *cluster.Service satisfies the ports its consumers declare, so the daemon
// wires it without adapters.
var (
	_ airlock.Requests   = (*cluster.Service)(nil)
	_ airlock.System     = (*cluster.Service)(nil)
	_ airlock.Commands   = (*cluster.Service)(nil)
	_ gateway.Directory  = (*cluster.Service)(nil)
	_ gateway.System     = (*cluster.Service)(nil)
	_ reconcile.Reporter = (*cluster.Service)(nil)
	_ reconcile.Desired  = (*cluster.Service)(nil)
)
