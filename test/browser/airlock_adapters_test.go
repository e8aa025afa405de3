package browser

import (
	"context"
	"sync"

	"github.com/sded/sded/storage"
)

// The airlock's storage adapters are the daemon's (cmd/sded/wire); only the
// key source differs: fresh data keys per project.

// projectKeys gives each project a fresh data key (the daemon unwraps the
// project's key from state with the cluster KEK instead).
type projectKeys struct {
	mu   sync.Mutex
	deks map[string]*storage.DEK
}

func (k *projectKeys) dek(_ context.Context, project string) (*storage.DEK, error) {
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

func (k *projectKeys) AirlockKeys(_ context.Context, project string) ([]byte, []byte, error) {
	d, err := k.dek(context.Background(), project)
	if err != nil {
		return nil, nil, err
	}
	return d.StagingKey(), d.PseudonymKey(), nil
}
