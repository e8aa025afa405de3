package staged

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	// ErrTooLarge means a file exceeded the configured size limit.
	ErrTooLarge = errors.New("file too large")
	// ErrBlocked means a file's extension is on the blocked list.
	ErrBlocked = errors.New("file type blocked")
	// ErrNotFound means no such staged file.
	ErrNotFound = errors.New("staged file not found")
)

// DefaultMaxFileBytes is the default per-file size limit (2 GiB).
const DefaultMaxFileBytes = 2 << 30

// Config configures a Store.
type Config struct {
	// Root is the directory of the store (created 0700).
	Root string
	// MaxFileBytes limits each file's plaintext size; 0 = DefaultMaxFileBytes.
	MaxFileBytes int64
	// BlockedExtensions (lower case, no dot); nil = DefaultBlockedExtensions.
	BlockedExtensions []string
	// Archive limits archive inspection; zero fields take defaults.
	Archive ArchiveLimits
	Logger  *slog.Logger
}

// Store holds staged files per project under Root/PROJECT/ID.
type Store struct {
	root    string
	max     int64
	blocked map[string]bool
	arch    ArchiveLimits
	log     *slog.Logger
}

// File describes a stored file. Its metadata belongs in replicated state;
// the store itself only keeps the encrypted bytes under the ID.
type File struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // of the plaintext
	// Archive is set when the file is an inspected zip, tar or gzip.
	Archive *ArchiveInfo `json:"archive,omitempty"`
}

// New opens (or creates) a store.
func New(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("staged store: empty root")
	}
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("creating staged store: %w", err)
	}
	if err := os.Chmod(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("restricting staged store: %w", err)
	}
	s := &Store{root: cfg.Root, max: cfg.MaxFileBytes, blocked: map[string]bool{}, arch: cfg.Archive.withDefaults(), log: cfg.Logger}
	if s.max <= 0 {
		s.max = DefaultMaxFileBytes
	}
	exts := cfg.BlockedExtensions
	if exts == nil {
		exts = DefaultBlockedExtensions
	}
	for _, e := range exts {
		s.blocked[strings.TrimPrefix(strings.ToLower(e), ".")] = true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func (s *Store) path(project, id string) (string, error) {
	if !idRE.MatchString(project) {
		return "", fmt.Errorf("invalid project id %q", project)
	}
	if !idRE.MatchString(id) {
		return "", fmt.Errorf("%w: invalid file id %q", ErrNotFound, id)
	}
	return filepath.Join(s.root, project, id), nil
}

// Put stores r under a new id, encrypted with key (DEK.StagingKey()). The
// name is checked first (nothing is read for a refused name); the stream is
// limited to MaxFileBytes; archives are inspected after writing. Any refusal
// or error removes what was written.
func (s *Store) Put(ctx context.Context, project string, key []byte, name string, r io.Reader) (File, error) {
	if err := CheckName(name); err != nil {
		return File{}, err
	}
	if ext, ok := blockedExt(name, s.blocked); ok {
		return File{}, fmt.Errorf("%w: %q: extension .%s is not allowed", ErrBlocked, name, ext)
	}
	idb := make([]byte, 16)
	if _, err := rand.Read(idb); err != nil {
		return File{}, err
	}
	id := hex.EncodeToString(idb)
	final, err := s.path(project, id)
	if err != nil {
		return File{}, err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return File{}, fmt.Errorf("creating project staging directory: %w", err)
	}
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	ew, err := newEncryptWriter(f, key, project, id)
	if err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	h := newAsyncHash()
	hashed := false
	defer func() {
		if !hashed {
			h.Sum()
		}
	}()
	// Read one byte past the limit to tell "exactly max" from "too large".
	n, err := io.CopyBuffer(io.MultiWriter(ew, h), io.LimitReader(ctxReader{ctx, r}, s.max+1), make([]byte, chunkSize))
	if err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	if n > s.max {
		return File{}, fmt.Errorf("staging %q: %w: more than %d bytes", name, ErrTooLarge, s.max)
	}
	if err := ew.Close(); err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	hashed = true
	file := File{ID: id, Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum())}
	ai, err := s.inspect(ctx, f, key, project, id)
	if err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	file.Archive = ai
	if err := f.Close(); err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return File{}, fmt.Errorf("staging %q: %w", name, err)
	}
	ok = true
	s.log.InfoContext(ctx, "staged file", "project", project, "id", id, "size", n, "sha256", file.SHA256)
	return file, nil
}

func (s *Store) inspect(ctx context.Context, f *os.File, key []byte, project, id string) (*ArchiveInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ra, err := newReaderAt(f, fi.Size(), key, project, id)
	if err != nil {
		return nil, err
	}
	return inspectArchive(ctx, ra, s.arch)
}

// Open returns a reader of the plaintext of a staged file. Reading fails with
// ErrCorrupt if the file was tampered with, truncated, or belongs elsewhere.
func (s *Store) Open(ctx context.Context, project string, key []byte, id string) (io.ReadCloser, error) {
	p, err := s.path(project, id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, project, id)
	}
	if err != nil {
		return nil, err
	}
	d, err := newDecryptReader(f, key, project, id)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{ctxReader{ctx, d}, f}, nil
}

// OpenAt returns random access to a staged file's plaintext and a closer.
func (s *Store) OpenAt(ctx context.Context, project string, key []byte, id string) (*ReaderAt, io.Closer, error) {
	p, err := s.path(project, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s/%s", ErrNotFound, project, id)
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	ra, err := newReaderAt(f, fi.Size(), key, project, id)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return ra, f, nil
}

// Delete removes a staged file (absent is fine).
func (s *Store) Delete(ctx context.Context, project, id string) error {
	p, err := s.path(project, id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting staged file: %w", err)
	}
	return nil
}

// DeleteProject removes all staged files of a project.
func (s *Store) DeleteProject(ctx context.Context, project string) error {
	if !idRE.MatchString(project) {
		return fmt.Errorf("invalid project id %q", project)
	}
	return os.RemoveAll(filepath.Join(s.root, project))
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
