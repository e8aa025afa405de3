package disclosure

import (
	"context"
	"encoding/csv"
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

// csvField quotes f when it must be (or, unless plain, at random), as a
// CSV writer would.
func csvField(r *rand.Rand, f string, plain bool) string {
	if strings.ContainsAny(f, ",\"\r\n") || !plain && r.IntN(10) == 0 {
		return `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
	}
	return f
}

// TestAgainstEncodingCSV groups random magnitude tables (quoted fields with
// commas, quotes and newlines, empty fields, CRLF, blank lines, a BOM, a
// missing last newline) with CheckFile and, as an independent oracle, with
// encoding/csv and a map: rows, cells, counts and totals must agree
// exactly; tables with one bad line (ragged, bare or unclosed quote, text
// after a closing quote) must fail in both, ragged ones naming the same
// line.
func TestAgainstEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	var valid, fast int
	for i := range 400 {
		// Half the tables have no quotes (the fast path), half have some.
		plain := i%2 == 0
		words := []string{"North", "North East", "é", "", "x", "Île-de-France", "South, West", `say "hi"`, "a long category value, with commas"}
		values := []string{"12", "12.5", "-3", "", "NA", "0", "99999.99", " 4 ", "1e2", "x", "7\n"}
		if plain {
			words, values = words[:6], values[:10]
		}
		pos := r.IntN(3) // value column: first, middle or last
		var b strings.Builder
		if r.IntN(4) == 0 {
			b.WriteString("\ufeff")
		}
		header := []string{"region", "band"}
		row := func(cats []string, v string) []string {
			return append(append(append([]string(nil), cats[:pos]...), v), cats[pos:]...)
		}
		writeRow := func(fields []string) {
			for j, f := range fields {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(csvField(r, f, plain))
			}
			switch r.IntN(12) {
			case 0:
				b.WriteString("\r\n")
			case 1:
				b.WriteString("\n\n")
			default:
				b.WriteByte('\n')
			}
		}
		writeRow(row(header, "value"))
		bad, badKind := r.IntN(4) == 0, r.IntN(4)
		n := 1 + r.IntN(300)
		badAt := r.IntN(n)
		for j := range n {
			cats := []string{words[r.IntN(len(words))], words[r.IntN(3)]}
			v := values[r.IntN(len(values))]
			if r.IntN(2) == 0 {
				v = fmt.Sprintf("%d.%d", r.IntN(10000), r.IntN(10))
			}
			if bad && j == badAt {
				switch badKind {
				case 0: // ragged
					writeRow(append(row(cats, v), "extra"))
				case 1:
					b.WriteString("bare\"quote,x,1\n")
				case 2:
					b.WriteString("\"closed\"x,y,1\n")
				default:
					b.WriteString("\"never closed,y,1\n")
				}
				continue
			}
			writeRow(row(cats, v))
		}
		in := b.String()
		if r.IntN(3) == 0 {
			in = strings.TrimRight(in, "\r\n")
		}

		// The oracle.
		cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(in, "\ufeff")))
		recs, csvErr := cr.ReadAll()
		got, err := CheckFile(context.Background(), "t.csv", strings.NewReader(in), Options{MaxListedCells: 1 << 20})
		if csvErr != nil || err != nil {
			if csvErr == nil || err == nil {
				t.Fatalf("table %d: encoding/csv err %v, CheckFile err %v\n%q", i, csvErr, err, in)
			}
			var pe *csv.ParseError
			if errors.As(csvErr, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) && !strings.Contains(err.Error(), fmt.Sprintf("line %d:", pe.StartLine)) {
				t.Fatalf("table %d: CheckFile err %v, encoding/csv says line %d", i, err, pe.StartLine)
			}
			continue
		}
		type agg struct {
			n   int64
			sum float64
		}
		want := map[string]*agg{}
		for _, rec := range recs[1:] {
			v := parseValue([]byte(rec[pos]))
			k := strings.Join(append(append([]string(nil), rec[:pos]...), rec[pos+1:]...), "\x00")
			a := want[k]
			if a == nil {
				a = &agg{}
				want[k] = a
			}
			if !v.missing && !v.nonNumeric {
				a.n++
				a.sum += v.f
			}
		}
		valid++
		if !strings.Contains(in, `"`) {
			fast++
		}
		if got.Rows != int64(len(recs)-1) || got.CellsTotal != len(want) || len(got.Cells) != len(want) {
			t.Fatalf("table %d: rows %d cells %d/%d, encoding/csv: rows %d cells %d\n%q", i, got.Rows, got.CellsTotal, len(got.Cells), len(recs)-1, len(want), in)
		}
		for _, c := range got.Cells {
			a := want[strings.Join(c.Key, "\x00")]
			if a == nil || a.n != c.N || a.sum != *c.Total {
				t.Fatalf("table %d: cell %q: n %d total %v, encoding/csv: %+v\n%q", i, c.Key, c.N, *c.Total, a, in)
			}
		}
	}
	if valid < 200 || fast < 100 {
		t.Errorf("only %d valid tables, %d without quotes: the generator misses cases", valid, fast)
	}
}
