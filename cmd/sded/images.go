package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/storage"
	"github.com/sded/sded/ui"
)

// Base images are registered two ways: `sded image add` on a node (root on
// the host, any absolute path) and the web UI or API (an admin, only plain
// file names inside storage.image_import_dir). Both open their files first
// and then share registerImage, which reads only the open files.

// imageFilesMu serialises registering and deleting images on this node:
// they check, create and remove files by the image's name, and two
// requests for one name (a double-clicked form) must not remove each
// other's files.
var imageFilesMu sync.Mutex

// imageFiles are the open files an image is registered from, with the
// names messages use for them. Kernel and Initrd are nil without direct
// kernel boot.
type imageFiles struct {
	Disk, Kernel, Initrd             *os.File
	DiskName, KernelName, InitrdName string
}

func (f *imageFiles) close() {
	for _, x := range []*os.File{f.Disk, f.Kernel, f.Initrd} {
		if x != nil {
			x.Close()
		}
	}
}

// imageSpec is what an image is registered as.
type imageSpec struct {
	Name, Format, SHA256, Cmdline string
}

// fdPath names an open file so that a function taking a path opens the
// very same file, whatever happens to its name meanwhile.
func fdPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// registerImage copies and validates an image (and its kernel and initrd
// for direct boot) under the volume root, then registers it in the
// replicated state. Policy is checked before any copying; on any failure
// the copies are removed again.
func (d *daemon) registerImage(ctx context.Context, a model.Actor, spec imageSpec, files imageFiles) (model.Image, error) {
	if err := d.svc.Authorize(ctx, a, model.ActImageManage, model.Object{Kind: model.KindImage}); err != nil {
		return model.Image{}, err
	}
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	if !ui.ValidImageName(spec.Name) {
		return model.Image{}, model.FieldError("name", "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit")
	}
	if _, err := d.imageByName(spec.Name); err == nil {
		return model.Image{}, &model.Error{Code: model.CodeAlreadyExists, Field: "name", Message: fmt.Sprintf("an image named %q exists", spec.Name)}
	}
	if spec.Cmdline != "" && files.Kernel == nil {
		return model.Image{}, model.FieldError("cmdline", "needs a kernel")
	}
	img, err := d.vols.RegisterImage(ctx, storage.RegisterImageRequest{Name: spec.Name, Source: fdPath(files.Disk), Format: spec.Format,
		ExpectedSHA256: strings.ToLower(spec.SHA256)})
	if err != nil {
		field := "file"
		if errors.Is(err, storage.ErrChecksumMismatch) {
			field = "sha256"
		}
		return model.Image{}, &model.Error{Code: model.CodeInvalid, Field: field, Message: fmt.Sprintf("image %s: %v", files.DiskName, err)}
	}
	undo := []string{img.Path}
	cleanup := func() {
		for _, p := range undo {
			os.Remove(p)
		}
	}
	m := model.Image{Name: spec.Name, Format: model.ImageFormat(img.Format), SHA256: img.SHA256, Size: img.VirtualSize, Path: img.Path, Cmdline: spec.Cmdline}
	for _, f := range []struct {
		src         *os.File
		name, field string
		dst         *string
		kind        string
	}{{files.Kernel, files.KernelName, "kernel", &m.Kernel, "kernel"},
		{files.Initrd, files.InitrdName, "initrd", &m.Initrd, "initrd"}} {
		if f.src == nil {
			continue
		}
		dst := bootFilePath(img.Path, spec.Name, f.kind)
		if err := copyOpenFile(f.src, dst); err != nil {
			cleanup()
			return model.Image{}, &model.Error{Code: model.CodeInvalid, Field: f.field, Message: fmt.Sprintf("%s %s: %v", f.kind, f.name, err)}
		}
		undo = append(undo, dst)
		*f.dst = dst
	}
	out, err := d.svc.RegisterImage(ctx, a, m)
	if err != nil {
		cleanup()
		return model.Image{}, err
	}
	return out, nil
}

// bootFilePath is where an image's kernel or initrd copy lives: beside the
// image.
func bootFilePath(imagePath, name, kind string) string {
	return filepath.Join(filepath.Dir(imagePath), name+"."+kind)
}

// deleteImage unregisters an image no workstation uses (the FSM refuses
// one in use) and removes this node's copies of its files.
func (d *daemon) deleteImage(ctx context.Context, a model.Actor, id string) error {
	imageFilesMu.Lock()
	defer imageFilesMu.Unlock()
	img, err := d.svc.Image(ctx, id)
	if err != nil {
		return err
	}
	if err := d.svc.DeleteImage(ctx, a, id); err != nil {
		return err
	}
	var errs []error
	if err := d.vols.RemoveImage(ctx, img.Name, string(img.Format)); err != nil {
		errs = append(errs, err)
	}
	for _, kind := range []string{"kernel", "initrd"} {
		p := bootFilePath(d.vols.ImagePath(img.Name, string(img.Format)), img.Name, kind)
		// Only the copy registerImage made, never a path the state names.
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("image %s is unregistered, but its files remain: %w", img.Name, err)
	}
	return nil
}

// openHostFile opens a file named by `sded image add` (root on the node):
// any absolute path, links followed.
func openHostFile(field, path string) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, model.FieldError(field, "must be an absolute path")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, model.FieldError(field, "%v", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, model.FieldError(field, "%s is not a regular file", path)
	}
	return f, nil
}

// copyOpenFile copies the rest of in to a new file dst (0644: QEMU reads
// kernels and initrds), through a temporary file.
func copyOpenFile(in *os.File, dst string) error {
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// addImage is `sded image add`: files by absolute path.
func (d *daemon) addImage(ctx context.Context, a model.Actor, r imageAddReq) (any, error) {
	if err := needAdmin(a); err != nil {
		return nil, err
	}
	var files imageFiles
	defer files.close()
	var err error
	if files.Disk, err = openHostFile("file", r.File); err != nil {
		return nil, err
	}
	files.DiskName = r.File
	if r.Kernel != "" {
		if files.Kernel, err = openHostFile("kernel", r.Kernel); err != nil {
			return nil, err
		}
		files.KernelName = r.Kernel
	}
	if r.Initrd != "" {
		if files.Initrd, err = openHostFile("initrd", r.Initrd); err != nil {
			return nil, err
		}
		files.InitrdName = r.Initrd
	}
	return d.registerImage(ctx, a, imageSpec{Name: r.Name, Format: r.Format, SHA256: r.SHA256, Cmdline: r.Cmdline}, files)
}

// importDir is storage.image_import_dir: the only place the web UI takes
// image files from.
type importDir string

// openDir opens the import directory, refusing one that others than its
// owner may write to (anyone who can put a file there chooses what an
// admin may register).
func (dir importDir) openDir() (*os.File, error) {
	f, err := os.Open(string(dir))
	if err != nil {
		return nil, model.Errorf(model.CodeUnavailable, "opening the image import directory: %v", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, model.Errorf(model.CodeUnavailable, "reading the image import directory: %v", err)
	case !st.IsDir():
		f.Close()
		return nil, model.Errorf(model.CodeUnavailable, "the image import directory %s is not a directory", dir)
	case st.Mode().Perm()&0o022 != 0:
		f.Close()
		return nil, model.Errorf(model.CodeUnavailable, "the image import directory %s is writable by group or others (mode %v): chmod 0700 it", dir, st.Mode().Perm())
	}
	return f, nil
}

// open opens the file name in the directory for reading: a plain name
// (ui.CheckImportName), a regular file with no other hard link, never
// through a symbolic link. field names the request field in errors.
func (dir importDir) open(field, name string) (*os.File, error) {
	if err := ui.CheckImportName(field, name); err != nil {
		return nil, err
	}
	df, err := dir.openDir()
	if err != nil {
		return nil, err
	}
	defer df.Close()
	// O_NOFOLLOW on a single path component: a symbolic link is refused
	// rather than followed out of the directory. O_NONBLOCK: a FIFO does
	// not hang the open; it is refused below.
	fd, err := syscall.Openat(int(df.Fd()), name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return nil, model.FieldError(field, "no file %q in the import directory %s", name, dir)
	case errors.Is(err, syscall.ELOOP):
		return nil, model.FieldError(field, "%q is a symbolic link; copy the file itself into the import directory", name)
	case err != nil:
		return nil, model.FieldError(field, "opening %q in the import directory: %v", name, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(string(dir), name))
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, model.FieldError(field, "reading %q: %v", name, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, model.FieldError(field, "%q is not a regular file", name)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink > 1 {
		f.Close()
		return nil, model.FieldError(field, "%q has other hard links; copy the file into the import directory instead of linking it", name)
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, model.FieldError(field, "opening %q: %v", name, err)
	}
	return f, nil
}

// clearNonblock puts a file opened O_NONBLOCK back in blocking mode.
func clearNonblock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// list returns the directory's files the UI may offer: plain names of
// regular files without other hard links (what open accepts), by name.
func (dir importDir) list() ([]ui.ImportFile, error) {
	df, err := dir.openDir()
	if err != nil {
		return nil, err
	}
	defer df.Close()
	ents, err := df.ReadDir(-1)
	if err != nil {
		return nil, model.Errorf(model.CodeUnavailable, "listing the image import directory: %v", err)
	}
	var out []ui.ImportFile
	for _, e := range ents {
		if ui.CheckImportName("file", e.Name()) != nil || !e.Type().IsRegular() {
			continue
		}
		st, err := e.Info() // lstat
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink > 1 {
			continue
		}
		out = append(out, ui.ImportFile{Name: e.Name(), Size: st.Size(), Modified: st.ModTime().UTC()})
	}
	slices.SortFunc(out, func(a, b ui.ImportFile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// uiImages is the web UI's ui.Images: files from the import directory only.
type uiImages struct {
	d   *daemon
	dir importDir
}

var _ ui.Images = uiImages{}

func (u uiImages) AddImage(ctx context.Context, a model.Actor, r ui.ImageRequest) (model.Image, error) {
	r.Normalize()
	if err := r.Validate(); err != nil {
		return model.Image{}, err
	}
	files, err := u.openFiles(r)
	if err != nil {
		return model.Image{}, err
	}
	defer files.close()
	return u.d.registerImage(ctx, a, imageSpec{Name: r.Name, Format: r.Format, SHA256: r.SHA256, Cmdline: r.Cmdline}, files)
}

// openFiles opens a request's files in the import directory.
func (u uiImages) openFiles(r ui.ImageRequest) (imageFiles, error) {
	var files imageFiles
	for _, f := range []struct {
		field, name string
		to          **os.File
		as          *string
	}{{"file", r.File, &files.Disk, &files.DiskName}, {"kernel", r.Kernel, &files.Kernel, &files.KernelName}, {"initrd", r.Initrd, &files.Initrd, &files.InitrdName}} {
		if f.name == "" {
			continue
		}
		x, err := u.dir.open(f.field, f.name)
		if err != nil {
			files.close()
			return imageFiles{}, err
		}
		*f.to, *f.as = x, f.name
	}
	return files, nil
}

func (u uiImages) DeleteImage(ctx context.Context, a model.Actor, id string) error {
	return u.d.deleteImage(ctx, a, id)
}

func (u uiImages) ImportFiles(ctx context.Context, a model.Actor) (ui.ImportDir, error) {
	if err := u.d.svc.Authorize(ctx, a, model.ActImageManage, model.Object{Kind: model.KindImage}); err != nil {
		return ui.ImportDir{}, err
	}
	files, err := u.dir.list()
	return ui.ImportDir{Path: string(u.dir), Files: files}, err
}
