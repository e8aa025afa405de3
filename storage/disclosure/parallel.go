package disclosure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sded/sded/storage/table"
)

// Magnitude tables are grouped in parallel: the stream is cut into blocks at
// record boundaries (a newline with an even number of quotes before it, so
// quoted fields spanning lines stay whole), the blocks are dealt round-robin
// to a fixed number of workers, and the workers' cells are merged in worker
// order. A fixed worker count and order keep floating-point sums, and so the
// record, identical from run to run and machine to machine.
const (
	workers   = 2
	blockSize = 1 << 20
)

type block struct {
	idx    int
	line   int // lines before the block
	data   []byte
	quoted bool // data has a quote
	buf    *buffer
}

// buffer is the memory of a block, read once and shared by the hasher and
// a worker; the last of them to finish with it returns it to buffers, for
// the next block or the next check (fresh memory costs page faults).
type buffer struct {
	b    []byte
	refs atomic.Int32
}

var buffers sync.Pool // of *buffer

func (b *buffer) release() {
	if b.refs.Add(-1) == 0 {
		buffers.Put(b)
	}
}

// part is one worker's partial result.
type part struct {
	cells  *cellTable
	ends   []int32 // newline offsets of the block in hand
	value  Column
	rows   int64
	err    error
	errIdx int
}

func (p *part) fail(idx int, err error) {
	if p.err == nil {
		p.err, p.errIdx = err, idx
	}
}

func magnitudeParallel(ctx context.Context, tr *table.Reader, rest *countReader, opt Options, col int, cats []int, cols []Column, lst *lister, rec *FileRecord) error {
	keep := max(opt.Rules.NKN, 2)
	adjacent := contiguous(cats)
	parts := make([]*part, workers)
	chans := make([]chan block, workers)
	var wg sync.WaitGroup
	for w := range workers {
		parts[w] = &part{cells: newCellTable(), value: Column{Name: cols[col].Name, Role: "value"}}
		chans[w] = make(chan block, 2)
		wg.Add(1)
		go func(p *part, ch chan block) {
			defer wg.Done()
			for b := range ch {
				if p.err == nil {
					if err := p.run(b, opt, col, cats, adjacent, keep, tr.Columns(), rec.Categories); err != nil {
						p.fail(b.idx, err)
					}
				}
				b.buf.release()
			}
		}(parts[w], chans[w])
	}
	pidx, perr := produce(ctx, tr, rest, opt.Limits, chans)
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()

	// The error of the earliest block wins, so the message names the first
	// bad line, as a sequential read would.
	errIdx, err := pidx, perr
	for _, p := range parts {
		if p.err != nil && (err == nil || p.errIdx < errIdx) {
			errIdx, err = p.errIdx, p.err
		}
	}
	if err != nil {
		return err
	}
	cells := make(map[string]*mcell, parts[0].cells.len())
	parts[0].cells.each(func(c *mcell) { cells[c.key] = c })
	vc := &cols[col]
	*vc = parts[0].value
	rec.Rows += parts[0].rows
	for _, p := range parts[1:] {
		rec.Rows += p.rows
		vc.merge(&p.value)
		p.cells.each(func(c *mcell) {
			if have, ok := cells[c.key]; ok {
				have.merge(c, keep)
			} else {
				cells[c.key] = c
			}
		})
	}
	if len(cells) > opt.MaxCells {
		return fmt.Errorf("%w: more than %d cells", table.ErrLimit, opt.MaxCells)
	}
	keys := make([]string, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rec.CellsTotal = len(keys)
	for _, k := range keys {
		c := cells[k]
		parts := splitKey(k, len(cats))
		for i, ci := range cats {
			cols[ci].addCategory([]byte(parts[i]))
		}
		res := opt.Rules.magnitudeResults(c)
		total := c.sum
		lst.add(Cell{Key: parts, N: c.n, Total: &total, Results: res, Status: res.status()}, nil)
	}
	return nil
}

// produce cuts the rest of the stream into blocks ending at record
// boundaries and deals them round-robin; each block's new bytes go to the
// hasher too, without a copy. It returns a read or limit error and the
// index of the block it concerns.
func produce(ctx context.Context, tr *table.Reader, rest *countReader, lim table.Limits, chans []chan block) (int, error) {
	maxRec, maxBytes := lim.MaxRecordBytes, lim.MaxBytes
	if maxRec <= 0 {
		maxRec = 1 << 20
	}
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	total := tr.Bytes()
	carry := append([]byte(nil), tr.Buffered()...)
	line := tr.LineNumber()
	eof := false
	read := func(p []byte) (int, error) {
		n, err := io.ReadFull(rest.r, p)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			eof, err = true, nil
		}
		return n, err
	}
	for idx := 0; ; idx++ {
		if err := ctx.Err(); err != nil {
			return idx, err
		}
		buf, _ := buffers.Get().(*buffer)
		if buf == nil || cap(buf.b) < blockSize+maxRec {
			buf = &buffer{b: make([]byte, 0, blockSize+maxRec)}
		}
		b := append(buf.b[:0], carry...)
		carried := len(carry) // bytes already counted and hashed
		// Read until the block holds a record boundary (or the input ends).
		cut, quoted := -1, true
		var err error
		for {
			if !eof && len(b) < blockSize {
				var n int
				n, err = read(b[len(b):blockSize])
				b = b[:len(b)+n]
				if err != nil {
					break
				}
			}
			if eof {
				cut = len(b)
				break
			}
			if cut, quoted = boundaryQuoted(b); cut > 0 {
				break
			}
			// No boundary in a whole block: one record is this long.
			if len(b) > maxRec+blockSize/2 {
				err = fmt.Errorf("%w: line %d: record longer than %d bytes", table.ErrLimit, line+1, maxRec)
				break
			}
			grow := make([]byte, len(b), 2*cap(b))
			copy(grow, b)
			var n int
			n, err = read(grow[len(b):cap(grow)])
			b = grow[:len(b)+n]
			if err != nil {
				break
			}
		}
		buf.b = b
		rest.n += int64(len(b) - carried)
		total += int64(len(b) - carried)
		if err == nil && total > maxBytes {
			err = fmt.Errorf("%w: input larger than %d bytes", table.ErrLimit, maxBytes)
		}
		data := b[:max(cut, 0)]
		send := err == nil && len(data) > 0
		buf.refs.Store(1)
		if send {
			buf.refs.Store(2)
			carry = append(carry[:0], b[cut:]...)
		}
		rest.h.writeShared(b[carried:], buf)
		if err != nil {
			return idx, err
		}
		if send {
			if quoted {
				quoted = bytes.IndexByte(data, '"') >= 0
			}
			chans[idx%len(chans)] <- block{idx: idx, line: line, data: data, quoted: quoted, buf: buf}
			line += bytes.Count(data, []byte{'\n'})
		} else {
			carry = carry[:0]
		}
		if eof && len(carry) == 0 {
			return idx, nil
		}
	}
}

// boundary returns the end (after the '\n') of the last complete record in
// b: the last newline with an even number of quotes before it, or -1.
func boundary(b []byte) int {
	cut, _ := boundaryQuoted(b)
	return cut
}

// boundaryQuoted is boundary, also reporting whether b has a quote.
func boundaryQuoted(b []byte) (int, bool) {
	q := bytes.Count(b, []byte{'"'})
	if q == 0 {
		return bytes.LastIndexByte(b, '\n') + 1, false // 0 when there is none
	}
	end := len(b)
	for {
		nl := bytes.LastIndexByte(b[:end], '\n')
		if nl < 0 {
			return -1, true
		}
		q -= bytes.Count(b[nl:end], []byte{'"'})
		if q%2 == 0 {
			return nl + 1, true
		}
		end = nl
	}
}

// run groups one block's rows into the part's cells.
func (p *part) run(b block, opt Options, col int, cats []int, adjacent bool, keep, ncols int, names []string) error {
	if done, err := p.runFast(b, opt, col, ncols, keep, names); done {
		return err
	}
	tr := table.NewBodyReaderBytes(b.data, opt.Limits, b.line, ncols)
	var key []byte
	for {
		f, err := tr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p.rows++
		k, ok := []byte(nil), false
		if adjacent {
			k, ok = tr.Span(cats[0], cats[len(cats)-1])
		}
		if !ok {
			key = appendKey(key[:0], f, cats)
			k = key
		}
		if ok && len(k) > 0 && k[0] == 0x1f { // a plain key never starts so
			return fmt.Errorf("line %d: %w", tr.Line(), table.CheckControl(k[:1]))
		}
		c := p.cells.find(k)
		if c == nil {
			if p.cells.len() >= opt.MaxCells {
				return fmt.Errorf("%w: more than %d cells", table.ErrLimit, opt.MaxCells)
			}
			for i, ci := range cats { // checked once per cell, not per row
				if err := table.CheckControl(f[ci]); err != nil {
					return fmt.Errorf("line %d: column %q: %w", tr.Line(), names[i], err)
				}
			}
			c = &mcell{key: string(k), top: make([]float64, 0, keep)}
			p.cells.insert(c)
		}
		v := parseValue(f[col])
		c.add(v, keep)
		p.value.addNumber(v)
	}
}

// merge adds another part's cell (same key) into c.
func (c *mcell) merge(o *mcell, keep int) {
	if c.n > 0 && o.n > 0 && c.first != o.first || o.differ {
		c.differ = true
	}
	if c.n == 0 {
		c.first = o.first
	}
	c.n += o.n
	c.sum += o.sum
	c.missing += o.missing
	c.negative += o.negative
	c.nonNumeric += o.nonNumeric
	top := append(append([]float64(nil), c.top...), o.top...)
	slices.SortFunc(top, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	c.top = top[:min(len(top), keep)]
}

// merge adds another part's summary of the same column.
func (c *Column) merge(o *Column) {
	if o.Count > 0 {
		if c.Count == 0 || o.min < c.min {
			c.min = o.min
		}
		if c.Count == 0 || o.max > c.max {
			c.max = o.max
		}
	}
	c.Count += o.Count
	c.Missing += o.Missing
	c.NonNumeric += o.NonNumeric
	c.sum += o.sum
	c.gcd = gcd(c.gcd, o.gcd)
	c.nonInt = c.nonInt || o.nonInt
}
