package storage

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// KEKSize is the size in bytes of the cluster key-encryption key.
const KEKSize = 32

// ErrKEKExists is returned by CreateKEK when the key file is already there.
var ErrKEKExists = errors.New("key-encryption key file already exists")

// KEK is the cluster key-encryption key. It wraps per-project data keys and
// never leaves the node's key file except through an operator's backup.
type KEK struct {
	key [KEKSize]byte
	id  [8]byte
}

// ID is the key's public fingerprint (first 8 bytes of a SHA-256 over a
// domain-separated copy of the key, hex). It is recorded in every wrapped key
// so rotation can tell which KEK wrapped what.
func (k *KEK) ID() string { return hex.EncodeToString(k.id[:]) }

func newKEK(b []byte) *KEK {
	k := &KEK{}
	copy(k.key[:], b)
	h := sha256.Sum256(append([]byte("sded kek id v1\x00"), b...))
	copy(k.id[:], h[:8])
	return k
}

// CreateKEK creates a new random key-encryption key at path, mode 0600, in a
// directory that it creates (or tightens to) mode 0700. It refuses to
// overwrite an existing file, so running init twice cannot destroy the key
// that every project's data depends on.
func CreateKEK(path string) (*KEK, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating key directory %q: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restricting key directory %q: %w", dir, err)
	}
	b := make([]byte, KEKSize)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return nil, fmt.Errorf("generating key-encryption key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating key-encryption key %q: %w", path, ErrKEKExists)
	}
	if err != nil {
		return nil, fmt.Errorf("creating key-encryption key %q: %w", path, err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("writing key-encryption key %q: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return newKEK(b), nil
}

// LoadKEK reads the key-encryption key at path. It refuses a file that is not
// a regular file of exactly KEKSize bytes, that is readable or writable by
// group or others, that is not owned by the current user, or whose directory
// is accessible to group or others.
func LoadKEK(path string) (*KEK, error) {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("loading key-encryption key: %w", err)
	}
	if di.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("loading key-encryption key: directory %q has mode %04o, want 0700 (run: chmod 700 %s)", dir, di.Mode().Perm(), dir)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("loading key-encryption key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("loading key-encryption key: %q is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("loading key-encryption key: %q has mode %04o, want 0600 (run: chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("loading key-encryption key: %q is owned by uid %d, want %d", path, st.Uid, os.Geteuid())
	}
	if fi.Size() != KEKSize {
		return nil, fmt.Errorf("loading key-encryption key: %q is %d bytes, want %d (truncated or not a key file)", path, fi.Size(), KEKSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading key-encryption key: %w", err)
	}
	if len(b) != KEKSize {
		return nil, fmt.Errorf("loading key-encryption key: %q changed while reading", path)
	}
	return newKEK(b), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %q: %w", dir, err)
	}
	return nil
}
