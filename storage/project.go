package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnsureProject makes sure the project's data volume exists, creating an
// empty one (an ext4 file system with no files) if the airlock has not
// filled one yet, so workstations can always attach it. Idempotent; an
// existing volume is left as it is. (The project's writable shared folder is
// not a volume: see package storage/sharedfs.)
func (v *Volumes) EnsureProject(ctx context.Context, project string, dataSecret []byte) (data string, err error) {
	data = v.DataPath(project)
	if _, err := os.Stat(data); err == nil {
		return data, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("checking data volume: %w", err)
	}
	return v.BuildDataVolume(ctx, project, nil, dataSecret)
}

// RemoveWorkstation deletes a workstation's disk in whichever project holds
// it (absent is fine), for callers that know only the workstation ID.
func (v *Volumes) RemoveWorkstation(ctx context.Context, workstation string) error {
	if err := checkID("workstation", workstation); err != nil {
		return err
	}
	matches, err := filepath.Glob(filepath.Join(v.root, "projects", "*", "ws-"+workstation+".qcow2"))
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing disk of workstation %s: %w", workstation, err)
	}
	v.log.InfoContext(ctx, "removed workstation disk", "workstation", workstation)
	return nil
}
