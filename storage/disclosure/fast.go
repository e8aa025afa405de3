package disclosure

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"

	"github.com/sded/sded/storage/table"
)

const (
	lo7    = 0x7f7f7f7f7f7f7f7f
	commas = ',' * 0x0101010101010101
	nls    = '\n' * 0x0101010101010101
)

// zeroBytes has the high bit set exactly in the zero bytes of x.
func zeroBytes(x uint64) uint64 { return ^(((x & lo7) + lo7) | x | lo7) }

// runFast groups a block in one pass when it can: no quotes in the block,
// valid UTF-8, and the value column first or last (so the key is the rest of
// the line, used without copying). Delimiters are found eight bytes at a
// time. It reports false, having done nothing, when the block needs the
// general reader.
func (p *part) runFast(b block, opt Options, col, ncols, keep int, names []string) (bool, error) {
	if ncols < 2 || (col != ncols-1 && col != 0) || bytes.IndexByte(b.data, '"') >= 0 || !utf8.Valid(b.data) {
		return false, nil
	}
	maxRec := opt.Limits.MaxRecordBytes
	if maxRec <= 0 {
		maxRec = 1 << 20
	}
	data := b.data
	line := b.line
	var lastCell *mcell // sorted exports repeat a key on consecutive lines
	start, ncommas, first, last := 0, 0, -1, -1
	// endLine handles the line data[start:end].
	endLine := func(end int) error {
		line++
		ln := data[start:end]
		lineStart := start
		start = end + 1
		nc, f, l := ncommas, first, last
		ncommas, first, last = 0, -1, -1
		if len(ln) > 0 && ln[len(ln)-1] == '\r' {
			ln = ln[:len(ln)-1]
		}
		if len(ln) == 0 {
			return nil
		}
		if len(ln) > maxRec {
			return fmt.Errorf("%w: line %d: line longer than %d bytes", table.ErrLimit, line, maxRec)
		}
		if nc != ncols-1 {
			return fmt.Errorf("%w: line %d: %d fields, header has %d", table.ErrMalformed, line, nc+1, ncols)
		}
		var key, val []byte
		if col == 0 {
			val, key = ln[:f-lineStart], ln[f-lineStart+1:]
		} else {
			key, val = ln[:l-lineStart], ln[l-lineStart+1:]
		}
		p.rows++
		if len(key) > 0 && key[0] == 0x1f { // reserved for escaped keys
			return fmt.Errorf("line %d: %w", line, table.CheckControl(key[:1]))
		}
		cell, ok := lastCell, lastCell != nil && lastCell.key == string(key)
		if !ok {
			cell, ok = p.cells[string(key)]
		}
		if !ok {
			if len(p.cells) >= opt.MaxCells {
				return fmt.Errorf("%w: more than %d cells", table.ErrLimit, opt.MaxCells)
			}
			if err := table.CheckControl(key); err != nil {
				return fmt.Errorf("line %d: categories %q: %w", line, names, err)
			}
			cell = &mcell{key: string(key), top: make([]float64, 0, keep)}
			p.cells[cell.key] = cell
		}
		lastCell = cell
		v := parseValue(val)
		cell.add(v, keep)
		p.value.addNumber(v)
		return nil
	}
	delim := func(pos int) error {
		if data[pos] == ',' {
			if ncommas == 0 {
				first = pos
			}
			last = pos
			ncommas++
			return nil
		}
		return endLine(pos)
	}
	i := 0
	for ; i+8 <= len(data); i += 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		m := zeroBytes(x^commas) | zeroBytes(x^nls)
		for m != 0 {
			if err := delim(i + bits.TrailingZeros64(m)>>3); err != nil {
				return true, err
			}
			m &= m - 1
		}
	}
	for ; i < len(data); i++ {
		if c := data[i]; c == ',' || c == '\n' {
			if err := delim(i); err != nil {
				return true, err
			}
		}
	}
	if start < len(data) { // a last line without a newline
		if err := endLine(len(data)); err != nil {
			return true, err
		}
	}
	return true, nil
}
