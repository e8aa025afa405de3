package ui

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sded/sded/cluster/model"
)

// Images registers and deletes base images on the node that serves the
// request (cmd/sded implements it over storage.Volumes and
// cluster.Service). The UI never takes a server path: images, kernels and
// initrds are picked by plain file name from the node's import directory,
// where the system administrator copies them (scp, sftp). An
// implementation checks policy itself (image.manage), re-checks every name
// against the directory and leaves nothing behind when a step fails.
type Images interface {
	// AddImage copies the request's files out of the import directory,
	// validates the image and registers it. Errors about the input are
	// *model.Error values naming the field (name, file, format, sha256,
	// kernel, initrd, cmdline).
	AddImage(ctx context.Context, actor model.Actor, r ImageRequest) (model.Image, error)
	// DeleteImage unregisters an image no workstation uses (a conflict
	// otherwise) and removes its files from this node.
	DeleteImage(ctx context.Context, actor model.Actor, id string) error
	// ImportFiles lists the regular files of the import directory (to an
	// actor who may manage images).
	ImportFiles(ctx context.Context, actor model.Actor) (ImportDir, error)
}

// ImageRequest registers an image from files of the import directory.
type ImageRequest struct {
	Name string `json:"name"`
	// File, Kernel and Initrd are plain file names in the import directory
	// (Kernel and Initrd only for direct kernel boot).
	File string `json:"file"`
	// Format is "qcow2" or "raw"; "" or "auto" takes the probed format.
	Format string `json:"format,omitempty"`
	// SHA256, if set, must be the file's SHA-256 (hex).
	SHA256  string `json:"sha256,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	Initrd  string `json:"initrd,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
}

// ImportDir is the import directory of the node serving the request.
type ImportDir struct {
	Path  string       `json:"path"`
	Files []ImportFile `json:"files"`
}

// ImportFile is a file waiting in the import directory.
type ImportFile struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

// imageNameRE is what an image name may be: it names the image's files on
// every node (storage's rule).
var imageNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidImageName reports whether name may name an image: 1-64 characters
// of A-Z, a-z, 0-9, '_' and '-', starting with a letter or digit.
func ValidImageName(name string) bool { return imageNameRE.MatchString(name) }

// maxImportName bounds a file name (NAME_MAX).
const maxImportName = 255

// maxCmdline bounds a kernel command line (model.Image's rule).
const maxCmdline = 1024

// CheckImportName refuses anything but a plain file name: empty, too long,
// not UTF-8, with a '/' or '\', "." and "..", a leading '.' (hidden files,
// editors' and transfers' temporary files), a control character or an
// invisible formatting one (a right-to-left override disguises a name).
// It says nothing about the file itself: the caller opens it inside the
// import directory without following links.
func CheckImportName(field, name string) error {
	switch {
	case name == "":
		return model.FieldError(field, "choose a file from the import directory")
	case len(name) > maxImportName:
		return model.FieldError(field, "file name is longer than %d bytes", maxImportName)
	case !utf8.ValidString(name):
		return model.FieldError(field, "file name is not valid UTF-8")
	case strings.ContainsAny(name, `/\`):
		return model.FieldError(field, "must be a file name in the import directory, not a path")
	case strings.HasPrefix(name, "."):
		return model.FieldError(field, "hidden files (names starting with '.') are not offered")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return model.FieldError(field, "file name has a control character")
	case strings.IndexFunc(name, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) >= 0:
		return model.FieldError(field, "file name has an invisible formatting character (such as a right-to-left override)")
	}
	return nil
}

// Normalize trims the request's fields, lower-cases the checksum and turns
// the format "auto" into "".
func (r *ImageRequest) Normalize() {
	for _, p := range []*string{&r.Name, &r.File, &r.Format, &r.SHA256, &r.Kernel, &r.Initrd, &r.Cmdline} {
		*p = strings.TrimSpace(*p)
	}
	r.SHA256 = strings.ToLower(r.SHA256)
	if r.Format = strings.ToLower(r.Format); r.Format == "auto" {
		r.Format = ""
	}
}

// Validate checks a normalized request's form (not the files): the first
// problem, naming its field.
func (r ImageRequest) Validate() error {
	if !ValidImageName(r.Name) {
		return model.FieldError("name", "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit")
	}
	if err := CheckImportName("file", r.File); err != nil {
		return err
	}
	switch r.Format {
	case "", "qcow2", "raw":
	default:
		return model.FieldError("format", "must be auto, qcow2 or raw")
	}
	if r.SHA256 != "" && !model.ValidSHA256(r.SHA256) {
		return model.FieldError("sha256", "must be 64 hexadecimal digits (or empty)")
	}
	for _, f := range []struct{ field, name string }{{"kernel", r.Kernel}, {"initrd", r.Initrd}} {
		if f.name == "" {
			continue
		}
		if err := CheckImportName(f.field, f.name); err != nil {
			return err
		}
	}
	if r.Kernel == "" && r.Initrd != "" {
		return model.FieldError("initrd", "needs a kernel")
	}
	if r.Kernel == "" && r.Cmdline != "" {
		return model.FieldError("cmdline", "needs a kernel")
	}
	if len(r.Cmdline) > maxCmdline {
		return model.FieldError("cmdline", "is longer than %d bytes", maxCmdline)
	}
	if !utf8.ValidString(r.Cmdline) || strings.IndexFunc(r.Cmdline, unicode.IsControl) >= 0 {
		return model.FieldError("cmdline", "has a control character")
	}
	return nil
}

// errNoImages answers the image routes of a server configured without
// Config.Images.
var errNoImages = &model.Error{Code: model.CodeUnavailable,
	Message: "registering and deleting images is not available on this server; use `sded image add` on a node"}

// images returns the image port or errNoImages.
func (s *server) images() (Images, error) {
	if s.cfg.Images == nil {
		return nil, errNoImages
	}
	return s.cfg.Images, nil
}
