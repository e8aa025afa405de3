package sharedfs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
)

var (
	// ErrUnsupported means the filesystem holding the root cannot encrypt
	// directories (ext4 without the "encrypt" feature, tmpfs, xfs, ...).
	ErrUnsupported = errors.New("the filesystem does not support encryption (ext4: tune2fs -O encrypt DEVICE; or put the shared folders on one that does)")
	// ErrNotEncrypted means a project's folder exists but is not encrypted.
	ErrNotEncrypted = errors.New("folder is not encrypted")
	// ErrWrongKey means a project's folder is encrypted under another key.
	ErrWrongKey = errors.New("folder is encrypted under a different key")
)

// projectRE is what a project ID must look like to name a folder.
var projectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Dirs manages the shared folders under one root directory.
type Dirs struct {
	root string
	log  *slog.Logger
}

// New opens (creating it 0700 if needed) the root of the shared folders.
// It does not check for encryption support: Unlock reports ErrUnsupported.
func New(root string, log *slog.Logger) (*Dirs, error) {
	if root == "" {
		return nil, errors.New("shared folders: empty root directory")
	}
	if log == nil {
		log = slog.Default()
	}
	for _, d := range []string{root, filepath.Join(root, tmpDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("shared folders: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("shared folders: %w", err)
		}
	}
	// Left over from a crash between mkdir and rename: empty folders.
	if ents, err := os.ReadDir(filepath.Join(root, tmpDir)); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(root, tmpDir, e.Name()))
		}
	}
	return &Dirs{root: root, log: log}, nil
}

// Root is the directory holding the folders.
func (d *Dirs) Root() string { return d.root }

// Path is the folder of a project (whether or not it exists).
func (d *Dirs) Path(project string) string { return filepath.Join(d.root, project) }

func checkProject(project string) error {
	if !projectRE.MatchString(project) {
		return fmt.Errorf("shared folders: bad project ID %q", project)
	}
	return nil
}

// Unlock adds the project's folder key to the filesystem's keyring and
// creates the encrypted folder if it does not exist yet (idempotent). It
// refuses a folder that is not encrypted or is encrypted under another key,
// and never creates an unencrypted one: on a filesystem without encryption
// support it returns ErrUnsupported. It returns the folder's path.
func (d *Dirs) Unlock(ctx context.Context, project string, key []byte) (string, error) {
	if err := checkProject(project); err != nil {
		return "", err
	}
	want, err := Identifier(key)
	if err != nil {
		return "", fmt.Errorf("shared folder of %s: %w", project, err)
	}
	id, err := addKey(d.root, key)
	if err != nil {
		return "", fmt.Errorf("shared folder of %s: %w", project, err)
	}
	if id != want {
		return "", fmt.Errorf("shared folder of %s: the kernel computed key identifier %x, want %x", project, id, want)
	}
	dir := d.Path(project)
	got, err := policy(dir)
	switch {
	case err == nil && got == id:
		return dir, nil
	case err == nil:
		return "", fmt.Errorf("shared folder %s: %w (%x, the project's key is %x)", dir, ErrWrongKey, got, id)
	case errors.Is(err, ErrNotEncrypted):
		return "", fmt.Errorf("shared folder %s: %w; refusing to use it", dir, ErrNotEncrypted)
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("shared folder of %s: %w", project, err)
	}
	// Made empty under .tmp/, encrypted, then renamed into place: a failure
	// leaves no folder (at worst an empty one under .tmp/, cleared by New).
	tmp, err := os.MkdirTemp(filepath.Join(d.root, tmpDir), project+"-*")
	if err != nil {
		return "", fmt.Errorf("shared folder of %s: %w", project, err)
	}
	if err := setPolicy(tmp, id); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("shared folder of %s: %w", project, err)
	}
	// Every researcher of the project writes here with their own user ID in
	// the guest (virtiofs passes IDs through); the root above is 0700, so no
	// user of the host can reach it.
	if err := os.Chmod(tmp, 0o777); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("shared folder of %s: %w", project, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("shared folder of %s: %w", project, err)
	}
	d.log.InfoContext(ctx, "created encrypted shared folder", slog.String("project", project), slog.String("path", dir))
	return dir, nil
}

// Unlocked reports whether the project's folder exists and its key is in the
// filesystem's keyring.
func (d *Dirs) Unlocked(ctx context.Context, project string) (bool, error) {
	if err := checkProject(project); err != nil {
		return false, err
	}
	id, err := policy(d.Path(project))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("shared folder of %s: %w", project, err)
	}
	return keyPresent(d.root, id)
}

// Lock removes the project's folder key from the filesystem's keyring: the
// folder then shows only encrypted names and contents. Files that are still
// open stay readable until closed (the result says whether there were any).
// Locking a folder that does not exist or is locked does nothing.
func (d *Dirs) Lock(ctx context.Context, project string) (busy bool, err error) {
	if err := checkProject(project); err != nil {
		return false, err
	}
	id, err := policy(d.Path(project))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("shared folder of %s: %w", project, err)
	}
	busy, err = removeKey(d.root, id)
	if err != nil {
		return false, fmt.Errorf("shared folder of %s: %w", project, err)
	}
	return busy, nil
}

// Delete locks the project's folder and removes it with everything in it
// (encrypted files can be removed without their key). Deleting a folder that
// does not exist does nothing.
func (d *Dirs) Delete(ctx context.Context, project string) error {
	if _, err := d.Lock(ctx, project); err != nil && !errors.Is(err, ErrNotEncrypted) {
		return err
	}
	dir := d.Path(project)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing shared folder of %s: %w", project, err)
	}
	d.log.InfoContext(ctx, "removed shared folder", slog.String("project", project))
	return nil
}

// Projects lists the projects that have a folder.
func (d *Dirs) Projects() ([]string, error) {
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return nil, fmt.Errorf("listing shared folders: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && projectRE.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// tmpDir holds folders being made; project IDs never start with a dot.
const tmpDir = ".tmp"

// Check tells whether the filesystem holding dir can encrypt folders (nil),
// by encrypting an empty probe directory under a throwaway key, which it
// removes again. ErrUnsupported says it cannot.
func Check(dir string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	id, err := addKey(dir, key)
	clear(key)
	if err != nil {
		return err
	}
	defer removeKey(dir, id)
	probe, err := os.MkdirTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("checking encryption support in %s: %w", dir, err)
	}
	defer os.Remove(probe)
	return setPolicy(probe, id)
}
