package airlocktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/ui/gateway"
)

// The storage adapters are the daemon's own (cmd/sded/wire); only the key
// source differs here: the daemon unwraps each project's key from state with
// the cluster KEK, the tests make one per project.

// The Service satisfies the engine's and the gateway's interfaces directly.
var (
	_ airlock.Requests  = (*cluster.Service)(nil)
	_ airlock.Commands  = (*cluster.Service)(nil)
	_ gateway.Directory = (*cluster.Service)(nil)
	_ gateway.Engine    = (*airlock.Engine)(nil)
	_ airlock.Keys      = (*keysAdapter)(nil)
)

// keysAdapter gives each project a data key. The daemon's version unwraps
// the project's key from state (state.ProjectKey + KEK.Unwrap) instead.
type keysAdapter struct {
	mu   sync.Mutex
	deks map[string]*storage.DEK
}

func (k *keysAdapter) dek(_ context.Context, project string) (*storage.DEK, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.deks == nil {
		k.deks = map[string]*storage.DEK{}
	}
	d, ok := k.deks[project]
	if !ok {
		var err error
		if d, err = storage.NewDEK(); err != nil {
			return nil, err
		}
		k.deks[project] = d
	}
	return d, nil
}

func (k *keysAdapter) AirlockKeys(ctx context.Context, project string) ([]byte, []byte, error) {
	d, err := k.dek(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	return d.StagingKey(), d.PseudonymKey(), nil
}

// systemAdapter is the node's own access for the engine and the gateway:
// reads from the local replica without a user, and audit events proposed as
// the node.
type systemAdapter struct {
	node  *cluster.Node
	st    *state.Store
	clock func() time.Time
}

func (a systemAdapter) AirlockRequest(_ context.Context, id string) (model.AirlockRequest, error) {
	return a.st.Airlock(id)
}

func (a systemAdapter) ProjectAirlockRequests(_ context.Context, projectID string) ([]model.AirlockRequest, error) {
	return a.st.AirlockRequests(projectID)
}

func (a systemAdapter) ProjectWorkstations(_ context.Context, projectID string) ([]model.Workstation, error) {
	return a.st.Workstations(projectID)
}

func (a systemAdapter) RecordSystemAudit(ctx context.Context, ev model.RecordAudit) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	id := make([]byte, 16)
	rand.Read(id)
	cmd, err := model.NewCommand(model.CmdRecordAudit, hex.EncodeToString(id), model.Actor{NodeID: a.node.ID()}, a.clock().UTC(), ev)
	if err != nil {
		return err
	}
	res, err := a.node.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}
