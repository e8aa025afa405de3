package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sded/sded/cluster/model"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrUntrusted wraps every reason Open or Restore refuses a file.
var ErrUntrusted = errors.New("state file cannot be trusted")

// Store is the local replica of the replicated state in one bbolt file.
// Reads may run from any goroutine; writes come only from the FSM.
type Store struct {
	path string
	mu   sync.RWMutex // guards db against Restore swapping it
	db   *bolt.DB

	unsynced  bool // commits are not fsynced (see unsynced.go)
	discarded bool // Open moved aside a file the machine went down with
}

// Open opens (creating if absent) the state file at path, checks it and
// migrates it to SchemaVersion. It refuses, with an error wrapping
// ErrUntrusted, a file that is corrupt, truncated, not sded state, or of a
// newer schema.
//
// The file is for a node under raft: commits are not fsynced, and a file
// the machine went down with (power loss, not a process crash) is moved to
// UncleanPath and replaced by an empty one, for raft to rebuild from its
// snapshot and log (see Discarded). Close fsyncs.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	boot := bootID()
	discarded, err := discardIfUnclean(path, boot)
	if err != nil {
		return nil, err
	}
	db, err := openChecked(path, true)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, db: db, discarded: discarded}
	if boot != nil {
		if err := writeMarker(path, boot); err != nil {
			db.Close()
			return nil, err
		}
		s.unsynced = true
		db.NoSync = true
	}
	return s, nil
}

// Discarded reports whether Open found that the machine went down while
// this file was open with unsynced commits, moved it to UncleanPath and
// started empty: raft must rebuild the state from its snapshot and log.
func (s *Store) Discarded() bool { return s.discarded }

func openChecked(path string, create bool) (db *bolt.DB, err error) {
	if err := checkBounds(path); err != nil {
		return nil, fmt.Errorf("opening state %s: %w: %v", path, ErrUntrusted, err)
	}
	defer func() {
		// bbolt may panic on some corrupt pages; a node must refuse, not crash.
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("opening state %s: %w: %v", path, ErrUntrusted, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, InitialMmapSize: InitialMmapSize})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("opening state %s: another process holds it open", path)
		}
		return nil, fmt.Errorf("opening state %s: %w: %v", path, ErrUntrusted, err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return cerr
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("checking state %s: %w: %v", path, ErrUntrusted, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta) == nil {
			if !create {
				return fmt.Errorf("file holds no sded state")
			}
			if k, _ := tx.Cursor().First(); k != nil {
				return fmt.Errorf("file holds bucket %q but no meta bucket: not an sded state file", k)
			}
			if err := createV1(tx); err != nil {
				return err
			}
		}
		return migrate(tx)
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening state %s: %w: %v", path, ErrUntrusted, err)
	}
	return db, nil
}

// OpenReadOnly opens an existing state file (a stopped node's, or a copy)
// for reading only, for offline tools such as `sded audit verify`: nothing is
// created, migrated or written. It refuses the same untrusted files as Open,
// and a schema this binary does not know. A running node holds its file
// locked; OpenReadOnly then waits up to 1 s and fails.
func OpenReadOnly(path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	if err := checkBounds(path); err != nil {
		return nil, fmt.Errorf("opening state %s: %w: %v", path, ErrUntrusted, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("opening state %s: a running sded holds it: stop it or use a backup", path)
		}
		return nil, fmt.Errorf("opening state %s: %w: %v", path, ErrUntrusted, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return cerr
		}
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return fmt.Errorf("file holds no sded state")
		}
		if v := readU64(meta.Get(kSchemaVersion)); v == 0 || v > SchemaVersion {
			return fmt.Errorf("schema version %d is not one this sded reads (up to %d)", v, SchemaVersion)
		}
		for _, b := range v1Buckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("bucket %s is missing", b)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("checking state %s: %w: %v", path, ErrUntrusted, err)
	}
	return &Store{path: path, db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	var serr error
	if s.unsynced {
		serr = s.db.Sync()
	}
	err := s.db.Close()
	s.db = nil
	if serr != nil || err != nil {
		return errors.Join(serr, err) // the marker stays: the next Open rebuilds if the machine goes down
	}
	if s.unsynced {
		return removeMarker(s.path)
	}
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// View runs fn in a read transaction. Values fn gets from tx are copies.
func (s *Store) View(fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return model.Errorf(model.CodeUnavailable, "state is closed")
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Update runs fn in one write transaction: all of it commits or none.
func (s *Store) Update(fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return model.Errorf(model.CodeUnavailable, "state is closed")
	}
	return s.db.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// AppliedIndex returns the last raft index applied to the state.
func (s *Store) AppliedIndex() uint64 {
	var i uint64
	_ = s.View(func(tx *Tx) error { i = tx.AppliedIndex(); return nil })
	return i
}

// InitialMmapSize is the address space bbolt maps up front. bbolt must remap
// to grow the file, and a remap waits for every read transaction to end; a
// raft snapshot holds one while it is persisted. Mapping 1 GiB of address
// space (not memory) up front lets writes go on during a snapshot until the
// state outgrows it.
const InitialMmapSize = 1 << 30

// Snapshot is a consistent read-only view of the whole file for a raft
// snapshot. Release it when done.
type Snapshot struct {
	tx *bolt.Tx
}

// Snapshot starts a consistent view. Writes continue meanwhile.
func (s *Store) Snapshot() (*Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, model.Errorf(model.CodeUnavailable, "state is closed")
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("starting snapshot: %w", err)
	}
	return &Snapshot{tx: tx}, nil
}

// WriteTo writes the whole bbolt file as of the snapshot.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) { return sn.tx.WriteTo(w) }

// AppliedIndex is the applied index the snapshot holds.
func (sn *Snapshot) AppliedIndex() uint64 { return readU64(sn.tx.Bucket(bMeta).Get(kAppliedIndex)) }

// Release ends the snapshot's transaction.
func (sn *Snapshot) Release() { _ = sn.tx.Rollback() }

// Restore replaces the whole state with the bbolt file read from r. The new
// file is written beside the current one, checked like Open checks (a
// corrupt, truncated, foreign or newer-schema snapshot is refused and the
// current state is kept), then swapped in by rename.
func (s *Store) Restore(r io.Reader) error {
	tmp := s.path + ".restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating restore file: %w", err)
	}
	defer os.Remove(tmp)
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing restore file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing restore file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing restore file: %w", err)
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Size() == 0 {
		return fmt.Errorf("restoring snapshot: %w: snapshot is empty", ErrUntrusted)
	}
	check, err := openChecked(tmp, false)
	if err != nil {
		return fmt.Errorf("restoring snapshot: %w", err)
	}
	if err := check.Close(); err != nil {
		return fmt.Errorf("closing checked snapshot: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			return fmt.Errorf("closing state for restore: %w", err)
		}
		s.db = nil
	}
	if err := os.Rename(tmp, s.path); err != nil {
		// Keep serving the old file.
		db, oerr := openChecked(s.path, false)
		if db != nil {
			db.NoSync = s.unsynced
		}
		s.db = db
		return errors.Join(fmt.Errorf("swapping in restored state: %w", err), oerr)
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	db, err := openChecked(s.path, false)
	if err != nil {
		return fmt.Errorf("reopening restored state: %w", err)
	}
	db.NoSync = s.unsynced
	s.db = db
	return nil
}
