package disclosure

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/sded/sded/storage/table"
)

// runFast groups a block in one pass over its bytes when it can: no quotes
// in the block, valid UTF-8, and the value column first or last (so the key
// is the rest of the line, without copying). It reports false, having done
// nothing, when the block needs the general reader.
func (p *part) runFast(b block, opt Options, col, ncols, keep int, names []string) (bool, error) {
	if ncols < 2 || (col != ncols-1 && col != 0) || bytes.IndexByte(b.data, '"') >= 0 || !utf8.Valid(b.data) {
		return false, nil
	}
	lim := opt.Limits
	if lim.MaxRecordBytes <= 0 {
		lim.MaxRecordBytes = 1 << 20
	}
	data := b.data
	line := b.line
	start, commas, first, last := 0, 0, -1, -1
	var rows int64
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == ',' {
			if commas == 0 {
				first = i
			}
			last = i
			commas++
			continue
		}
		if c != '\n' && i != len(data)-1 {
			continue
		}
		end := i
		if c != '\n' { // last line without a newline
			end = i + 1
		}
		line++
		ln := data[start:end]
		lineStart := start
		start = i + 1
		if len(ln) > 0 && ln[len(ln)-1] == '\r' {
			ln = ln[:len(ln)-1]
		}
		if len(ln) == 0 {
			commas, first, last = 0, -1, -1
			continue
		}
		if len(ln) > lim.MaxRecordBytes {
			return true, fmt.Errorf("%w: line %d: line longer than %d bytes", table.ErrLimit, line, lim.MaxRecordBytes)
		}
		if commas != ncols-1 {
			return true, fmt.Errorf("%w: line %d: %d fields, header has %d", table.ErrMalformed, line, commas+1, ncols)
		}
		var key, val []byte
		if col == 0 {
			val, key = ln[:first-lineStart], ln[first-lineStart+1:]
		} else {
			key, val = ln[:last-lineStart], ln[last-lineStart+1:]
		}
		commas, first, last = 0, -1, -1
		rows++
		if len(key) > 0 && key[0] == 0x1f { // reserved for escaped keys
			return true, fmt.Errorf("line %d: %w", line, table.CheckControl(key[:1]))
		}
		cell, ok := p.cells[string(key)]
		if !ok {
			if len(p.cells) >= opt.MaxCells {
				return true, fmt.Errorf("%w: more than %d cells", table.ErrLimit, opt.MaxCells)
			}
			if err := table.CheckControl(key); err != nil {
				return true, fmt.Errorf("line %d: categories %q: %w", line, names, err)
			}
			cell = &mcell{key: string(key), top: make([]float64, 0, keep)}
			p.cells[cell.key] = cell
		}
		v := parseValue(val)
		cell.add(v, keep)
		p.value.addNumber(v)
	}
	p.rows += rows
	return true, nil
}
