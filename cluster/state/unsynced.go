package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The state file is not fsynced on each commit. Every write to it is the FSM
// applying raft log entries that are already durable in the raft log (the
// leader and each follower fsync an entry before it counts towards a
// commit), and the newest raft snapshot plus the log after it always hold
// everything the state does. So an fsync per applied batch buys nothing a
// restart cannot rebuild, and costs two fdatasyncs per batch on every node.
//
// The invariant that keeps recovery correct:
//
//   - After a process crash (panic, SIGKILL, OOM) the kernel still holds and
//     will write every page bbolt wrote, so the file is exactly as a synced
//     one would be, and bbolt's copy-on-write commit is atomic: the node
//     resumes from the file's applied index.
//   - After the machine itself went down (power loss, kernel panic, reset)
//     unsynced pages may be lost or written out of order, so the file cannot
//     be trusted. Open detects this with a marker file, <path>.open, holding
//     the kernel's boot ID: written and fsynced before the first unsynced
//     commit, removed by Close after a final fsync. A marker from another
//     boot means the machine went down while the file was open; Open then
//     moves the file aside to <path>.unclean and starts an empty one, and
//     raft rebuilds it from its newest snapshot and log (cluster.Open
//     restores the snapshot whenever the file's applied index is behind it).
//
// Where the boot ID cannot be read, every commit is fsynced as before.

// bootIDPath is where Linux publishes a random ID chosen at each boot.
var bootIDPath = "/proc/sys/kernel/random/boot_id"

func bootID() []byte {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil
	}
	return bytes.TrimSpace(b)
}

func markerPath(path string) string { return path + ".open" }

// UncleanPath is where Open moves a state file the machine went down with.
func UncleanPath(path string) string { return path + ".unclean" }

// discardIfUnclean moves the file at path aside when its marker says the
// machine went down while it was open. It reports whether it did.
func discardIfUnclean(path string, boot []byte) (bool, error) {
	m, err := os.ReadFile(markerPath(path))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", markerPath(path), err)
	}
	if boot != nil && bytes.Equal(bytes.TrimSpace(m), boot) {
		return false, nil // this boot: the process died, the kernel kept its writes
	}
	if _, err := os.Stat(path); err == nil {
		if err := os.Rename(path, UncleanPath(path)); err != nil {
			return false, fmt.Errorf("moving aside state %s the machine went down with: %w", path, err)
		}
	}
	if err := os.Remove(markerPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("removing %s: %w", markerPath(path), err)
	}
	return true, syncDir(filepath.Dir(path))
}

// writeMarker records that the file is open in this boot with unsynced
// commits; it is durable before it returns.
func writeMarker(path string, boot []byte) error {
	f, err := os.OpenFile(markerPath(path), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", markerPath(path), err)
	}
	_, err = f.Write(append(boot, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", markerPath(path), err)
	}
	return syncDir(filepath.Dir(path))
}

// removeMarker runs after the final fsync of a clean Close.
func removeMarker(path string) error {
	if err := os.Remove(markerPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", markerPath(path), err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
