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

// bigMagnitude builds a multi-block magnitude CSV with quoted categories,
// quoted newlines, CRLF and blank lines.
func bigMagnitude(size int) string { return genMagnitude(size, true, false) }

// genMagnitude makes a multi-block magnitude table; quoted adds quoted
// fields (the general reader), valueFirst puts the value column first.
func genMagnitude(size int, quoted, valueFirst bool) string {
	r := rand.New(rand.NewPCG(7, 8))
	regions := []string{"North", "\"South, West\"", "East", "\"Say \"\"hi\"\"\""}
	if !quoted {
		regions = []string{"North", "South West", "East", "Île"}
	}
	if valueFirst {
		var b strings.Builder
		b.WriteString("value,region,band\n")
		for b.Len() < size {
			fmt.Fprintf(&b, "%d.%d,%s,b%d\n", r.IntN(1000)-5, r.IntN(10), regions[r.IntN(len(regions))], r.IntN(30))
			if r.IntN(60) == 0 {
				b.WriteString("\r\n")
			}
		}
		return b.String()
	}
	var b strings.Builder
	b.WriteString("region,band,value\n")
	for b.Len() < size {
		if quoted && r.IntN(40) == 0 { // a quoted value spanning two lines
			fmt.Fprintf(&b, "%s,b%d,\"%d\n\"", regions[r.IntN(len(regions))], r.IntN(30), r.IntN(1000))
		} else {
			fmt.Fprintf(&b, "%s,b%d,%d.%d", regions[r.IntN(len(regions))], r.IntN(30), r.IntN(1000)-5, r.IntN(10))
		}
		switch r.IntN(50) {
		case 0:
			b.WriteString("\r\n")
		case 1:
			b.WriteString("\n\n")
		default:
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestParallelMatchesSequential(t *testing.T) {
	for _, tt := range []struct {
		name               string
		quoted, valueFirst bool
	}{{"quoted", true, false}, {"unquoted fast path", false, false}, {"value first, fast path", false, true}} {
		t.Run(tt.name, func(t *testing.T) { parallelMatchesSequential(t, genMagnitude(5<<20, tt.quoted, tt.valueFirst)) })
	}
}

func parallelMatchesSequential(t *testing.T, in string) {
	par := check(t, "m.csv", in, Options{})

	// The sequential reference over the same input.
	opt := Options{}.withDefaults()
	tr := table.NewReader(strings.NewReader(in), opt.Limits)
	hdr, _ := tr.Read()
	header := []string{string(hdr[0]), string(hdr[1]), string(hdr[2])}
	vcol, cats := 2, []int{0, 1}
	if header[0] == "value" {
		vcol, cats = 0, []int{1, 2}
	}
	seq := FileRecord{Kind: Magnitude, Column: "value", Categories: []string{header[cats[0]], header[cats[1]]}}
	cols := make([]Column, 3)
	for i := range cols {
		cols[i] = Column{Name: header[i], Role: "category", seen: map[string]struct{}{}}
	}
	cols[vcol] = Column{Name: "value", Role: "value"}
	lst := &lister{max: opt.MaxListedCells, counts: map[string]int{}}
	if err := magnitude(tr, opt, vcol, cats, cols, lst, &seq); err != nil {
		t.Fatal(err)
	}
	for i := range cols {
		cols[i].finish()
	}
	if par.Rows != seq.Rows || par.CellsTotal != len(lst.cells) || par.CellsTotal < 100 {
		t.Fatalf("rows %d/%d cells %d/%d", par.Rows, seq.Rows, par.CellsTotal, len(lst.cells))
	}
	type cellView struct {
		Key     []string
		N       int64
		Total   float64
		Results Results
	}
	view := func(cs []Cell) []cellView {
		var out []cellView
		for _, c := range cs {
			out = append(out, cellView{c.Key, c.N, *c.Total, c.Results})
		}
		return out
	}
	// Sums may differ in the last bits (different order); compare to 1e-9.
	approx := cmp.Comparer(func(a, b float64) bool {
		return a == b || (a-b)/max(abs(a), abs(b)) < 1e-9 && (b-a)/max(abs(a), abs(b)) < 1e-9
	})
	if d := cmp.Diff(view(lst.cells), view(par.Cells), approx); d != "" {
		t.Errorf("parallel differs from sequential (-seq +par)\n%s", d)
	}
	if par.Columns[vcol].Count != cols[vcol].Count || *par.Columns[vcol].Min != *cols[vcol].Min || *par.Columns[vcol].Max != *cols[vcol].Max {
		t.Errorf("value column %+v vs %+v", par.Columns[vcol], cols[vcol])
	}
	// Deterministic from run to run.
	again := check(t, "m.csv", in, Options{})
	if d := cmp.Diff(par, again, cmpopts.IgnoreUnexported(Column{})); d != "" {
		t.Errorf("two runs differ:\n%s", d)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestParallelErrorsNameTheFirstBadLine(t *testing.T) {
	good := bigMagnitude(3 << 20)
	lines := strings.Count(good, "\n")
	tests := []struct {
		name, in string
		is       error
		want     string
	}{
		{"ragged late", good + "x,y\n", table.ErrMalformed, fmt.Sprintf("line %d: 2 fields", lines+1)},
		{"unclosed quote at the end", good + "\"x,y,1\n", table.ErrMalformed, "quoted field not closed"},
		{"endless line", good + strings.Repeat("x", 3<<20), table.ErrLimit, "longer than"},
		{"too many cells", good, table.ErrLimit, "more than 50 cells"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := Options{}
			if tt.name == "too many cells" {
				opt.MaxCells = 50
			}
			_, err := CheckFile(context.Background(), "m.csv", strings.NewReader(tt.in), opt)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
}

func TestFastPathErrors(t *testing.T) {
	good := genMagnitude(3<<20, false, false)
	lines := strings.Count(good, "\n")
	tests := []struct {
		name, in string
		opt      Options
		is       error
		want     string
	}{
		{"ragged late", good + "x,y\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: 2 fields, header has 3", lines+1)},
		{"too many fields, no final newline", good + "x,y,1,2", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: 4 fields", lines+1)},
		{"control character", good + "x\x1b,y,1\n", Options{}, table.ErrMalformed, fmt.Sprintf("line %d: column \"region\"", lines+1)},
		{"forged escaped key", good + "\x1fx,y,1\n", Options{}, table.ErrMalformed, "control character 0x1f"},
		{"long line", good + "x,y," + strings.Repeat("1", 5000) + "\n", Options{Limits: table.Limits{MaxRecordBytes: 1000}}, table.ErrLimit, fmt.Sprintf("line %d: line longer than 1000", lines+1)},
		{"too many cells", good, Options{MaxCells: 10}, table.ErrLimit, "more than 10 cells"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckFile(context.Background(), "m.csv", strings.NewReader(tt.in), tt.opt)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
}

func TestBoundary(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"a,b\nc,d\n", 8},
		{"a,b\nc,d", 4},
		{"abc", 0},
		{"\"x\ny\",1\nz", 8},
		{"a\n\"x\ny", 2},
		{"\"x\ny", -1},
		{"\"\"\"\"\n", 5},
	}
	for _, tt := range tests {
		if got := boundary([]byte(tt.in)); got != tt.want {
			t.Errorf("boundary(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParallelMaxBytes(t *testing.T) {
	in := bigMagnitude(3 << 20)
	_, err := CheckFile(context.Background(), "m.csv", strings.NewReader(in), Options{Limits: table.Limits{MaxBytes: 2 << 20}})
	if !errors.Is(err, table.ErrLimit) || !strings.Contains(err.Error(), "larger than 2097152") {
		t.Errorf("err = %v", err)
	}
	if _, err := CheckFile(context.Background(), "m.csv", strings.NewReader(in), Options{Limits: table.Limits{MaxBytes: 4 << 20}}); err != nil {
		t.Errorf("under the limit: %v", err)
	}
}

func TestZeroBytesExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		var b [8]byte
		for i := range b {
			b[i] = ",-\n\x0b+0a\x00\x01\x80\xff"[r.IntN(11)]
		}
		x := uint64(0)
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(b[i])
		}
		m := zeroBytes(x ^ commas)
		for i := range b {
			if got, want := m>>(8*i+7)&1 == 1, b[i] == ','; got != want {
				t.Fatalf("bytes %q: byte %d flagged %v, want %v", b, i, got, want)
			}
		}
	}
}
