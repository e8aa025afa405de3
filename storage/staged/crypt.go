package staged

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

const (
	magic      = "SDEDSTG1"
	saltSize   = 32
	headerSize = len(magic) + saltSize + 4
	chunkSize  = 64 << 10
	tagSize    = 16
)

// ErrCorrupt means a staged file failed authentication: it was modified,
// truncated, or belongs to another project or file id.
var ErrCorrupt = errors.New("staged file does not authenticate (modified, truncated or moved)")

// fileAEAD derives the per-file key.
func fileAEAD(key []byte, salt []byte, project, id string) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("staging key is %d bytes, want 32", len(key))
	}
	fk, err := hkdf.Key(sha256.New, key, salt, "sded staged file v1\x00"+project+"\x00"+id, 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(fk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func chunkNonce(n []byte, i uint64, last bool) []byte {
	clear(n[:4])
	if last {
		n[0] = 1
	}
	binary.BigEndian.PutUint64(n[4:], i)
	return n
}

// encryptWriter encrypts a plaintext stream into w in chunks. Close writes
// the final chunk; without it the file does not authenticate.
type encryptWriter struct {
	w      io.Writer
	aead   cipher.AEAD
	header []byte
	buf    []byte
	out    []byte
	nonce  []byte
	i      uint64
}

func newEncryptWriter(w io.Writer, key []byte, project, id string) (*encryptWriter, error) {
	header := make([]byte, headerSize)
	copy(header, magic)
	if _, err := io.ReadFull(rand.Reader, header[len(magic):len(magic)+saltSize]); err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(header[len(magic)+saltSize:], chunkSize)
	aead, err := fileAEAD(key, header[len(magic):len(magic)+saltSize], project, id)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	return &encryptWriter{w: w, aead: aead, header: header, buf: make([]byte, 0, chunkSize),
		out: make([]byte, 0, chunkSize+tagSize), nonce: make([]byte, 12)}, nil
}

// Write buffers p and emits every full chunk except the latest, which may
// turn out to be the last one.
func (e *encryptWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(e.buf) == chunkSize {
			if err := e.flush(false); err != nil {
				return n, err
			}
		}
		c := copy(e.buf[len(e.buf):chunkSize], p)
		e.buf = e.buf[:len(e.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

func (e *encryptWriter) flush(last bool) error {
	e.out = e.aead.Seal(e.out[:0], chunkNonce(e.nonce, e.i, last), e.buf, e.header)
	e.i++
	e.buf = e.buf[:0]
	_, err := e.w.Write(e.out)
	return err
}

// Close emits the final chunk (possibly empty).
func (e *encryptWriter) Close() error { return e.flush(true) }

// decryptReader decrypts a stream written by encryptWriter.
type decryptReader struct {
	r       io.Reader
	aead    cipher.AEAD
	header  []byte
	in      []byte
	plain   []byte
	off     int
	nonce   []byte
	i       uint64
	done    bool
	err     error
	pending []byte
}

func newDecryptReader(r io.Reader, key []byte, project, id string) (*decryptReader, error) {
	header := make([]byte, headerSize)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("reading header: %w", ErrCorrupt)
	}
	aead, err := parseHeader(header, key, project, id)
	if err != nil {
		return nil, err
	}
	return &decryptReader{r: r, aead: aead, header: header, in: make([]byte, chunkSize+tagSize+1), pending: make([]byte, 0, 1), nonce: make([]byte, 12)}, nil
}

func parseHeader(header, key []byte, project, id string) (cipher.AEAD, error) {
	if string(header[:len(magic)]) != magic {
		return nil, fmt.Errorf("bad magic: %w", ErrCorrupt)
	}
	if binary.BigEndian.Uint32(header[len(magic)+saltSize:]) != chunkSize {
		return nil, fmt.Errorf("unsupported chunk size: %w", ErrCorrupt)
	}
	return fileAEAD(key, header[len(magic):len(magic)+saltSize], project, id)
}

func (d *decryptReader) Read(p []byte) (int, error) {
	for d.off == len(d.plain) {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.next()
	}
	n := copy(p, d.plain[d.off:])
	d.off += n
	return n, nil
}

// next reads one ciphertext chunk. A chunk shorter than a full one must be
// the last; a full one may be last too (then EOF follows), which is why one
// extra byte is read ahead.
func (d *decryptReader) next() {
	full := chunkSize + tagSize
	start := copy(d.in, d.pending)
	d.pending = d.pending[:0]
	n, err := io.ReadFull(d.r, d.in[start:full+1])
	n += start
	var last bool
	switch {
	case err == nil: // more follows: put the extra byte back for next time
		n = full
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if n > full {
			n = full // cannot happen: ReadFull only fails short
		}
		last = true
	default:
		d.err = err
		return
	}
	if n < tagSize {
		d.err = fmt.Errorf("short chunk: %w", ErrCorrupt)
		return
	}
	pt, oerr := d.aead.Open(d.plain[:0], chunkNonce(d.nonce, d.i, last), d.in[:n], d.header)
	if oerr != nil {
		d.err = fmt.Errorf("chunk %d: %w", d.i, ErrCorrupt)
		return
	}
	if !last {
		// Keep the read-ahead byte for the next chunk.
		d.pending = append(d.pending, d.in[full])
	}
	d.plain, d.off = pt, 0
	d.i++
	d.done = last
}

// ReaderAt gives random access to a staged file's plaintext (for zip
// inspection and ranged downloads). Each ReadAt decrypts whole chunks.
type ReaderAt struct {
	f    io.ReaderAt
	aead cipher.AEAD
	hdr  []byte
	size int64 // plaintext size
	n    uint64

	mu     sync.Mutex // guards the last decrypted chunk (many small reads hit it)
	cached uint64
	plain  []byte
}

func newReaderAt(f io.ReaderAt, fileSize int64, key []byte, project, id string) (*ReaderAt, error) {
	header := make([]byte, headerSize)
	if _, err := f.ReadAt(header, 0); err != nil {
		return nil, fmt.Errorf("reading header: %w", ErrCorrupt)
	}
	aead, err := parseHeader(header, key, project, id)
	if err != nil {
		return nil, err
	}
	body := fileSize - int64(headerSize)
	full := int64(chunkSize + tagSize)
	chunks := body / full
	rem := body % full
	if rem > 0 {
		chunks++
	}
	if rem > 0 && rem < tagSize || chunks == 0 {
		return nil, fmt.Errorf("size %d: %w", fileSize, ErrCorrupt)
	}
	size := body - chunks*tagSize
	return &ReaderAt{f: f, aead: aead, hdr: header, size: size, n: uint64(chunks)}, nil
}

// Size is the plaintext size.
func (r *ReaderAt) Size() int64 { return r.size }

// ReadAt implements io.ReaderAt.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for len(p) > 0 {
		if off >= r.size {
			return n, io.EOF
		}
		ci := uint64(off / chunkSize)
		pt, err := r.chunk(ci)
		if err != nil {
			return n, err
		}
		c := copy(p, pt[off-int64(ci)*chunkSize:])
		p = p[c:]
		n += c
		off += int64(c)
	}
	return n, nil
}

// chunk returns the plaintext of chunk ci, from the cache if it is the last
// one decrypted.
func (r *ReaderAt) chunk(ci uint64) ([]byte, error) {
	if r.plain != nil && r.cached == ci {
		return r.plain, nil
	}
	ct := make([]byte, chunkSize+tagSize)
	if ci == r.n-1 {
		ct = ct[:r.size-int64(ci)*chunkSize+tagSize]
	}
	if _, err := r.f.ReadAt(ct, int64(headerSize)+int64(ci)*(chunkSize+tagSize)); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	pt, err := r.aead.Open(r.plain[:0], chunkNonce(make([]byte, 12), ci, ci == r.n-1), ct, r.hdr)
	if err != nil {
		r.plain = nil
		return nil, fmt.Errorf("chunk %d: %w", ci, ErrCorrupt)
	}
	r.plain, r.cached = pt, ci
	return pt, nil
}
