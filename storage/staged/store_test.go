package staged

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func testKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	cfg.Root = filepath.Join(t.TempDir(), "staged")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// projectFiles lists every file in the store for project (none may be left
// behind by a refusal).
func projectFiles(t *testing.T, s *Store, project string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(s.root, project))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestPutOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	key := testKey()
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize, 200_001} {
		data := make([]byte, size)
		rand.Read(data)
		f, err := s.Put(ctx, "p1", key, "data.bin", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		sum := sha256.Sum256(data)
		if f.Size != int64(size) || f.SHA256 != hex.EncodeToString(sum[:]) || f.Name != "data.bin" {
			t.Errorf("size %d: got %+v", size, f)
		}
		enc, _ := os.ReadFile(filepath.Join(s.root, "p1", f.ID))
		if size >= 64 && bytes.Contains(enc, data[:64]) {
			t.Errorf("size %d: plaintext visible on disk", size)
		}
		if fi, _ := os.Stat(filepath.Join(s.root, "p1", f.ID)); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode().Perm())
		}
		rc, err := s.Open(ctx, "p1", key, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("size %d: read back %d bytes, err %v", size, len(got), err)
		}
		ra, c, err := s.OpenAt(ctx, "p1", key, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ra.Size() != int64(size) {
			t.Errorf("ReaderAt size %d, want %d", ra.Size(), size)
		}
		if size > 10 {
			buf := make([]byte, size-7)
			if _, err := ra.ReadAt(buf, 5); err != nil && !errors.Is(err, io.EOF) {
				t.Errorf("ReadAt: %v", err)
			}
			if !bytes.Equal(buf, data[5:size-2]) {
				t.Errorf("size %d: ReadAt mismatch", size)
			}
		}
		c.Close()
	}
}

func TestTamperDetected(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	key := testKey()
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*chunkSize/16+100)
	f, err := s.Put(ctx, "p1", key, "a.txt", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.root, "p1", f.ID)
	orig, _ := os.ReadFile(path)
	full := chunkSize + tagSize
	tests := []struct {
		name    string
		content []byte
		project string
		id      string
		key     []byte
	}{
		{"bit flip", func() []byte { b := bytes.Clone(orig); b[headerSize+10] ^= 1; return b }(), "p1", f.ID, key},
		{"truncated to whole chunks", orig[:headerSize+2*full], "p1", f.ID, key},
		{"last chunk cut", orig[:len(orig)-5], "p1", f.ID, key},
		{"chunks swapped", func() []byte {
			b := bytes.Clone(orig)
			copy(b[headerSize:], orig[headerSize+full:headerSize+2*full])
			copy(b[headerSize+full:], orig[headerSize:headerSize+full])
			return b
		}(), "p1", f.ID, key},
		{"appended data", append(bytes.Clone(orig), 1, 2, 3), "p1", f.ID, key},
		{"header only", orig[:headerSize], "p1", f.ID, key},
		{"wrong key", orig, "p1", f.ID, testKey()},
		{"moved to another project", orig, "p2", f.ID, key},
		{"renamed to another id", orig, "p1", "0123456789abcdef0123456789abcdef", key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(s.root, tt.project, tt.id)
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, tt.content, 0o600)
			t.Cleanup(func() { os.WriteFile(path, orig, 0o600) })
			rc, err := s.Open(ctx, tt.project, tt.key, tt.id)
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestPutRefusals(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{MaxFileBytes: 1000})
	key := testKey()
	if _, err := s.Put(ctx, "p1", key, "exact.csv", bytes.NewReader(make([]byte, 1000))); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	before := projectFiles(t, s, "p1")
	tests := []struct {
		name    string
		project string
		file    string
		data    io.Reader
		want    error
	}{
		{"one byte over the limit", "p1", "big.csv", bytes.NewReader(make([]byte, 1001)), ErrTooLarge},
		{"endless stream", "p1", "big.csv", zeroReader{}, ErrTooLarge},
		{"blocked extension", "p1", "run.exe", strings.NewReader("MZ"), ErrBlocked},
		{"blocked double extension", "p1", "report.csv.bat", strings.NewReader("x"), ErrBlocked},
		{"traversal name", "p1", "../../x.csv", strings.NewReader("x"), ErrBadName},
		{"reader error", "p1", "x.csv", io.MultiReader(strings.NewReader("abc"), errReader{}), errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Put(ctx, tt.project, key, tt.file, tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if got := projectFiles(t, s, "p1"); len(got) != len(before) {
				t.Errorf("files left behind: %v", got)
			}
		})
	}
	if _, err := s.Put(ctx, "../p", key, "a.csv", strings.NewReader("x")); err == nil {
		t.Error("bad project id accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "p1", key, "a.csv", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

func zipOf(t *testing.T, entries map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	zw.Close()
	return buf.Bytes()
}

func tarOf(t *testing.T, hdrs []*tar.Header, data [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data[i])
	}
	tw.Close()
	return buf.Bytes()
}

func gzOf(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestArchives(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{MaxFileBytes: 50 << 20, Archive: ArchiveLimits{MaxExpandedBytes: 20 << 20, MaxRatio: 100, MaxEntries: 50}})
	key := testKey()
	csv := []byte("a,b\n1,2\n")
	zeros := make([]byte, 30<<20)
	okTar := tarOf(t, []*tar.Header{{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "dir/t.csv", Typeflag: tar.TypeReg, Size: int64(len(csv)), Mode: 0o644}}, [][]byte{nil, csv})
	many := map[string][]byte{}
	for i := range 60 {
		many[strings.Repeat("f", i+1)+".csv"] = csv
	}

	good := []struct {
		name, file string
		data       []byte
		want       ArchiveInfo
	}{
		{"zip", "a.zip", zipOf(t, map[string][]byte{"t.csv": csv}), ArchiveInfo{Format: "zip", Entries: 1, ExpandedBytes: int64(len(csv)), Names: []string{"t.csv"}}},
		{"tar", "a.tar", okTar, ArchiveInfo{Format: "tar", Entries: 2, ExpandedBytes: int64(len(csv)), Names: []string{"dir/", "dir/t.csv"}}},
		{"tar.gz", "a.tar.gz", gzOf(okTar), ArchiveInfo{Format: "tar+gzip", Entries: 2, ExpandedBytes: int64(len(csv)), Names: []string{"dir/", "dir/t.csv"}}},
		{"gz", "a.csv.gz", gzOf(csv), ArchiveInfo{Format: "gzip", Entries: 1, ExpandedBytes: int64(len(csv)), Names: []string{"(gzip content)"}}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			f, err := s.Put(ctx, "p1", key, tt.file, bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if f.Archive == nil || f.Archive.Format != tt.want.Format || f.Archive.Entries != tt.want.Entries || f.Archive.ExpandedBytes != tt.want.ExpandedBytes {
				t.Errorf("archive info %+v, want %+v", f.Archive, tt.want)
			}
		})
	}
	if f, _ := s.Put(ctx, "p1", key, "plain.csv", bytes.NewReader(csv)); f.Archive != nil {
		t.Error("plain CSV reported as archive")
	}

	before := projectFiles(t, s, "p1")
	bad := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"zip bomb (ratio)", "bomb.zip", zipOf(t, map[string][]byte{"z": zeros}), "archive bomb"},
		{"gzip bomb", "bomb.gz", gzOf(zeros), "archive bomb"},
		{"tar.gz bomb", "bomb.tgz", gzOf(tarOf(t, []*tar.Header{{Name: "z", Typeflag: tar.TypeReg, Size: int64(len(zeros)), Mode: 0o644}}, [][]byte{zeros})), "archive bomb"},
		{"zip slip", "slip.zip", zipOf(t, map[string][]byte{"../../etc/cron.d/x": csv}), "path traversal"},
		{"zip absolute", "abs.zip", zipOf(t, map[string][]byte{"/etc/passwd": csv}), "absolute"},
		{"zip bidi entry", "bidi.zip", zipOf(t, map[string][]byte{"a\u202Eb.csv": csv}), "bidirectional"},
		{"nested zip", "nested.zip", zipOf(t, map[string][]byte{"inner.zip": zipOf(t, map[string][]byte{"t.csv": csv})}), "nested"},
		{"too many entries", "many.zip", zipOf(t, many), "more than 50 entries"},
		{"tar symlink", "link.tar", tarOf(t, []*tar.Header{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}}, [][]byte{nil}), "link or special"},
		{"tar traversal", "trav.tar", tarOf(t, []*tar.Header{{Name: "../x", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}}, [][]byte{{1}}), "path traversal"},
		{"bzip2", "a.bz2", []byte("BZh91AY&SY..."), "cannot be inspected"},
		{"xz", "a.xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, "cannot be inspected"},
		{"truncated zip", "cut.zip", zipOf(t, map[string][]byte{"t.csv": csv})[:30], "not a readable zip"},
		{"corrupt gzip", "bad.gz", append([]byte{0x1f, 0x8b, 8, 0}, bytes.Repeat([]byte{0xff}, 40)...), "gzip"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Put(ctx, "p1", key, tt.file, bytes.NewReader(tt.data))
			if !errors.Is(err, ErrArchive) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrArchive containing %q", err, tt.want)
			}
			if got := projectFiles(t, s, "p1"); len(got) != len(before) {
				t.Errorf("files left behind: %v", got)
			}
		})
	}
}

func TestReaderAtTamper(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	key := testKey()
	data := make([]byte, 3*chunkSize+10)
	rand.Read(data)
	f, err := s.Put(ctx, "p1", key, "a.bin", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.root, "p1", f.ID)
	b, _ := os.ReadFile(path)
	b[headerSize+chunkSize+tagSize+5] ^= 1 // second chunk
	os.WriteFile(path, b, 0o600)
	ra, c, err := s.OpenAt(ctx, "p1", key, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	if _, err := ra.ReadAt(buf, 10); err != nil {
		t.Errorf("first chunk: %v", err)
	}
	if _, err := ra.ReadAt(buf, chunkSize+10); !errors.Is(err, ErrCorrupt) {
		t.Errorf("tampered chunk: %v", err)
	}
	if _, err := ra.ReadAt(buf, 2*chunkSize); err != nil || !bytes.Equal(buf, data[2*chunkSize:2*chunkSize+100]) {
		t.Errorf("third chunk after a failure: %v", err)
	}
}

// TestPutStreams stores a 64 MiB stream and checks the heap never held it.
func TestPutStreams(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := s.Put(ctx, "p1", testKey(), "big.bin", io.LimitReader(zeroReader{}, 64<<20))
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if f.Size != 64<<20 {
		t.Errorf("size %d", f.Size)
	}
	// TotalAlloc counts every allocation made during Put.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Put allocated %d MiB for a 64 MiB stream", alloc>>20)
	}
}
