package disclosure

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/sded/sded/storage/table"
)

// magnitude is the plain sequential grouping, the reference the parallel
// one is tested against.
func magnitude(tr *table.Reader, opt Options, col int, cats []int, cols []Column, lst *lister, rec *FileRecord) error {
	cells := map[string]*mcell{}
	keep := max(opt.Rules.NKN, 2)
	adjacent := contiguous(cats)
	var key []byte
	vc := &cols[col]
	for {
		f, err := tr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rec.Rows++
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
		c, ok := cells[string(k)]
		if !ok {
			if len(cells) >= opt.MaxCells {
				return fmt.Errorf("%w: more than %d cells", table.ErrLimit, opt.MaxCells)
			}
			for _, ci := range cats { // checked once per cell, not per row
				if err := table.CheckControl(f[ci]); err != nil {
					return fmt.Errorf("line %d: column %q: %w", tr.Line(), rec.Categories[slices.Index(cats, ci)], err)
				}
			}
			c = &mcell{key: string(k), top: make([]float64, 0, keep)}
			cells[c.key] = c
		}
		v := parseValue(f[col])
		c.add(v, keep)
		vc.addNumber(v)
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
		cell := Cell{Key: parts, N: c.n, Total: &total, Results: res, Status: res.status()}
		lst.add(cell, nil)
	}
	return nil
}
