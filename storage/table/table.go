// Package table reads CSV tables from untrusted sources under limits: a
// strict RFC 4180 parser (quoted fields, "" escapes, CRLF, an optional UTF-8
// byte-order mark) that refuses malformed input with the line number instead
// of guessing, and bounds the record length, the column count and the total
// size, so a hostile file cannot exhaust memory. Unquoted lines take a fast
// path (no copying), which keeps the airlock's checks near `wc -l` speed.
package table

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

var (
	// ErrMalformed means the input is not a well-formed CSV table.
	ErrMalformed = errors.New("malformed CSV")
	// ErrLimit means the input exceeds a configured limit.
	ErrLimit = errors.New("CSV limit exceeded")
)

// Limits bound what a Reader accepts. Zero fields take the defaults.
type Limits struct {
	MaxRecordBytes int   // one record (line, or lines of a quoted field); default 1 MiB
	MaxColumns     int   // default 1000
	MaxBytes       int64 // whole input; default 1 GiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = 1 << 20
	}
	if l.MaxColumns <= 0 {
		l.MaxColumns = 1000
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 30
	}
	return l
}

// Reader reads records. Every record must have as many fields as the first
// (the header). Empty lines are skipped.
type Reader struct {
	r      io.Reader
	lim    Limits
	buf    []byte
	start  int
	end    int
	eof    bool
	err    error
	total  int64
	line   int // line number of the last line read (1-based)
	recLn  int // line where the current record started
	fields [][]byte
	rec    []byte // unquoted copy of a record that had quotes
	offs   []int
	ncols  int
	first  bool
	// clean is the end of a region of buf known to hold whole lines with no
	// quotes and valid UTF-8 (checked once per region, not per line).
	clean   int
	noClean int    // no fast path before this offset (a quote or bad UTF-8 there)
	raw     []byte // the current record's line, when it had no quotes
	quoted  bool
}

// NewReader returns a Reader of r under lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	lim = lim.withDefaults()
	return &Reader{r: r, lim: lim, buf: make([]byte, 256<<10), first: true}
}

// Line is the line number where the last record returned started.
func (r *Reader) Line() int { return r.recLn }

// Bytes is the number of input bytes consumed so far.
func (r *Reader) Bytes() int64 { return r.total }

func (r *Reader) errorf(base error, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", base, r.line, fmt.Sprintf(format, args...))
}

// nextLine returns the next line without its terminator ('\n' or "\r\n").
// The slice is valid until the next call.
func (r *Reader) nextLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			line := r.buf[r.start : r.start+i]
			r.start += i + 1
			return r.finishLine(line)
		}
		if r.eof {
			if r.start == r.end {
				return nil, io.EOF
			}
			line := r.buf[r.start:r.end]
			r.start = r.end
			return r.finishLine(line)
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

func (r *Reader) finishLine(line []byte) ([]byte, error) {
	r.line++
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if r.line == 1 {
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	if len(line) > r.lim.MaxRecordBytes {
		return nil, r.errorf(ErrLimit, "line longer than %d bytes", r.lim.MaxRecordBytes)
	}
	if !utf8.Valid(line) {
		return nil, r.errorf(ErrMalformed, "not valid UTF-8")
	}
	return line, nil
}

// fill reads more input, compacting or growing the buffer (up to the record
// limit).
func (r *Reader) fill() error {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.noClean = max(r.noClean-r.start, 0)
		r.start, r.end, r.clean = 0, n, 0
	}
	if r.end == len(r.buf) {
		if len(r.buf) > r.lim.MaxRecordBytes+1 {
			r.line++
			return r.errorf(ErrLimit, "line longer than %d bytes", r.lim.MaxRecordBytes)
		}
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	r.total += int64(n)
	if r.total > r.lim.MaxBytes {
		return fmt.Errorf("%w: input larger than %d bytes", ErrLimit, r.lim.MaxBytes)
	}
	if errors.Is(err, io.EOF) {
		r.eof = true
		return nil
	}
	return err
}

// Read returns the next record's fields, valid until the next Read, or
// io.EOF at the end.
func (r *Reader) Read() ([][]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	f, err := r.read()
	if err != nil {
		r.err = err
		return nil, err
	}
	if r.first {
		r.ncols = len(f)
		r.first = false
	} else if len(f) != r.ncols {
		r.err = fmt.Errorf("%w: line %d: %d fields, header has %d", ErrMalformed, r.recLn, len(f), r.ncols)
		return nil, r.err
	}
	return f, nil
}

func (r *Reader) read() ([][]byte, error) {
	if r.start < r.clean {
		return r.readClean()
	}
	if r.start >= r.noClean && r.markClean() {
		return r.readClean()
	}
	var line []byte
	for {
		l, err := r.nextLine()
		if err != nil {
			return nil, err
		}
		if len(l) > 0 {
			line = l
			break
		}
	}
	r.recLn = r.line
	if bytes.IndexByte(line, '"') < 0 {
		r.raw, r.quoted = line, false
		r.fields = r.fields[:0]
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				r.fields = append(r.fields, line)
				break
			}
			r.fields = append(r.fields, line[:i])
			line = line[i+1:]
			if len(r.fields) >= r.lim.MaxColumns {
				return nil, r.errorf(ErrLimit, "more than %d columns", r.lim.MaxColumns)
			}
		}
		return r.fields, nil
	}
	return r.readQuoted(line)
}

// readQuoted parses a record containing quotes, which may continue over
// several lines inside a quoted field.
func (r *Reader) readQuoted(line []byte) ([][]byte, error) {
	r.quoted = true
	r.rec = r.rec[:0]
	r.offs = r.offs[:0]
	for {
		// At the start of a field.
		r.offs = append(r.offs, len(r.rec))
		if len(r.offs) > r.lim.MaxColumns {
			return nil, r.errorf(ErrLimit, "more than %d columns", r.lim.MaxColumns)
		}
		if len(line) > 0 && line[0] == '"' {
			line = line[1:]
			for {
				i := bytes.IndexByte(line, '"')
				if i < 0 {
					// The field continues on the next line.
					r.rec = append(r.rec, line...)
					r.rec = append(r.rec, '\n')
					if len(r.rec) > r.lim.MaxRecordBytes {
						return nil, r.errorf(ErrLimit, "record longer than %d bytes", r.lim.MaxRecordBytes)
					}
					next, err := r.nextLine()
					if errors.Is(err, io.EOF) {
						return nil, fmt.Errorf("%w: line %d: quoted field not closed", ErrMalformed, r.recLn)
					}
					if err != nil {
						return nil, err
					}
					line = next
					continue
				}
				r.rec = append(r.rec, line[:i]...)
				line = line[i+1:]
				if len(line) > 0 && line[0] == '"' { // "" inside quotes
					r.rec = append(r.rec, '"')
					line = line[1:]
					continue
				}
				break
			}
			switch {
			case len(line) == 0:
				return r.splitRec(), nil
			case line[0] == ',':
				line = line[1:]
				continue
			default:
				return nil, r.errorf(ErrMalformed, "unexpected %q after a closing quote", line[0])
			}
		}
		i := bytes.IndexByte(line, ',')
		field := line
		if i >= 0 {
			field = line[:i]
		}
		if bytes.IndexByte(field, '"') >= 0 {
			return nil, r.errorf(ErrMalformed, "bare quote in an unquoted field")
		}
		r.rec = append(r.rec, field...)
		if i < 0 {
			return r.splitRec(), nil
		}
		line = line[i+1:]
	}
}

func (r *Reader) splitRec() [][]byte {
	r.fields = r.fields[:0]
	for i, o := range r.offs {
		end := len(r.rec)
		if i+1 < len(r.offs) {
			end = r.offs[i+1]
		}
		r.fields = append(r.fields, r.rec[o:end])
	}
	return r.fields
}

// CheckControl refuses ASCII control characters other than tab, and DEL,
// in a value. The Reader passes them through (checking every byte would
// halve its speed); consumers check the values they show or key on.
func CheckControl(b []byte) error {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("%w: control character 0x%02x in %q", ErrMalformed, c, b)
		}
	}
	return nil
}

// markClean looks at the buffered whole lines from start: when they hold no
// quote and are valid UTF-8 they can be split by readClean without per-line
// checks. It returns false when the fast path does not apply.
func (r *Reader) markClean() bool {
	if r.line == 0 { // the first line may carry a BOM: take the slow path
		return false
	}
	if r.end-r.start < 4096 && !r.eof {
		if err := r.fill(); err != nil {
			return false // the slow path reports it
		}
	}
	region := r.buf[r.start:r.end]
	nl := bytes.LastIndexByte(region, '\n')
	if nl < 0 {
		return false
	}
	region = region[:nl+1]
	if q := bytes.IndexByte(region, '"'); q >= 0 {
		// Whole lines before the quote can still take the fast path.
		nl = bytes.LastIndexByte(region[:q], '\n')
		if nl < 0 {
			r.noClean = r.start + q + 1
			return false
		}
		region = region[:nl+1]
	}
	if !utf8.Valid(region) {
		r.noClean = r.start + len(region)
		return false
	}
	r.clean = r.start + len(region)
	return true
}

// readClean splits the next line of the clean region: its end and its
// commas are found with bytes.IndexByte (vectorised).
func (r *Reader) readClean() ([][]byte, error) {
	for {
		rest := r.buf[r.start:r.clean]
		nl := bytes.IndexByte(rest, '\n') // always found: the region ends with one
		line := rest[:nl]
		r.start += nl + 1
		r.line++
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) > r.lim.MaxRecordBytes {
			return nil, r.errorf(ErrLimit, "line longer than %d bytes", r.lim.MaxRecordBytes)
		}
		if len(line) == 0 { // empty line: skip
			if r.start >= r.clean {
				return r.read()
			}
			continue
		}
		r.recLn = r.line
		r.raw, r.quoted = line, false
		r.fields = r.fields[:0]
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				r.fields = append(r.fields, line)
				return r.fields, nil
			}
			r.fields = append(r.fields, line[:i])
			line = line[i+1:]
			if len(r.fields) >= r.lim.MaxColumns {
				return nil, r.errorf(ErrLimit, "more than %d columns", r.lim.MaxColumns)
			}
		}
	}
}

// Span returns the raw bytes of fields i..j (inclusive) with their commas,
// when the current record had no quotes (so the bytes are exactly the fields
// joined by ","); otherwise ok is false.
func (r *Reader) Span(i, j int) (span []byte, ok bool) {
	if r.quoted || i < 0 || j >= len(r.fields) || i > j {
		return nil, false
	}
	start := 0
	for k := 0; k < i; k++ {
		start += len(r.fields[k]) + 1
	}
	end := start
	for k := i; k <= j; k++ {
		end += len(r.fields[k]) + 1
	}
	return r.raw[start : end-1], true
}

// Buffered returns the input read ahead but not yet consumed by Read, for a
// caller that takes over the rest of the stream (valid until the next Read).
func (r *Reader) Buffered() []byte { return r.buf[r.start:r.end] }

// LineNumber is the number of lines consumed so far.
func (r *Reader) LineNumber() int { return r.line }

// Columns is the header's field count (0 before the header is read).
func (r *Reader) Columns() int { return r.ncols }

// NewBodyReader returns a Reader for a piece of a table that starts at a
// record boundary after line lines, whose records must have ncols fields
// (the header has been read elsewhere). Errors report absolute line numbers.
func NewBodyReader(in io.Reader, lim Limits, line, ncols int) *Reader {
	r := NewReader(in, lim)
	r.line, r.ncols, r.first = line, ncols, false
	return r
}

// NewBodyReaderBytes is NewBodyReader over a block already in memory, read
// in place without copying. b must not change while the Reader is used.
func NewBodyReaderBytes(b []byte, lim Limits, line, ncols int) *Reader {
	r := &Reader{lim: lim.withDefaults(), buf: b, end: len(b), eof: true, total: int64(len(b))}
	r.line, r.ncols = line, ncols
	return r
}
