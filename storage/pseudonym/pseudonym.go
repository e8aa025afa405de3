// Package pseudonym replaces identifiers in named CSV columns with keyed
// pseudonyms while a file streams into the airlock: HMAC-SHA256 under the
// project's pseudonymisation key (storage.DEK.PseudonymKey), so the same
// identifier gets the same pseudonym everywhere within a project (records
// still link across files) and a different, unlinkable one in every other
// project, as NHS England does per data-sharing agreement. Without the
// project key the mapping can be neither reversed nor recomputed; destroying
// the project's wrapped data key destroys it for good.
//
// Identifiers are compared exactly after trimming surrounding spaces: callers
// that need "943 476 5919" and "9434765919" to match must normalise before
// upload. Empty cells stay empty (missing stays missing).
package pseudonym

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/sded/sded/storage/table"
)

// ErrColumns means the requested columns do not fit the file's header.
var ErrColumns = errors.New("pseudonymisation columns")

// Size is the pseudonym length in hex characters (128 bits).
const Size = 32

// Options select the columns and bound the input.
type Options struct {
	Columns []string // header names, exact match; at least one
	Limits  table.Limits
}

// Stats reports what was done.
type Stats struct {
	Rows     int64 `json:"rows"`
	Replaced int64 `json:"replaced"`
}

// Pseudonymiser computes pseudonyms under one project key.
type Pseudonymiser struct{ mac hash.Hash }

// New returns a Pseudonymiser; key must be at least 32 bytes.
func New(key []byte) (*Pseudonymiser, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("pseudonymisation key is %d bytes, want at least 32", len(key))
	}
	return &Pseudonymiser{mac: hmac.New(sha256.New, key)}, nil
}

// Of returns the pseudonym of one identifier.
func (p *Pseudonymiser) Of(id string) string {
	p.mac.Reset()
	p.mac.Write([]byte("sded pseudonym v1\x00"))
	p.mac.Write([]byte(strings.TrimSpace(id)))
	var sum [sha256.Size]byte
	return hex.EncodeToString(p.mac.Sum(sum[:0]))[:Size]
}

// Transform copies the CSV from r to w, replacing the named columns' values
// with pseudonyms. Malformed CSV (see package table), unknown or duplicate
// columns and limit breaches return an error; w may then hold a partial
// output, which the caller must discard (the staged store does: it removes
// a file whose writer failed).
func Transform(ctx context.Context, key []byte, r io.Reader, w io.Writer, opt Options) (Stats, error) {
	var st Stats
	p, err := New(key)
	if err != nil {
		return st, err
	}
	if len(opt.Columns) == 0 {
		return st, fmt.Errorf("%w: no columns named", ErrColumns)
	}
	tr := table.NewReader(ctxReader{ctx, r}, opt.Limits)
	hdr, err := tr.Read()
	if errors.Is(err, io.EOF) {
		return st, fmt.Errorf("%w: empty file (a header row is required)", ErrColumns)
	}
	if err != nil {
		return st, err
	}
	index := map[string]int{}
	header := make([]string, len(hdr))
	for i, h := range hdr {
		header[i] = string(h)
		if _, dup := index[header[i]]; dup {
			return st, fmt.Errorf("%w: header names column %q twice", ErrColumns, header[i])
		}
		index[header[i]] = i
	}
	var cols []int
	var missing []string
	for _, c := range opt.Columns {
		i, ok := index[c]
		if !ok {
			missing = append(missing, c)
			continue
		}
		cols = append(cols, i)
	}
	if len(missing) > 0 {
		return st, fmt.Errorf("%w: no column %q in the header %q", ErrColumns, missing, header)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return st, err
	}
	row := make([]string, len(header))
	replace := make([]bool, len(header))
	for _, c := range cols {
		replace[c] = true
	}
	for {
		f, err := tr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
		st.Rows++
		for i, b := range f {
			switch {
			case replace[i] && len(strings.TrimSpace(string(b))) > 0:
				row[i] = p.Of(string(b))
				st.Replaced++
			default:
				row[i] = string(b)
			}
		}
		if err := cw.Write(row); err != nil {
			return st, err
		}
	}
	cw.Flush()
	return st, cw.Error()
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
