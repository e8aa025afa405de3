package airlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

// index remembers, on this node, which staged file holds each file of a
// request: Dir/PROJECT/REQUEST.json maps file name → StoredFile. The
// replicated state holds the name, size and SHA-256; a file is used only
// when the index's SHA-256 matches the state's, so a stale entry can never
// stand in for the file reviewers saw.
type index struct {
	dir string
	mu  sync.Mutex
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func (x *index) path(project, request string) (string, error) {
	if !idRE.MatchString(project) || !idRE.MatchString(request) {
		return "", fmt.Errorf("airlock index: invalid id %q/%q", project, request)
	}
	return filepath.Join(x.dir, project, request+".json"), nil
}

func (x *index) load(project, request string) (map[string]StoredFile, error) {
	p, err := x.path(project, request)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]StoredFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading airlock index: %w", err)
	}
	m := map[string]StoredFile{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading airlock index %s: %w", p, err)
	}
	return m, nil
}

// get returns the files of a request.
func (x *index) get(project, request string) (map[string]StoredFile, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.load(project, request)
}

// put records f under its name and returns the entry it replaced, if any.
func (x *index) put(project, request string, f StoredFile) (StoredFile, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m, err := x.load(project, request)
	if err != nil {
		return StoredFile{}, false, err
	}
	old, had := m[f.Name]
	m[f.Name] = f
	p, _ := x.path(project, request)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return old, had, fmt.Errorf("writing airlock index: %w", err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return old, had, err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return old, had, fmt.Errorf("writing airlock index: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return old, had, fmt.Errorf("writing airlock index: %w", err)
	}
	return old, had, nil
}
