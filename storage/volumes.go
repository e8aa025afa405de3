package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// DefaultIterTimeMS is the LUKS key-derivation time sded asks qemu for. The
// volume secrets are random 256-bit keys, not passwords, so stretching them
// buys nothing; a short time makes every workstation start (LUKS unlock) and
// every create fast. qemu still enforces its own minimum iteration counts.
const DefaultIterTimeMS = 10

var (
	// ErrChecksumMismatch means an image's SHA-256 differs from the expected one.
	ErrChecksumMismatch = errors.New("checksum mismatch")
	// ErrInvalidImage means a base image file is not usable (format, backing
	// file, corruption).
	ErrInvalidImage = errors.New("invalid image")
	// ErrNotFound means a volume or image does not exist.
	ErrNotFound = errors.New("not found")
)

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func checkID(kind, id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("invalid %s id %q: want 1-64 of A-Z a-z 0-9 _ -, not starting with _ or -", kind, id)
	}
	return nil
}

// VolumesConfig configures Volumes.
type VolumesConfig struct {
	// Root is the directory holding images and project volumes (created 0700).
	Root string
	// IterTimeMS is the LUKS key-derivation time; 0 means DefaultIterTimeMS.
	IterTimeMS int
	// ScratchDir holds plaintext while a data volume is built. It must be a
	// RAM-backed file system (tmpfs) unless AllowDiskScratch is set; empty
	// means /dev/shm.
	ScratchDir string
	// AllowDiskScratch permits a ScratchDir on disk (tests, tiny hosts).
	AllowDiskScratch bool
	Logger           *slog.Logger
}

// Volumes manages base images and per-project encrypted volumes under a root
// directory:
//
//	root/                      0700
//	  images/NAME.FORMAT       base images (qcow2 or raw), 0600
//	  projects/PROJECT/        0700
//	    ws-WORKSTATION.qcow2   LUKS qcow2 overlay of a base image
//	    data.qcow2             LUKS qcow2 holding an ext4 file system of the
//	                           approved import files (read-only in guests)
//	  tmp/                     half-made files, renamed into place when done
//
// Every file is created under tmp/ and renamed into place, so a failure
// (disk full, bad image, cancelled context) leaves nothing half-created.
type Volumes struct {
	root     string
	iterTime int
	scratch  string
	diskOK   bool
	log      *slog.Logger
}

// NewVolumes creates (or opens) the volume tree under cfg.Root.
func NewVolumes(cfg VolumesConfig) (*Volumes, error) {
	if cfg.Root == "" {
		return nil, errors.New("volumes: empty root directory")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("volumes root %q: %w", cfg.Root, err)
	}
	// Directories on the way to disk images are 0711: QEMU runs as its own
	// user and must reach the files libvirt hands it (libvirt chowns each
	// file to that user while the domain runs), but nobody may list them.
	// tmp/ holds half-made files and stays 0700.
	for _, d := range []string{root, filepath.Join(root, "images"), filepath.Join(root, "projects"), filepath.Join(root, "tmp")} {
		mode := os.FileMode(0o711)
		if filepath.Base(d) == "tmp" {
			mode = 0o700
		}
		if err := os.MkdirAll(d, mode); err != nil {
			return nil, fmt.Errorf("creating %q: %w", d, err)
		}
		if err := os.Chmod(d, mode); err != nil {
			return nil, fmt.Errorf("restricting %q: %w", d, err)
		}
	}
	v := &Volumes{root: root, iterTime: cfg.IterTimeMS, scratch: cfg.ScratchDir, diskOK: cfg.AllowDiskScratch, log: cfg.Logger}
	if v.iterTime <= 0 {
		v.iterTime = DefaultIterTimeMS
	}
	if v.scratch == "" {
		v.scratch = "/dev/shm"
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Root returns the absolute root directory.
func (v *Volumes) Root() string { return v.root }

func (v *Volumes) projectDir(project string) string {
	return filepath.Join(v.root, "projects", project)
}

// OverlayPath is the path of a workstation's disk.
func (v *Volumes) OverlayPath(project, workstation string) string {
	return filepath.Join(v.projectDir(project), "ws-"+workstation+".qcow2")
}

// DataPath is the path of a project's read-only data volume.
func (v *Volumes) DataPath(project string) string {
	return filepath.Join(v.projectDir(project), "data.qcow2")
}

// Volume names, for DEK.VolumeSecret: each volume has its own derived secret.

// OverlayVolumeName names a workstation disk for key derivation.
func OverlayVolumeName(workstation string) string { return "ws-" + workstation }

// DataVolumeName names the data volume for key derivation.
const DataVolumeName = "data"

func (v *Volumes) ensureProjectDir(project string) (string, error) {
	if err := checkID("project", project); err != nil {
		return "", err
	}
	d := v.projectDir(project)
	if err := os.MkdirAll(d, 0o711); err != nil {
		return "", fmt.Errorf("creating project directory: %w", err)
	}
	// Whatever the umask: QEMU must pass through to the volumes.
	if err := os.Chmod(d, 0o711); err != nil {
		return "", fmt.Errorf("setting project directory mode: %w", err)
	}
	return d, nil
}

// tempPath returns a fresh name under root/tmp for a file that will be
// renamed to final.
func (v *Volumes) tempFile(pattern string) (string, error) {
	f, err := os.CreateTemp(filepath.Join(v.root, "tmp"), pattern)
	if err != nil {
		return "", fmt.Errorf("creating temporary file: %w", err)
	}
	name := f.Name()
	f.Close()
	return name, nil
}

// commit renames tmp to final and syncs the directory; on error tmp is removed.
func commit(tmp, final string) error {
	if err := os.Chmod(tmp, 0o600); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restricting %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("moving volume into place: %w", err)
	}
	return syncDir(filepath.Dir(final))
}

// CreateOverlay creates the workstation's LUKS-encrypted qcow2 overlay backed
// by the registered base image (its Path and Format are used; the format is
// never probed, so a raw image that looks like qcow2 stays raw), with virtual
// size sizeBytes (0 = the base image's size). secret is
// DEK.VolumeSecret(OverlayVolumeName(ws)). It is idempotent: an existing
// overlay of the right base is returned as is.
func (v *Volumes) CreateOverlay(ctx context.Context, project, workstation string, img Image, sizeBytes int64, secret []byte) (string, error) {
	if err := checkID("workstation", workstation); err != nil {
		return "", err
	}
	if _, err := v.ensureProjectDir(project); err != nil {
		return "", err
	}
	basePath := img.Path
	if !filepath.IsAbs(basePath) || filepath.Clean(basePath) != basePath {
		// Also keeps qemu from reading "json:..." or "nbd:..." pseudo-paths.
		return "", fmt.Errorf("creating overlay: base image path %q must be absolute and clean: %w", basePath, ErrInvalidImage)
	}
	if img.Format != "qcow2" && img.Format != "raw" {
		return "", fmt.Errorf("creating overlay: base image format %q: want qcow2 or raw: %w", img.Format, ErrInvalidImage)
	}
	final := v.OverlayPath(project, workstation)
	base, err := qemuInfo(ctx, basePath, img.Format)
	if err != nil {
		return "", fmt.Errorf("creating overlay for %s/%s: base image: %w", project, workstation, err)
	}
	if sizeBytes != 0 && sizeBytes < base.VirtualSize {
		return "", fmt.Errorf("creating overlay: size %d is smaller than the base image (%d bytes)", sizeBytes, base.VirtualSize)
	}
	if info, err := qemuInfo(ctx, final, "qcow2"); err == nil {
		if !info.Encrypted || info.FullBacking != basePath {
			return "", fmt.Errorf("overlay %q exists with another base or unencrypted (backing %q)", final, info.FullBacking)
		}
		return final, nil
	}
	tmp, err := v.tempFile("ws-*.qcow2")
	if err != nil {
		return "", err
	}
	args := []string{"create", "-q", "-f", "qcow2", "--object", secretArg,
		"-b", basePath, "-F", base.Format,
		"-o", luksOpts(v.iterTime), tmp}
	if sizeBytes != 0 {
		args = append(args, strconv.FormatInt(sizeBytes, 10))
	}
	if _, err := runQemu(ctx, secret, "qemu-img", args...); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("creating overlay for %s/%s: %w", project, workstation, err)
	}
	if err := commit(tmp, final); err != nil {
		return "", err
	}
	v.log.InfoContext(ctx, "created workstation overlay", "project", project, "workstation", workstation, "path", final)
	return final, nil
}

// RemoveOverlay deletes a workstation's disk (absent is fine).
func (v *Volumes) RemoveOverlay(ctx context.Context, project, workstation string) error {
	if err := errors.Join(checkID("project", project), checkID("workstation", workstation)); err != nil {
		return err
	}
	p := v.OverlayPath(project, workstation)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing overlay: %w", err)
	}
	v.log.InfoContext(ctx, "removed workstation overlay", "project", project, "workstation", workstation)
	return nil
}

// RemoveProject deletes every volume of a project (absent is fine). Together
// with deleting the project's wrapped key this is crypto-shredding: copies of
// the files elsewhere (backups, unused disk blocks) stay undecryptable.
func (v *Volumes) RemoveProject(ctx context.Context, project string) error {
	if err := checkID("project", project); err != nil {
		return err
	}
	if err := os.RemoveAll(v.projectDir(project)); err != nil {
		return fmt.Errorf("removing volumes of project %s: %w", project, err)
	}
	v.log.InfoContext(ctx, "removed project volumes", "project", project)
	return nil
}

// CleanTemp removes leftovers of interrupted operations (call at start-up).
func (v *Volumes) CleanTemp() error {
	d := filepath.Join(v.root, "tmp")
	ents, err := os.ReadDir(d)
	if err != nil {
		return fmt.Errorf("cleaning temporary files: %w", err)
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, os.RemoveAll(filepath.Join(d, e.Name())))
	}
	return errors.Join(errs...)
}
