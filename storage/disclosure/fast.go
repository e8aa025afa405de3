package disclosure

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf8"

	"github.com/sded/sded/storage/table"
)

const (
	lo7    = 0x7f7f7f7f7f7f7f7f
	hi1    = 0x8080808080808080
	commas = ',' * 0x0101010101010101
	nls    = '\n' * 0x0101010101010101
)

// movemask gathers the high bits of the bytes of m (which has no other
// bits set) into the low byte: bit i for byte i.
func movemask(m uint64) uint64 { return m * 0x02040810204081 >> 56 }

// zeroBytes has the high bit set exactly in the zero bytes of x.
func zeroBytes(x uint64) uint64 { return ^(((x & lo7) + lo7) | x | lo7) }

// fastScan groups the lines of an unquoted block whose value column is
// first or last, so a line is its value and its key (the rest of the line,
// used without copying) split at the first or last comma.
//
// Fields are not counted on every line: a line whose key is already a cell
// has exactly the fields of the line that made the cell, which was checked
// (field count, control characters) when the cell was made.
type fastScan struct {
	p          *part
	data       []byte
	line       int
	valueFirst bool
	ncols      int
	keep       int
	maxRec     int
	maxCells   int
	names      []string // category column names, for errors
}

// runFast groups the lines of a block that has no quotes and is valid
// UTF-8 (else it reports false, having done nothing): first the newlines,
// 64 bytes at a time, then the lines.
func (p *part) runFast(b block, opt Options, col, ncols, keep int, names []string) (bool, error) {
	if ncols < 2 || (col != ncols-1 && col != 0) || b.quoted {
		return false, nil
	}
	data := b.data
	ends, ascii := newlines(p.ends[:0], data)
	p.ends = ends
	if !ascii && !utf8.Valid(data) {
		return false, nil
	}
	s := fastScan{p: p, data: data, line: b.line, valueFirst: col == 0, ncols: ncols, keep: keep,
		maxRec: opt.Limits.MaxRecordBytes, maxCells: opt.MaxCells, names: names}
	if s.maxRec <= 0 {
		s.maxRec = 1 << 20
	}
	start := 0
	valueLast, maxRec := !s.valueFirst, s.maxRec
	seed, vc := p.cells.seed, &p.value
	for _, e := range ends {
		nl := int(e)
		ls := start
		start = nl + 1
		if valueLast && nl >= 16 && nl-ls <= maxRec {
			// The common case, handle written out with parse8,
			// cellTable.find, mcell.add and Column.addNumber (calls
			// would spill every live register): a known key of 8 to 32
			// bytes, a plain value of at most 8 bytes, a cell whose
			// largest values and a column whose rounding need no more
			// than a comparison. Anything else goes to handle, before
			// anything has changed.
			// The last comma, in the sixteen bytes before the newline.
			cm := movemask(zeroBytes(binary.LittleEndian.Uint64(data[nl-16:])^commas)) |
				movemask(zeroBytes(binary.LittleEndian.Uint64(data[nl-8:])^commas))<<8
			c := nl - 17 + bits.Len64(cm)
			kn, vn := c-ls, nl-c-1
			if cm == 0 || kn < 8 || kn > 32 || vn < 1 || vn > 8 || data[ls] == 0x1f {
				goto slow
			}
			// The cell (cellTable.find).
			k := data[ls:c]
			w0, w1, w2, w3 := keyWords(k)
			h := hashWords(w0, w1, w2, w3, kn, seed)
			slots := p.cells.slots // (grows as handle adds cells)
			mask := uint64(len(slots) - 1)
			var cell *mcell
			for j := h & mask; ; j = (j + 1) & mask {
				sl := &slots[j]
				if sl.c == nil {
					goto slow
				}
				if x := sl.c; sl.h == h && x.w0 == w0 && x.w1 == w1 && x.w2 == w2 && x.w3 == w3 && len(x.key) == kn {
					cell = x
					break
				}
			}
			// The value (parse8).
			w := binary.LittleEndian.Uint64(data[nl-8:])
			n := vn
			first := byte(w >> (8 * (8 - n) & 63))
			neg := first == '-'
			if neg || first == '+' {
				if n--; n == 0 {
					goto slow
				}
			}
			pad := uint64(1)<<(8*(8-n)&63) - 1
			w = w&^pad | zeros8&pad
			frac, integer := 0, true
			if dots := zeroBytes(w ^ dots8); dots != 0 {
				d := bits.TrailingZeros64(dots) >> 3
				if d == 8-n || d == 7 {
					goto slow
				}
				below := uint64(1)<<(8*d&63) - 1
				w = w&^(below|0xff<<(8*d&63)) | (w&below)<<8 | '0'
				frac = 7 - d
				integer = (w^zeros8)&(^uint64(0)<<(8*(d+1)&63)) == 0
			}
			if w&0xf0f0f0f0f0f0f0f0|(w+0x0606060606060606)&0xf0f0f0f0f0f0f0f0>>4 != 0x3333333333333333 {
				goto slow
			}
			w = (w & 0x0f0f0f0f0f0f0f0f) * 2561 >> 8
			w = (w & 0x00ff00ff00ff00ff) * 6553601 >> 16
			f := float64((w & 0x0000ffff0000ffff) * 42949672960001 >> 32)
			if frac > 0 {
				f /= pow10[frac]
			}
			if neg {
				f = -f
			}
			// The cell's and the value column's sums (mcell.add, Column.addNumber)
			// when neither the cell's largest values nor the column's rounding
			// need more than a comparison.
			if cell.n == 0 || len(cell.top) != keep || f > cell.top[len(cell.top)-1] || vc.Count == 0 {
				goto slow
			}
			s.line++
			p.rows++
			if f < 0 {
				cell.negative++
			}
			if f != cell.first {
				cell.differ = true
			}
			cell.n++
			cell.sum += f
			if f < vc.min {
				vc.min = f
			}
			if f > vc.max {
				vc.max = f
			}
			vc.Count++
			vc.sum += f
			if !vc.nonInt && vc.gcd != 1 {
				if !integer || math.Abs(f) > 1<<53 {
					vc.nonInt = true
				} else if iv := int64(math.Abs(f)); iv != 0 {
					vc.gcd = gcd(vc.gcd, iv)
				}
			}
			continue
		}
	slow:
		if err := s.handle(ls, nl); err != nil {
			return true, err
		}
	}
	if start < len(data) { // a last line without a newline
		if err := s.handle(start, len(data)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// newlines appends the offsets of the newlines in data to ends, and
// reports whether data is all ASCII.
func newlines(ends []int32, data []byte) ([]int32, bool) {
	var high uint64
	i := 0
	for ; i+64 <= len(data); i += 64 {
		w := (*[64]byte)(data[i:])
		x0, x1 := binary.LittleEndian.Uint64(w[0:]), binary.LittleEndian.Uint64(w[8:])
		x2, x3 := binary.LittleEndian.Uint64(w[16:]), binary.LittleEndian.Uint64(w[24:])
		x4, x5 := binary.LittleEndian.Uint64(w[32:]), binary.LittleEndian.Uint64(w[40:])
		x6, x7 := binary.LittleEndian.Uint64(w[48:]), binary.LittleEndian.Uint64(w[56:])
		m := movemask(zeroBytes(x0^nls)) | movemask(zeroBytes(x1^nls))<<8 |
			movemask(zeroBytes(x2^nls))<<16 | movemask(zeroBytes(x3^nls))<<24 |
			movemask(zeroBytes(x4^nls))<<32 | movemask(zeroBytes(x5^nls))<<40 |
			movemask(zeroBytes(x6^nls))<<48 | movemask(zeroBytes(x7^nls))<<56
		high |= x0 | x1 | x2 | x3 | x4 | x5 | x6 | x7
		for ; m != 0; m &= m - 1 {
			ends = append(ends, int32(i+bits.TrailingZeros64(m)))
		}
	}
	for ; i < len(data); i++ {
		high |= uint64(data[i])
		if data[i] == '\n' {
			ends = append(ends, int32(i))
		}
	}
	return ends, high&hi1 == 0
}

// handle groups the line data[start:end] (end is its '\n' or the end of
// the block).
func (s *fastScan) handle(start, end int) error {
	s.line++
	data := s.data
	if end > start && data[end-1] == '\r' {
		end--
	}
	n := end - start
	if n == 0 {
		return nil
	}
	if n > s.maxRec {
		return fmt.Errorf("%w: line %d: line longer than %d bytes", table.ErrLimit, s.line, s.maxRec)
	}
	// The comma between the value and the key: the value is short, so it
	// is usually within the sixteen bytes at that end of the line.
	c := -1
	if s.valueFirst {
		if start+16 <= len(data) {
			m := movemask(zeroBytes(binary.LittleEndian.Uint64(data[start:])^commas)) |
				movemask(zeroBytes(binary.LittleEndian.Uint64(data[start+8:])^commas))<<8
			if c = start + bits.TrailingZeros64(m); m == 0 || c >= end {
				c = -1
			}
		}
		if c < 0 {
			if c = bytes.IndexByte(data[start:end], ','); c >= 0 {
				c += start
			}
		}
	} else {
		if end >= 16 {
			m := movemask(zeroBytes(binary.LittleEndian.Uint64(data[end-16:])^commas)) |
				movemask(zeroBytes(binary.LittleEndian.Uint64(data[end-8:])^commas))<<8
			if c = end - 17 + bits.Len64(m); m == 0 || c < start {
				c = -1
			}
		}
		if c < 0 {
			if c = bytes.LastIndexByte(data[start:end], ','); c >= 0 {
				c += start
			}
		}
	}
	if c < 0 {
		return s.fields(start, end)
	}
	var key, val []byte
	if s.valueFirst {
		val, key = data[start:c], data[c+1:end]
	} else {
		key, val = data[start:c], data[c+1:end]
	}
	if len(key) > 0 && key[0] == 0x1f { // reserved for escaped keys
		if err := s.fields(start, end); err != nil {
			return err
		}
		return fmt.Errorf("line %d: %w", s.line, table.CheckControl(key[:1]))
	}
	p := s.p
	cell := p.cells.find(key)
	if cell == nil {
		var err error
		if cell, err = s.newCell(start, end, key); err != nil {
			return err
		}
	}
	p.rows++
	var v value
	if s.valueFirst {
		v = parseValueBefore(data, c-len(val), c)
	} else {
		v = parseValueAt(data, c+1, end)
	}
	cell.add(v, s.keep)
	p.value.addNumber(v)
	return nil
}

// fields checks the line's field count.
func (s *fastScan) fields(start, end int) error {
	if nc := bytes.Count(s.data[start:end], []byte{','}); nc != s.ncols-1 {
		return fmt.Errorf("%w: line %d: %d fields, header has %d", table.ErrMalformed, s.line, nc+1, s.ncols)
	}
	return nil
}

// newCell checks the first line of a new cell and makes the cell.
func (s *fastScan) newCell(start, end int, key []byte) (*mcell, error) {
	if err := s.fields(start, end); err != nil {
		return nil, err
	}
	p := s.p
	if p.cells.len() >= s.maxCells {
		return nil, fmt.Errorf("%w: more than %d cells", table.ErrLimit, s.maxCells)
	}
	if table.CheckControl(key) != nil {
		for i, v := range bytes.Split(key, []byte{','}) {
			if err := table.CheckControl(v); err != nil {
				return nil, fmt.Errorf("line %d: column %q: %w", s.line, s.names[i], err)
			}
		}
	}
	c := &mcell{key: string(key), top: make([]float64, 0, s.keep)}
	p.cells.insert(c)
	return c, nil
}
