package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Image describes a registered base image.
type Image struct {
	Name        string // sded's name for it, validated like an id
	Path        string // absolute path of the file overlays are backed by
	Format      string // "qcow2" or "raw"
	VirtualSize int64  // bytes the guest sees
	SHA256      string // hex of the file's bytes
}

// RegisterImageRequest asks Volumes to register a base image.
type RegisterImageRequest struct {
	Name string
	// Source is the image file to register.
	Source string
	// Format, if set ("qcow2" or "raw"), must equal the probed format.
	Format string
	// ExpectedSHA256, if set, must equal the file's SHA-256 (hex).
	ExpectedSHA256 string
	// Reference registers Source in place instead of copying it under the
	// volume root. The file must then never change (overlays depend on it).
	Reference bool
}

// ImagePath is where a copied image named name lives.
func (v *Volumes) ImagePath(name, format string) string {
	return filepath.Join(v.root, "images", name+"."+format)
}

// RegisterImage validates a base image and copies it under the root (or
// references it in place). The copy is hashed while streaming and validated
// with qemu-img after copying (so what is checked is what is used): format
// qcow2 or raw, no backing file, not marked corrupt, `qemu-img check` clean
// for qcow2, SHA-256 equal to the expected one. On any failure nothing is
// left behind.
func (v *Volumes) RegisterImage(ctx context.Context, req RegisterImageRequest) (Image, error) {
	if err := checkID("image", req.Name); err != nil {
		return Image{}, err
	}
	if req.Format != "" && req.Format != "qcow2" && req.Format != "raw" {
		return Image{}, fmt.Errorf("registering image %q: format %q: want qcow2 or raw: %w", req.Name, req.Format, ErrInvalidImage)
	}
	want := strings.ToLower(strings.TrimSpace(req.ExpectedSHA256))
	if want != "" {
		if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
			return Image{}, fmt.Errorf("registering image %q: expected checksum %q is not a hex SHA-256", req.Name, req.ExpectedSHA256)
		}
	}
	src, err := os.Open(req.Source)
	if err != nil {
		return Image{}, fmt.Errorf("registering image %q: %w", req.Name, err)
	}
	defer src.Close()
	if fi, err := src.Stat(); err != nil || !fi.Mode().IsRegular() {
		return Image{}, fmt.Errorf("registering image %q: %q is not a regular file: %w", req.Name, req.Source, ErrInvalidImage)
	}

	var path string
	tmp := ""
	var sum string
	if req.Reference {
		if path, err = filepath.Abs(req.Source); err != nil {
			return Image{}, err
		}
		h := sha256.New()
		if _, err := io.Copy(h, ctxReader{ctx, src}); err != nil {
			return Image{}, fmt.Errorf("hashing image %q: %w", req.Name, err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	} else {
		if tmp, err = v.tempFile("image-*"); err != nil {
			return Image{}, err
		}
		defer func() {
			if tmp != "" {
				os.Remove(tmp)
			}
		}()
		if sum, err = copyHashed(ctx, tmp, src); err != nil {
			return Image{}, fmt.Errorf("copying image %q: %w", req.Name, err)
		}
		path = tmp
	}
	if want != "" && sum != want {
		return Image{}, fmt.Errorf("registering image %q: SHA-256 is %s, expected %s: %w", req.Name, sum, want, ErrChecksumMismatch)
	}
	info, err := validateBase(ctx, path, req.Format)
	if err != nil {
		return Image{}, fmt.Errorf("registering image %q: %w", req.Name, err)
	}
	img := Image{Name: req.Name, Path: path, Format: info.Format, VirtualSize: info.VirtualSize, SHA256: sum}
	if !req.Reference {
		img.Path = v.ImagePath(req.Name, info.Format)
		if _, err := os.Stat(img.Path); err == nil {
			return Image{}, fmt.Errorf("registering image %q: %s already exists", req.Name, img.Path)
		}
		if err := commit(tmp, img.Path); err != nil {
			return Image{}, err
		}
		tmp = ""
	}
	v.log.InfoContext(ctx, "registered base image", "image", img.Name, "format", img.Format, "virtual_size", img.VirtualSize, "sha256", img.SHA256)
	return img, nil
}

func validateBase(ctx context.Context, path, wantFormat string) (imgInfo, error) {
	info, err := qemuInfo(ctx, path, "")
	if err != nil {
		return info, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	switch {
	case info.Format != "qcow2" && info.Format != "raw":
		return info, fmt.Errorf("format %q, want qcow2 or raw: %w", info.Format, ErrInvalidImage)
	case wantFormat != "" && info.Format != wantFormat:
		return info, fmt.Errorf("file is %s, not %s: %w", info.Format, wantFormat, ErrInvalidImage)
	case info.BackingFilename != "":
		return info, fmt.Errorf("base image has a backing file %q: %w", info.BackingFilename, ErrInvalidImage)
	case info.Encrypted:
		return info, fmt.Errorf("base image is encrypted: %w", ErrInvalidImage)
	case info.FormatSpecific.Data.Corrupt != nil && *info.FormatSpecific.Data.Corrupt:
		return info, fmt.Errorf("qcow2 image is marked corrupt: %w", ErrInvalidImage)
	case info.VirtualSize <= 0:
		return info, fmt.Errorf("virtual size %d: %w", info.VirtualSize, ErrInvalidImage)
	}
	if info.Format == "qcow2" {
		if err := qemuCheck(ctx, path); err != nil {
			return info, fmt.Errorf("%w: %w", ErrInvalidImage, err)
		}
	}
	return info, nil
}

// RemoveImage deletes a copied image. Callers must first make sure no
// overlay uses it (the model refuses to delete an image in use).
func (v *Volumes) RemoveImage(ctx context.Context, name, format string) error {
	if err := checkID("image", name); err != nil {
		return err
	}
	if err := os.Remove(v.ImagePath(name, format)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing image %q: %w", name, err)
	}
	v.log.InfoContext(ctx, "removed base image", "image", name)
	return nil
}

// copyHashed copies src into the file dst, fsyncs it, and returns the hex
// SHA-256 of the bytes copied.
func copyHashed(ctx context.Context, dst string, src io.Reader) (string, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx, src}, make([]byte, 1<<20))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long copy when ctx is cancelled.
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
