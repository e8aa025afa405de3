package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/sded/sded/storage/staged"
)

// DataVolumeLabel is the ext4 label of every data volume; guests mount it
// read-only by label (e.g. /etc/fstab: LABEL=sded-data /data ext4 ro,nofail).
const DataVolumeLabel = "sded-data"

const tmpfsMagic = 0x01021994

// DataFile is one approved file to put in a project's data volume.
type DataFile struct {
	Name string // a plain name accepted by staged.CheckName
	// Open returns the plaintext (e.g. staged.Store.Open with the project key).
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// BuildDataVolume (re)builds the project's read-only data volume from the
// complete list of approved files, without mounting anything:
//
//  1. the plaintext files are written into a private 0700 directory under
//     ScratchDir, which must be RAM-backed (tmpfs) so plaintext never touches
//     the data disk;
//  2. `mkfs.ext4 -d` builds an ext4 file system image of that directory
//     (no journal: guests only read it) in the same scratch directory;
//  3. `qemu-img convert` writes it as a LUKS-encrypted qcow2 under root/tmp,
//     which is renamed over DataPath.
//
// The scratch directory is removed in every case. A running guest keeps the
// old volume's open file until the hypervisor re-attaches the disk or the
// workstation restarts. Scratch space needed: about twice the files' size.
func (v *Volumes) BuildDataVolume(ctx context.Context, project string, files []DataFile, secret []byte) (string, error) {
	if _, err := v.ensureProjectDir(project); err != nil {
		return "", err
	}
	if err := v.checkScratch(); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(v.scratch, "sded-data-")
	if err != nil {
		return "", fmt.Errorf("building data volume: scratch directory: %w", err)
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o700); err != nil {
		return "", err
	}
	tree := filepath.Join(work, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return "", err
	}
	var total int64
	seen := map[string]bool{}
	for _, f := range files {
		if err := staged.CheckName(f.Name); err != nil {
			return "", fmt.Errorf("building data volume: %w", err)
		}
		if seen[f.Name] {
			return "", fmt.Errorf("building data volume: two files named %q", f.Name)
		}
		seen[f.Name] = true
		n, err := writeScratch(ctx, filepath.Join(tree, f.Name), f)
		if err != nil {
			return "", fmt.Errorf("building data volume: writing %q: %w", f.Name, err)
		}
		total += (n + 4095) / 4096 * 4096
	}
	// ext4 metadata overhead: ~10%, a floor of 16 MiB, one inode per file.
	sizeKiB := max((total+total/10)/1024+8192, 16384)
	raw := filepath.Join(work, "fs.raw")
	if _, err := runQemu(ctx, nil, "mkfs.ext4", "-q", "-F", "-t", "ext4", "-d", tree, "-L", DataVolumeLabel,
		"-O", "^has_journal", "-m", "0", "-N", strconv.Itoa(len(files)+64), "-E", "root_owner=0:0",
		raw, strconv.FormatInt(sizeKiB, 10)+"k"); err != nil {
		return "", fmt.Errorf("building data volume of %s: %w", project, err)
	}
	tmp, err := v.tempFile("data-*.qcow2")
	if err != nil {
		return "", err
	}
	if _, err := runQemu(ctx, secret, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2",
		"--object", secretArg, "-o", luksOpts(v.iterTime), raw, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("building data volume of %s: %w", project, err)
	}
	final := v.DataPath(project)
	if err := commit(tmp, final); err != nil {
		return "", err
	}
	v.log.InfoContext(ctx, "built data volume", "project", project, "files", len(files), "bytes", total)
	return final, nil
}

func writeScratch(ctx context.Context, path string, f DataFile) (int64, error) {
	rc, err := f.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(out, ctxReader{ctx, rc}, make([]byte, 1<<20))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// checkScratch refuses a scratch directory on disk unless allowed: the
// plaintext of approved files must not reach the data disk.
func (v *Volumes) checkScratch() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(v.scratch, &st); err != nil {
		return fmt.Errorf("scratch directory %q: %w", v.scratch, err)
	}
	if st.Type != tmpfsMagic && !v.diskOK {
		return errors.New("scratch directory " + v.scratch + " is not a tmpfs: plaintext would touch the disk (set a tmpfs scratch dir, or allow disk scratch explicitly)")
	}
	return nil
}
