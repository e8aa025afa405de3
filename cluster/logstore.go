package cluster

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrCorrupt marks data a node cannot trust; the node refuses to start.
var ErrCorrupt = errors.New("corrupt data")

// openLogStore opens the raft log+stable store, first checking an existing
// file page by page, and then reading its first and last entries back. A node
// whose log is damaged must not vote or serve: it refuses to start and names
// the file.
func openLogStore(path string) (_ *raftboltdb.BoltStore, err error) {
	if _, statErr := os.Stat(path); statErr == nil {
		if err := checkBolt(path); err != nil {
			return nil, fmt.Errorf("raft log %s: %w (restore this node from a backup or remove its data directory and join it again)", path, err)
		}
	}
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bolt.Options{Timeout: 2 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("opening raft log %s: %w", path, err)
	}
	if err := checkLogs(s); err != nil {
		s.Close()
		return nil, fmt.Errorf("raft log %s: %w", path, err)
	}
	return s, nil
}

// checkBolt runs bbolt's consistency check. bbolt may panic on garbage pages,
// which is turned into an error here.
func checkBolt(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("in use by another process: %w", err)
		}
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
			if len(errs) >= 5 {
				break
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %v", ErrCorrupt, errors.Join(errs...))
		}
		return nil
	})
}

// checkLogs decodes the first and last log entries.
func checkLogs(s *raftboltdb.BoltStore) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	first, err := s.FirstIndex()
	if err != nil {
		return fmt.Errorf("%w: reading first index: %v", ErrCorrupt, err)
	}
	last, err := s.LastIndex()
	if err != nil {
		return fmt.Errorf("%w: reading last index: %v", ErrCorrupt, err)
	}
	if last == 0 {
		return nil
	}
	for _, i := range []uint64{first, last} {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			return fmt.Errorf("%w: reading log entry %d: %v", ErrCorrupt, i, err)
		}
		if l.Index != i {
			return fmt.Errorf("%w: log entry %d claims index %d", ErrCorrupt, i, l.Index)
		}
	}
	return nil
}
