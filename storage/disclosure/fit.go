package disclosure

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Fit returns the record as compact JSON of at most max bytes (the
// replicated state bounds a request's record). When the full record is
// larger it gives up detail in this order, flagging each file "truncated":
// cells that passed, then half of the remaining listed cells at a time, then
// the column summaries beyond the first 50. Statuses, summaries, rule counts
// and hashes always stay. A record that cannot fit even so is an error.
func (r Record) Fit(max int) ([]byte, error) {
	r.Files = slices.Clone(r.Files)
	b, err := json.Marshal(r)
	if err != nil || len(b) <= max {
		return b, err
	}
	for i := range r.Files {
		f := &r.Files[i]
		if n := len(f.Cells); n > 0 {
			f.Cells = slices.DeleteFunc(slices.Clone(f.Cells), func(c Cell) bool { return c.Status == Pass })
			f.Truncated = f.Truncated || len(f.Cells) < n
		}
	}
	for {
		if b, err = json.Marshal(r); err != nil || len(b) <= max {
			return b, err
		}
		halved := false
		for i := range r.Files {
			f := &r.Files[i]
			if len(f.Cells) > 0 {
				f.Cells = f.Cells[:len(f.Cells)/2]
				f.Truncated, halved = true, true
			}
		}
		if !halved {
			break
		}
	}
	for i := range r.Files {
		f := &r.Files[i]
		if len(f.Columns) > 50 {
			f.Columns = f.Columns[:50]
			f.Truncated = true
		}
	}
	if b, err = json.Marshal(r); err != nil || len(b) <= max {
		return b, err
	}
	return nil, fmt.Errorf("disclosure record is %d bytes even without cell details, limit %d", len(b), max)
}
