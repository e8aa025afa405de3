package model

import (
	"path/filepath"
	"time"
)

// ImageFormat is a base image's disk format.
type ImageFormat string

// The image formats.
const (
	FormatQCOW2 ImageFormat = "qcow2"
	FormatRaw   ImageFormat = "raw"
)

// Image is a registered base image for workstations.
type Image struct {
	ID     string      `json:"id"`
	Name   string      `json:"name"`
	Format ImageFormat `json:"format"`
	SHA256 string      `json:"sha256"`
	Size   int64       `json:"size"`
	Path   string      `json:"path"`
	// Kernel, Initrd and Cmdline boot a kernel directly instead of the
	// disk's boot loader (appliance and test images); empty for images
	// that boot from their disk.
	Kernel    string    `json:"kernel,omitempty"`
	Initrd    string    `json:"initrd,omitempty"`
	Cmdline   string    `json:"cmdline,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the image.
func (i Image) Validate() error {
	if err := checkID("id", i.ID); err != nil {
		return err
	}
	if err := checkName("name", i.Name); err != nil {
		return err
	}
	if i.Format != FormatQCOW2 && i.Format != FormatRaw {
		return FieldError("format", "must be qcow2 or raw")
	}
	if !ValidSHA256(i.SHA256) {
		return FieldError("sha256", "must be a SHA-256 hex digest")
	}
	if i.Size <= 0 {
		return FieldError("size", "must be positive")
	}
	if err := checkText("path", i.Path, 1024, true, false); err != nil {
		return err
	}
	if !filepath.IsAbs(i.Path) || filepath.Clean(i.Path) != i.Path {
		return FieldError("path", "must be a clean absolute path")
	}
	for _, f := range []struct{ name, v string }{{"kernel", i.Kernel}, {"initrd", i.Initrd}} {
		if f.v == "" {
			continue
		}
		if err := checkText(f.name, f.v, 1024, true, false); err != nil {
			return err
		}
		if !filepath.IsAbs(f.v) || filepath.Clean(f.v) != f.v {
			return FieldError(f.name, "must be a clean absolute path")
		}
	}
	if i.Kernel == "" && (i.Initrd != "" || i.Cmdline != "") {
		return FieldError("kernel", "is required with an initrd or a command line")
	}
	return checkText("cmdline", i.Cmdline, 1024, false, false)
}

// RegisterImage adds an image (admin only). CreatedBy and CreatedAt are taken
// from the command.
type RegisterImage struct {
	Image Image `json:"image"`
}

// Validate checks the image.
func (p RegisterImage) Validate() error { return p.Image.Validate() }

// DeleteImage removes an image; refused while a workstation uses it.
type DeleteImage struct {
	ID string `json:"id"`
}

// Validate checks the ID.
func (p DeleteImage) Validate() error { return checkID("id", p.ID) }
