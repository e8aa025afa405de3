package staged

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrArchive means an archive was refused: a bomb, unsafe entry names,
// nesting, or a format that cannot be inspected.
var ErrArchive = errors.New("archive refused")

// ArchiveLimits bound what an archive may expand to.
type ArchiveLimits struct {
	MaxExpandedBytes int64 // total uncompressed bytes; default 4 GiB
	MaxRatio         int64 // expanded / stored; default 100
	MaxEntries       int   // default 10000
}

func (l ArchiveLimits) withDefaults() ArchiveLimits {
	if l.MaxExpandedBytes <= 0 {
		l.MaxExpandedBytes = 4 << 30
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 100
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 10000
	}
	return l
}

// ArchiveInfo summarises an inspected archive for reviewers.
type ArchiveInfo struct {
	Format        string   `json:"format"` // zip, tar, gzip, tar+gzip
	Entries       int      `json:"entries"`
	ExpandedBytes int64    `json:"expanded_bytes"`
	Names         []string `json:"names,omitempty"` // first 100 entry names
}

func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")), bytes.HasPrefix(b, []byte("PK\x07\x08")):
		return "zip"
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "gzip"
	case len(b) >= 262 && string(b[257:262]) == "ustar":
		return "tar"
	case bytes.HasPrefix(b, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	case bytes.HasPrefix(b, []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}):
		return "7z"
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(b, []byte("Rar!")):
		return "rar"
	}
	return ""
}

// inspectArchive recognises archives by content (not name) and checks them
// by actually expanding them, under a budget, so lying headers do not help.
func inspectArchive(ctx context.Context, ra *ReaderAt, lim ArchiveLimits) (*ArchiveInfo, error) {
	head := make([]byte, 512)
	n, err := ra.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = head[:n]
	stored := max(ra.Size(), 1)
	budget := min(lim.MaxExpandedBytes, stored*lim.MaxRatio)
	info := &ArchiveInfo{}
	switch f := sniff(head); f {
	case "":
		return nil, nil
	case "zip":
		info.Format = f
		err = inspectZip(ctx, ra, info, lim, budget)
	case "tar":
		info.Format = f
		err = inspectTar(ctx, io.NewSectionReader(ra, 0, ra.Size()), info, lim, budget)
	case "gzip":
		info.Format = f
		err = inspectGzip(ctx, io.NewSectionReader(ra, 0, ra.Size()), info, lim, budget)
	default:
		return nil, fmt.Errorf("%w: %s archives cannot be inspected; use zip, tar or gzip", ErrArchive, f)
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

func (info *ArchiveInfo) add(name string, lim ArchiveLimits) error {
	if err := checkEntryName(name); err != nil {
		return err
	}
	info.Entries++
	if info.Entries > lim.MaxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrArchive, lim.MaxEntries)
	}
	if len(info.Names) < 100 {
		info.Names = append(info.Names, name)
	}
	return nil
}

// checkEntryName refuses entries that would escape a directory when
// extracted (zip slip) and entries with unsafe names.
func checkEntryName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return fmt.Errorf("%w: entry %q has an absolute or unsafe path", ErrArchive, name)
	}
	clean := strings.TrimSuffix(name, "/")
	for _, part := range strings.Split(clean, "/") {
		if part == ".." {
			return fmt.Errorf("%w: entry %q escapes the archive (path traversal)", ErrArchive, name)
		}
		if part == "" || part == "." {
			continue
		}
		if strings.HasPrefix(part, ".") {
			part = "x" + part // hidden entries are fine inside an archive
		}
		if err := CheckName(part); err != nil {
			return fmt.Errorf("%w: entry %q: %w", ErrArchive, name, err)
		}
	}
	if path.Clean("/"+clean) != "/"+clean && clean != "" {
		return fmt.Errorf("%w: entry %q is not a clean path", ErrArchive, name)
	}
	return nil
}

// expand reads r to the end under the remaining budget and refuses nested
// archives (content sniffed from the first bytes).
func expand(ctx context.Context, r io.Reader, name string, info *ArchiveInfo, budget int64) error {
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: entry %q: %w", ErrArchive, name, err)
	}
	if f := sniff(head[:n]); f != "" {
		return fmt.Errorf("%w: entry %q is itself a %s archive (nested archives are not accepted)", ErrArchive, name, f)
	}
	info.ExpandedBytes += int64(n)
	left := budget - info.ExpandedBytes
	m, err := io.Copy(io.Discard, io.LimitReader(ctxReader{ctx, r}, left+1))
	info.ExpandedBytes += m
	if err != nil {
		return fmt.Errorf("%w: entry %q: %w", ErrArchive, name, err)
	}
	if info.ExpandedBytes > budget {
		return fmt.Errorf("%w: expands beyond %d bytes (archive bomb?)", ErrArchive, budget)
	}
	return nil
}

func inspectZip(ctx context.Context, ra *ReaderAt, info *ArchiveInfo, lim ArchiveLimits, budget int64) error {
	zr, err := zip.NewReader(ra, ra.Size())
	if err != nil {
		return fmt.Errorf("%w: not a readable zip: %w", ErrArchive, err)
	}
	var declared uint64
	for _, f := range zr.File {
		declared += f.UncompressedSize64
	}
	if declared > uint64(budget) {
		return fmt.Errorf("%w: declares %d expanded bytes, limit %d (archive bomb?)", ErrArchive, declared, budget)
	}
	for _, f := range zr.File {
		if err := info.add(f.Name, lim); err != nil {
			return err
		}
		if f.FileInfo().IsDir() {
			continue
		}
		if !f.Mode().IsRegular() {
			return fmt.Errorf("%w: entry %q is not a regular file", ErrArchive, f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%w: entry %q: %w", ErrArchive, f.Name, err)
		}
		err = expand(ctx, rc, f.Name, info, budget)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func inspectTar(ctx context.Context, r io.Reader, info *ArchiveInfo, lim ArchiveLimits, budget int64) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: not a readable tar: %w", ErrArchive, err)
		}
		if err := info.add(h.Name, lim); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return fmt.Errorf("%w: entry %q is a link or special file", ErrArchive, h.Name)
		}
		if err := expand(ctx, tr, h.Name, info, budget); err != nil {
			return err
		}
	}
}

func inspectGzip(ctx context.Context, r io.Reader, info *ArchiveInfo, lim ArchiveLimits, budget int64) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: not a readable gzip: %w", ErrArchive, err)
	}
	defer zr.Close()
	// Peek at the decompressed start: a tar inside is inspected as tar+gzip.
	head := make([]byte, 512)
	n, err := io.ReadFull(zr, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: gzip: %w", ErrArchive, err)
	}
	body := io.MultiReader(bytes.NewReader(head[:n]), zr)
	if sniff(head[:n]) == "tar" {
		info.Format = "tar+gzip"
		return inspectTar(ctx, &limited{r: body, n: budget}, info, lim, budget)
	}
	if err := info.add("(gzip content)", lim); err != nil {
		return err
	}
	return expand(ctx, body, "(gzip content)", info, budget)
}

// limited errors (instead of a silent EOF) once more than n bytes are read.
type limited struct {
	r io.Reader
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, fmt.Errorf("%w: expands beyond the limit (archive bomb?)", ErrArchive)
	}
	return n, err
}
