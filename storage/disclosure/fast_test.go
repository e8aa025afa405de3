package disclosure

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sded/sded/storage/table"
)

// sequentialRecord checks a magnitude table with the plain sequential
// grouping (table.Reader, a Go map, parseValue: the reference) and returns
// the record or the error CheckFile should give.
func sequentialRecord(in string, opt Options) (FileRecord, error) {
	opt = opt.withDefaults()
	rec := FileRecord{}
	tr := table.NewReader(strings.NewReader(in), opt.Limits)
	hdr, err := tr.Read()
	if err != nil {
		return rec, err
	}
	header := make([]string, len(hdr))
	for i, h := range hdr {
		header[i] = string(h)
	}
	kind, col, err := detect(header, opt)
	if err != nil {
		return rec, err
	}
	rec.Kind, rec.Column = kind, header[col]
	var cats []int
	cols := make([]Column, len(header))
	for i, h := range header {
		cols[i] = Column{Name: h, Role: "category", seen: map[string]struct{}{}}
		if i != col {
			cats = append(cats, i)
			rec.Categories = append(rec.Categories, h)
		}
	}
	cols[col] = Column{Name: header[col], Role: "value"}
	lst := &lister{max: opt.MaxListedCells, counts: map[string]int{}}
	if err := magnitude(tr, opt, col, cats, cols, lst, &rec); err != nil {
		return rec, err
	}
	for i := range cols {
		cols[i].finish()
	}
	rec.Columns = cols
	rec.Cells, rec.Truncated, rec.RuleCounts = lst.cells, lst.truncated, lst.counts
	rec.Status, rec.Summary = lst.summary()
	return rec, nil
}

// randomTable writes a magnitude table with the value column at pos
// ("first", "last" or "middle") and lines drawn to hit every branch of the
// fast path: keys shorter than 8, 8 to 32 and longer than 32 bytes, values
// plain and not, CRLF, blank lines, bytes beyond ASCII, and, when bad, one
// line of malformed input.
func randomTable(r *rand.Rand, lines int, pos string, bad bool) string {
	keys := [][]string{
		{"A", "x"}, {"B", "y"}, {"North East", "M"}, {"London", "F"}, {"South West", "F"},
		{"a region with a very long name", "band 10-19"}, {"Île", "é"}, {"12345678", "z"}, {"", ""}, {"x", ""},
	}
	values := []string{"0", "7", "12.5", "99999.99", "12345678", "-3", "+4", "-0", "0.00", "10.0", "5.",
		".5", "1e3", "NA", "", " 12", "1234567.8", "123456789", "x", "1.2.3", "--1", "-12345.6", "7\r"}
	var b strings.Builder
	header := []string{"c1", "c2"}
	write := func(key []string, v string) {
		f := append([]string(nil), key...)
		switch pos {
		case "first":
			f = append([]string{v}, f...)
		case "middle":
			f = []string{f[0], v, f[1]}
		default:
			f = append(f, v)
		}
		b.WriteString(strings.Join(f, ","))
	}
	if r.IntN(4) == 0 {
		b.WriteString("\ufeff")
	}
	write(header, "value")
	b.WriteByte('\n')
	badLine := -1
	if bad {
		badLine = r.IntN(lines)
	}
	for i := range lines {
		k := keys[r.IntN(len(keys))]
		if r.IntN(3) == 0 {
			k = keys[r.IntN(4)] // some cells with many contributors
		}
		v := values[r.IntN(len(values))]
		if r.IntN(2) == 0 {
			v = fmt.Sprintf("%d.%02d", r.IntN(100000), r.IntN(100))
		}
		if i == badLine {
			switch r.IntN(7) {
			case 0:
				write(k, v+",extra")
			case 1:
				b.WriteString("only")
			case 2:
				write([]string{k[0] + "\x1b", k[1]}, v)
			case 3:
				write([]string{"\x1f" + k[0], k[1]}, v)
			case 4:
				write([]string{k[0] + "\xff", k[1]}, v)
			case 5:
				write([]string{`"` + k[0], k[1]}, v)
			default:
				write([]string{strings.Repeat("w", 300), k[1]}, v)
			}
		} else {
			write(k, v)
		}
		switch r.IntN(20) {
		case 0:
			b.WriteString("\r\n")
		case 1:
			b.WriteString("\n\n")
		default:
			b.WriteByte('\n')
		}
	}
	s := b.String()
	if r.IntN(3) == 0 {
		s = strings.TrimRight(s, "\r\n")
	}
	return s
}

// TestFastPathMatchesSequentialExactly checks tables of one block (so the
// order of additions is the same) through CheckFile and through the
// sequential reference: records, floats included, must be identical, and
// malformed input must give the same error.
func TestFastPathMatchesSequentialExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 400 {
		pos := []string{"last", "last", "first", "middle"}[r.IntN(4)]
		bad := r.IntN(4) == 0
		in := randomTable(r, 1+r.IntN(400), pos, bad)
		opt := Options{Limits: table.Limits{MaxRecordBytes: 200}}
		if r.IntN(10) == 0 {
			opt.MaxCells = 5
		}
		want, wantErr := sequentialRecord(in, opt)
		got, err := CheckFile(context.Background(), "t.csv", strings.NewReader(in), opt)
		if wantErr != nil || err != nil {
			if wantErr == nil || err == nil || !strings.HasSuffix(err.Error(), wantErr.Error()) {
				t.Fatalf("table %d (value %s): err = %v, want %v\n%q", i, pos, err, wantErr, in)
			}
			continue
		}
		got.Name, got.SHA256, got.Size = "", "", 0
		if d := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Column{}), cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("table %d (value %s): fast differs from sequential (-want +got)\n%s\n%q", i, pos, d, in)
		}
	}
}

// TestFastPathBadInput says what each kind of bad line does on the fast
// path: the check fails naming the line, and nothing is recorded.
func TestFastPathBadInput(t *testing.T) {
	good := "region,sex,value\n" + strings.Repeat("North East,F,12.50\nLondon,M,7\n", 1000)
	next := 2002 // the line after good
	tests := []struct {
		name, line string
		opt        Options
		is         error
		want       string
	}{
		{"too few fields", "North East,12\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: 2 fields, header has 3", next)},
		{"too many fields", "North East,F,x,12\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: 4 fields, header has 3", next)},
		{"no comma", "North East\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: 1 fields", next)},
		{"control character", "North\x07East,F,12\n", Options{}, table.ErrMalformed, fmt.Sprintf(`line %d: column "region": malformed CSV: control character 0x07`, next)},
		{"escape byte first", "\x1fNorth East,F,12\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: malformed CSV: control character 0x1f", next)},
		{"invalid UTF-8", "North\xffEast,F,12\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: not valid UTF-8", next)},
		{"bare quote", "North\"East,F,12\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: bare quote", next)},
		{"unclosed quote", "\"North East,F,12\n", Options{}, table.ErrMalformed, "quoted field not closed"},
		{"long line", strings.Repeat("x", 300) + ",F,12\n", Options{Limits: table.Limits{MaxRecordBytes: 200}}, table.ErrLimit, fmt.Sprintf("line %d: line longer than 200", next)},
		{"too many cells", "Midlands,F,1\n", Options{MaxCells: 2}, table.ErrLimit, "more than 2 cells"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good + tt.line + "London,F,3\n"
			rec, err := CheckFile(context.Background(), "t.csv", strings.NewReader(in), tt.opt)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
			if rec.Status != Error || len(rec.Cells) != 0 || len(rec.Columns) != 0 {
				t.Errorf("record of a bad table: %+v", rec)
			}
		})
	}
}

// TestCellTable checks lookups of keys of every length against a map,
// across growth.
func TestCellTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	tab := newCellTable()
	ref := map[string]*mcell{}
	for range 20000 {
		k := make([]byte, r.IntN(70))
		for i := range k {
			k[i] = "ab,\x00\xff"[r.IntN(5)]
		}
		got := tab.find(k)
		if want := ref[string(k)]; got != want {
			t.Fatalf("find(%q) = %p, want %p", k, got, want)
		}
		if got == nil {
			c := &mcell{key: string(k)}
			tab.insert(c)
			ref[c.key] = c
		}
	}
	if tab.len() != len(ref) {
		t.Errorf("len %d, want %d", tab.len(), len(ref))
	}
	n := 0
	tab.each(func(c *mcell) {
		if ref[c.key] != c {
			t.Errorf("each: stray cell %q", c.key)
		}
		n++
	})
	if n != len(ref) {
		t.Errorf("each visited %d, want %d", n, len(ref))
	}
}
