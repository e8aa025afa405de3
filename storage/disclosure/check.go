package disclosure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sded/sded/storage/table"
)

// Kind of table.
type Kind string

// Table kinds.
const (
	Frequency Kind = "frequency"
	Magnitude Kind = "magnitude"
	// Other is a file that is not a CSV table: always human review.
	Other Kind = "other"
)

// ErrTable means a CSV could not be checked (kind unknown, too many cells).
var ErrTable = errors.New("table cannot be checked")

// Options configure a check.
type Options struct {
	Rules  Rules
	Limits table.Limits
	// Kind of the table; empty = detect from the header.
	Kind Kind
	// Column holds the counts (frequency) or contributor values (magnitude);
	// empty = the conventional names (see the package doc).
	Column string
	// MaxCells bounds the cells of one table; default 1,000,000.
	MaxCells int
	// MaxListedCells bounds the cells listed in the record; default 1,000
	// (see also Record.Fit).
	MaxListedCells int
}

func (o Options) withDefaults() Options {
	if o.Rules == (Rules{}) {
		o.Rules = DefaultRules()
	}
	if o.MaxCells <= 0 {
		o.MaxCells = 1_000_000
	}
	if o.MaxListedCells <= 0 {
		o.MaxListedCells = 1_000
	}
	return o
}

// Cell is one table cell's results.
type Cell struct {
	Key     []string `json:"key"`            // category values
	Line    int      `json:"line,omitempty"` // frequency: line in the file
	N       int64    `json:"n"`              // count, or contributors with a value
	Total   *float64 `json:"total,omitempty"`
	Results Results  `json:"results"`
	Status  string   `json:"status"`
	Note    string   `json:"note,omitempty"`
}

// FileRecord is the disclosure record of one file.
type FileRecord struct {
	Name       string         `json:"name"`
	SHA256     string         `json:"sha256"`
	Size       int64          `json:"size"`
	Kind       Kind           `json:"kind"`
	Status     string         `json:"status"`
	Summary    string         `json:"summary"`
	Error      string         `json:"error,omitempty"`
	Categories []string       `json:"categories,omitempty"`
	Column     string         `json:"column,omitempty"`
	Rows       int64          `json:"rows"`
	CellsTotal int            `json:"cells_total"`
	RuleCounts map[string]int `json:"rule_counts,omitempty"` // cells failing/review per rule
	Cells      []Cell         `json:"cells,omitempty"`
	Truncated  bool           `json:"truncated,omitempty"`
	Columns    []Column       `json:"columns,omitempty"`
}

// IsTable reports whether a file name is checked as a CSV table.
func IsTable(name string) bool { return strings.EqualFold(filepath.Ext(name), ".csv") }

// CheckFile checks one file. CSV tables are parsed and judged; other files
// are hashed and marked for human review. A malformed CSV returns an error
// (and a record with status "error" saying why).
func CheckFile(ctx context.Context, name string, r io.Reader, opt Options) (FileRecord, error) {
	opt = opt.withDefaults()
	if err := opt.Rules.Validate(); err != nil {
		return FileRecord{}, err
	}
	h := newAsyncHash()
	cr := &countReader{r: ctxReader{ctx, r}, h: h}
	rec := FileRecord{Name: name}
	var err error
	if IsTable(name) {
		err = checkTable(ctx, cr, opt, &rec)
	} else {
		rec.Kind, rec.Status, rec.Summary = Other, Review, "not a CSV table: human review required"
		_, err = io.Copy(io.Discard, cr)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, cr) // hash any trailing bytes
	}
	rec.Size = cr.n
	rec.SHA256 = hex.EncodeToString(h.Sum())
	if err != nil {
		rec.Status, rec.Error, rec.Summary = Error, err.Error(), "could not be checked: "+err.Error()
		rec.Cells, rec.Columns = nil, nil
		return rec, fmt.Errorf("checking %q: %w", name, err)
	}
	return rec, nil
}

var (
	countNames = []string{"count", "n", "freq", "frequency"}
	valueNames = []string{"value"}
)

func findColumn(header []string, names []string) int {
	for i, h := range header {
		for _, n := range names {
			if strings.EqualFold(strings.TrimSpace(h), n) {
				return i
			}
		}
	}
	return -1
}

func checkTable(ctx context.Context, r *countReader, opt Options, rec *FileRecord) error {
	tr := table.NewReader(r, opt.Limits)
	hdr, err := tr.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: empty file (a header row is required)", ErrTable)
	}
	if err != nil {
		return err
	}
	header := make([]string, len(hdr))
	for i, h := range hdr {
		header[i] = string(h)
	}
	kind, col, err := detect(header, opt)
	if err != nil {
		return err
	}
	rec.Kind, rec.Column = kind, header[col]
	cats := make([]int, 0, len(header)-1)
	for i := range header {
		if i != col {
			cats = append(cats, i)
			rec.Categories = append(rec.Categories, header[i])
		}
	}
	cols := make([]Column, len(header))
	for i, h := range header {
		cols[i] = Column{Name: h, Role: "category", seen: map[string]struct{}{}}
	}
	cols[col] = Column{Name: header[col], Role: string(kind)}
	if kind == Frequency {
		cols[col].Role = "count"
	} else {
		cols[col].Role = "value"
	}
	lst := &lister{max: opt.MaxListedCells, counts: map[string]int{}}
	if kind == Frequency {
		err = frequency(tr, opt, col, cats, cols, lst, rec)
	} else {
		err = magnitudeParallel(ctx, tr, r, opt, col, cats, cols, lst, rec)
	}
	if err != nil {
		return err
	}
	for i := range cols {
		cols[i].finish()
	}
	rec.Columns = cols
	rec.Cells, rec.Truncated, rec.RuleCounts = lst.cells, lst.truncated, lst.counts
	rec.Status, rec.Summary = lst.summary()
	return nil
}

func detect(header []string, opt Options) (Kind, int, error) {
	if opt.Column != "" {
		i := slices.Index(header, opt.Column)
		if i < 0 {
			return "", 0, fmt.Errorf("%w: no column %q in the header %q", ErrTable, opt.Column, header)
		}
		k := opt.Kind
		if k == "" {
			k = Frequency
		}
		return k, i, nil
	}
	ci, vi := findColumn(header, countNames), findColumn(header, valueNames)
	switch {
	case opt.Kind == Frequency && ci >= 0, opt.Kind == "" && ci >= 0 && vi < 0:
		return Frequency, ci, nil
	case opt.Kind == Magnitude && vi >= 0, opt.Kind == "" && vi >= 0 && ci < 0:
		return Magnitude, vi, nil
	case opt.Kind == "" && ci >= 0 && vi >= 0:
		return "", 0, fmt.Errorf("%w: header has both a count and a value column; say which kind of table it is", ErrTable)
	}
	return "", 0, fmt.Errorf("%w: cannot tell the table kind from the header %q: name the count column \"count\" (frequency table) or the contributor column \"value\" (magnitude table), or name the column in the request", ErrTable, header)
}

func frequency(tr *table.Reader, opt Options, col int, cats []int, cols []Column, lst *lister, rec *FileRecord) error {
	for {
		f, err := tr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rec.Rows++
		rec.CellsTotal++
		if rec.CellsTotal > opt.MaxCells {
			return fmt.Errorf("%w: more than %d cells", table.ErrLimit, opt.MaxCells)
		}
		v := parseValue(f[col])
		cols[col].addNumber(v)
		for i, c := range cats {
			if err := table.CheckControl(f[c]); err != nil {
				return fmt.Errorf("line %d: column %q: %w", tr.Line(), rec.Categories[i], err)
			}
			cols[c].addCategory(f[c])
		}
		res := opt.Rules.frequencyResults(v)
		cell := Cell{Line: tr.Line(), N: int64(v.f), Results: res, Status: res.status()}
		if !v.missing && !v.nonNumeric && !v.integer {
			cell.Note = "count is not a whole number"
		}
		lst.add(cell, func() []string { return keyOf(f, cats) })
	}
}

func keyOf(f [][]byte, cats []int) []string {
	k := make([]string, len(cats))
	for i, c := range cats {
		k[i] = string(f[c])
	}
	return k
}

// Cell keys: the category values joined by ",", exactly the raw bytes of an
// unquoted line's category columns when they are adjacent (no copy). A value
// that itself contains a comma switches the key to an escaped form: 0x1f,
// then each value's length and bytes, which cannot collide with the plain
// form (the reader refuses control characters in values).
func appendKey(key []byte, f [][]byte, cats []int) []byte {
	plain := true
	for _, c := range cats {
		if bytes.IndexByte(f[c], ',') >= 0 {
			plain = false
			break
		}
	}
	if plain {
		for i, c := range cats {
			if i > 0 {
				key = append(key, ',')
			}
			key = append(key, f[c]...)
		}
		return key
	}
	key = append(key, 0x1f)
	for _, c := range cats {
		key = binary.AppendUvarint(key, uint64(len(f[c])))
		key = append(key, f[c]...)
	}
	return key
}

func splitKey(k string, n int) []string {
	if !strings.HasPrefix(k, "\x1f") {
		return strings.SplitN(k, ",", n)
	}
	b := []byte(k[1:])
	out := make([]string, 0, n)
	for len(b) > 0 {
		l, m := binary.Uvarint(b)
		b = b[m:]
		out = append(out, string(b[:l]))
		b = b[l:]
	}
	return out
}

func contiguous(cats []int) bool {
	for i := 1; i < len(cats); i++ {
		if cats[i] != cats[0]+i {
			return false
		}
	}
	return len(cats) > 0
}

// lister keeps every cell up to max, then only cells that did not pass.
type lister struct {
	max       int
	cells     []Cell
	truncated bool
	counts    map[string]int
	statuses  [3]int // pass, fail, review
}

func (l *lister) add(c Cell, key func() []string) {
	names := []string{"threshold", "zeros", "nk-rule", "p-ratio", "all-values-same", "negative", "missing"}
	for i, r := range c.Results.all() {
		if r == Fail || r == Review {
			l.counts[names[i]]++
		}
	}
	switch c.Status {
	case Pass:
		l.statuses[0]++
	case Fail:
		l.statuses[1]++
	default:
		l.statuses[2]++
	}
	if len(l.cells) >= l.max {
		if !l.truncated {
			l.truncated = true
			l.cells = slices.DeleteFunc(l.cells, func(c Cell) bool { return c.Status == Pass })
		}
		if c.Status == Pass || len(l.cells) >= l.max {
			return
		}
	} else if l.truncated && c.Status == Pass {
		return
	}
	if key != nil {
		c.Key = key()
	}
	l.cells = append(l.cells, c)
}

func (l *lister) summary() (string, string) {
	pass, fail, review := l.statuses[0], l.statuses[1], l.statuses[2]
	names := make([]string, 0, len(l.counts))
	for n := range l.counts {
		names = append(names, n)
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s: %d cells", n, l.counts[n]))
	}
	detail := fmt.Sprintf("%d cells pass, %d fail, %d need review", pass, fail, review)
	if len(parts) > 0 {
		detail += " (" + strings.Join(parts, "; ") + ")"
	}
	switch {
	case review > 0:
		return Review, "review; " + detail
	case fail > 0:
		return Fail, "fail; " + detail
	}
	return Pass, "pass; " + detail
}

// asyncHash computes SHA-256 on another goroutine (another core), so hashing
// overlaps with parsing. Write copies p, so callers may reuse it at once;
// writeShared hands over a block's buffer without a copy.
type asyncHash struct {
	ch   chan hashMsg
	free chan []byte
	done chan []byte
}

type hashMsg struct {
	b   []byte
	buf *buffer // released once hashed; nil: b is the hasher's own copy
}

func newAsyncHash() *asyncHash {
	a := &asyncHash{ch: make(chan hashMsg, 8), free: make(chan []byte, 12), done: make(chan []byte)}
	go func() {
		h := sha256.New()
		for m := range a.ch {
			h.Write(m.b)
			if m.buf != nil {
				m.buf.release()
				continue
			}
			select {
			case a.free <- m.b[:0]:
			default:
			}
		}
		a.done <- h.Sum(nil)
	}()
	return a
}

func (a *asyncHash) Write(p []byte) (int, error) {
	var b []byte
	select {
	case b = <-a.free:
	default:
	}
	b = append(b[:0], p...)
	a.ch <- hashMsg{b: b}
	return len(p), nil
}

// writeShared hashes b, part of buf, and then releases buf.
func (a *asyncHash) writeShared(b []byte, buf *buffer) { a.ch <- hashMsg{b: b, buf: buf} }

// Sum ends the hash; the hash must not be written to afterwards.
func (a *asyncHash) Sum() []byte {
	close(a.ch)
	return <-a.done
}

// countReader counts and hashes what is read through it; the parallel
// reader reads r itself and does both.
type countReader struct {
	r io.Reader
	h *asyncHash
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	return n, err
}

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
