package disclosure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sded/sded/storage/table"
)

var update = flag.Bool("update", false, "rewrite golden files")

func check(t *testing.T, name, csv string, opt Options) FileRecord {
	t.Helper()
	rec, err := CheckFile(context.Background(), name, strings.NewReader(csv), opt)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

type cellResult struct {
	Key    string
	Status string
	Res    Results
}

func results(rec FileRecord) []cellResult {
	var out []cellResult
	for _, c := range rec.Cells {
		out = append(out, cellResult{strings.Join(c.Key, "/"), c.Status, c.Results})
	}
	return out
}

// freq builds the expected results of a frequency cell.
func freq(threshold, zeros, negative, missing string) Results {
	return Results{Threshold: threshold, Zeros: zeros, NKRule: NA, PRatio: NA, AllValuesSame: NA, Negative: negative, Missing: missing}
}

func TestFrequencyTable(t *testing.T) {
	csv := "region,sex,count\n" +
		"North,F,12\n" + // pass
		"North,M,3\n" + // below threshold
		"South,F,0\n" + // zero
		"South,M,10\n" + // exactly the threshold: pass
		"East,F,-1\n" + // negative: review
		"East,M,\n" + // missing: review
		"West,F,9.5\n" + // not a whole number: review
		"West,M,<5\n" // suppressed marker, non-numeric: review
	rec := check(t, "t.csv", csv, Options{})
	want := []cellResult{
		{"North/F", Pass, freq(Pass, Pass, Pass, Pass)},
		{"North/M", Fail, freq(Fail, Pass, Pass, Pass)},
		{"South/F", Fail, freq(Pass, Fail, Pass, Pass)},
		{"South/M", Pass, freq(Pass, Pass, Pass, Pass)},
		{"East/F", Review, freq(NA, NA, Review, Pass)},
		{"East/M", Review, freq(NA, NA, Pass, Review)},
		{"West/F", Review, freq(Fail, Pass, Pass, Review)},
		{"West/M", Review, freq(NA, NA, Pass, Review)},
	}
	if d := cmp.Diff(want, results(rec)); d != "" {
		t.Errorf("cells (-want +got)\n%s", d)
	}
	if rec.Kind != Frequency || rec.Column != "count" || rec.Status != Review || rec.Rows != 8 || rec.CellsTotal != 8 {
		t.Errorf("record %+v", rec)
	}
	wantCounts := map[string]int{"threshold": 2, "zeros": 1, "negative": 1, "missing": 3}
	if d := cmp.Diff(wantCounts, rec.RuleCounts); d != "" {
		t.Errorf("rule counts (-want +got)\n%s", d)
	}
	if rec.Cells[5].Line != 7 || rec.Cells[6].Note == "" {
		t.Errorf("line/note: %+v %+v", rec.Cells[5], rec.Cells[6])
	}

	// Without negatives and missing values the file fails rather than needing review.
	rec = check(t, "t.csv", "region,n\nA,12\nB,3\n", Options{})
	if rec.Status != Fail || !strings.Contains(rec.Summary, "threshold: 1 cells") {
		t.Errorf("status %q summary %q", rec.Status, rec.Summary)
	}
	rec = check(t, "t.csv", "region,Count\nA,12\nB,30\n", Options{})
	if rec.Status != Pass {
		t.Errorf("safe table: %q", rec.Summary)
	}
	// Zeros allowed by a tier's rules.
	r := DefaultRules()
	r.ZerosDisclosive = false
	rec = check(t, "t.csv", "region,count\nA,0\nB,30\n", Options{Rules: r})
	if rec.Status != Pass {
		t.Errorf("zeros not disclosive: %q", rec.Summary)
	}
	// A stricter tier.
	r = DefaultRules()
	r.Threshold = 20
	rec = check(t, "t.csv", "region,count\nA,15\n", Options{Rules: r})
	if rec.Status != Fail {
		t.Errorf("threshold 20: %q", rec.Summary)
	}
}

func rows(key string, vals ...string) string {
	var b strings.Builder
	for _, v := range vals {
		fmt.Fprintf(&b, "%s,%s\n", key, v)
	}
	return b.String()
}

func rep(v string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestMagnitudeTable(t *testing.T) {
	csv := "region,sex,value\n" +
		// A: 12 contributors, sum 126, top 13+12: nk 0.198, p (126-25)/13 = 7.77 → pass
		rows("A,F", append(rep("10", 9), "11", "12", "13")...) +
		// B: 1000 + 9×5, sum 1045: nk 1005/1045 = 0.962 > 0.9, p 40/1000 = 0.04 < 0.1 → fail
		rows("B,F", append([]string{"1000"}, rep("5", 9)...)...) +
		// C: 3 contributors → threshold fail; nk 13/18 = 0.72, p 5/7 = 0.71 pass
		rows("C,F", "5", "6", "7") +
		// D: 50+50+8×1.25, sum 110: nk 100/110 = 0.909 > 0.9 fail, p 10/50 = 0.2 pass
		rows("D,F", append([]string{"50", "50"}, rep("1.25", 8)...)...) +
		// E: ten 7s → all values the same
		rows("E,F", rep("7", 10)...) +
		// F: one negative contributor → review
		rows("F,F", append([]string{"-5"}, rep("10", 9)...)...) +
		// G: 1..10 and one missing → review; nk 19/55, p 3.6 pass
		rows("G,F", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "NA") +
		// H: ten zeros: zeros, p-ratio (zeros disclosive) and all-same fail
		rows("H,F", rep("0", 10)...)
	rec := check(t, "m.csv", csv, Options{})
	res := func(th, z, nk, p, same, neg, miss string) Results {
		return Results{Threshold: th, Zeros: z, NKRule: nk, PRatio: p, AllValuesSame: same, Negative: neg, Missing: miss}
	}
	want := []cellResult{
		{"A/F", Pass, res(Pass, Pass, Pass, Pass, Pass, Pass, Pass)},
		{"B/F", Fail, res(Pass, Pass, Fail, Fail, Pass, Pass, Pass)},
		{"C/F", Fail, res(Fail, Pass, Pass, Pass, Pass, Pass, Pass)},
		{"D/F", Fail, res(Pass, Pass, Fail, Pass, Pass, Pass, Pass)},
		{"E/F", Fail, res(Pass, Pass, Pass, Pass, Fail, Pass, Pass)},
		{"F/F", Review, res(Pass, Pass, Pass, Pass, Pass, Review, Pass)},
		{"G/F", Review, res(Pass, Pass, Pass, Pass, Pass, Pass, Review)},
		{"H/F", Fail, res(Pass, Fail, Pass, Fail, Fail, Pass, Pass)},
	}
	if d := cmp.Diff(want, results(rec)); d != "" {
		t.Errorf("cells (-want +got)\n%s", d)
	}
	if rec.Kind != Magnitude || rec.CellsTotal != 8 || rec.Status != Review {
		t.Errorf("record kind %s cells %d status %s", rec.Kind, rec.CellsTotal, rec.Status)
	}
	if *rec.Cells[1].Total != 1045 || rec.Cells[1].N != 10 || rec.Cells[6].N != 10 {
		t.Errorf("B total %v n %d, G n %d", *rec.Cells[1].Total, rec.Cells[1].N, rec.Cells[6].N)
	}
	// p-ratio alone, with nk relaxed to 1.0 by a tier.
	r := DefaultRules()
	r.NKK = 1
	rec = check(t, "m.csv", "g,value\n"+rows("X", append([]string{"1000"}, rep("5", 9)...)...), Options{Rules: r})
	if got := rec.Cells[0].Results; got.PRatio != Fail || got.NKRule != Pass {
		t.Errorf("p-ratio only: %+v", got)
	}
}

func TestColumnSummaries(t *testing.T) {
	rec := check(t, "t.csv", "region,count\nA,15\nB,20\nC,100\nA,NA\nD,x\n", Options{})
	f := func(v float64) *float64 { return &v }
	want := []Column{
		{Name: "region", Role: "category", Distinct: 4},
		{Name: "count", Role: "count", Count: 3, Missing: 1, NonNumeric: 1, Min: f(15), Max: f(100), Sum: f(135), Rounded: true, RoundedTo: 5},
	}
	if d := cmp.Diff(want, rec.Columns, cmpopts.IgnoreUnexported(Column{})); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	rec = check(t, "t.csv", "region,count\nA,12\nB,20\n", Options{})
	if rec.Columns[1].Rounded {
		t.Error("12,20 reported as rounded")
	}
	rec = check(t, "t.csv", "region,count\nA,1.5\nB,20\n", Options{})
	if rec.Columns[1].Rounded {
		t.Error("decimals reported as rounded")
	}
}

func TestListingTruncated(t *testing.T) {
	var b strings.Builder
	b.WriteString("g,count\n")
	for i := range 50 {
		v := 100
		if i%10 == 0 {
			v = 1
		}
		fmt.Fprintf(&b, "c%d,%d\n", i, v)
	}
	rec := check(t, "t.csv", b.String(), Options{MaxListedCells: 20})
	if !rec.Truncated || len(rec.Cells) != 5 || rec.CellsTotal != 50 {
		t.Fatalf("truncated %v listed %d total %d", rec.Truncated, len(rec.Cells), rec.CellsTotal)
	}
	for _, c := range rec.Cells {
		if c.Status == Pass {
			t.Errorf("pass cell listed after truncation: %+v", c)
		}
	}
}

func TestCheckFileErrors(t *testing.T) {
	tests := []struct {
		name, file, in string
		opt            Options
		is             error
		want           string
	}{
		{"empty", "e.csv", "", Options{}, ErrTable, "empty file"},
		{"unknown kind", "u.csv", "a,b\n1,2\n", Options{}, ErrTable, "cannot tell the table kind"},
		{"both kinds", "u.csv", "a,count,value\nx,1,2\n", Options{}, ErrTable, "both a count and a value"},
		{"named column missing", "u.csv", "a,b\n1,2\n", Options{Column: "total"}, ErrTable, `no column "total"`},
		{"ragged", "r.csv", "a,count\nx,1\ny,2,3\n", Options{}, table.ErrMalformed, "line 3: 3 fields"},
		{"bare quote", "r.csv", "a,count\nx\"y,1\n", Options{}, table.ErrMalformed, "bare quote"},
		{"long line", "l.csv", "a,count\n" + strings.Repeat("x", 5000) + ",1\n", Options{Limits: table.Limits{MaxRecordBytes: 1000}}, table.ErrLimit, "line longer than 1000"},
		{"too many columns", "c.csv", strings.Repeat("a,", 30) + "count\n", Options{Limits: table.Limits{MaxColumns: 20}}, table.ErrLimit, "more than 20 columns"},
		{"too big", "b.csv", "a,count\n" + strings.Repeat("x,1\n", 100000), Options{Limits: table.Limits{MaxBytes: 100000}}, table.ErrLimit, "larger than 100000"},
		{"too many cells", "m.csv", "a,value\n" + rows("x1", "1") + rows("x2", "1") + rows("x3", "1"), Options{MaxCells: 2}, table.ErrLimit, "more than 2 cells"},
		{"bad rules", "t.csv", "a,count\nx,1\n", Options{Rules: Rules{Threshold: -1, NKN: 2, NKK: 0.9}}, nil, "threshold -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := CheckFile(context.Background(), tt.file, strings.NewReader(tt.in), tt.opt)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
			if tt.is != nil && (rec.Status != Error || rec.Error == "" || len(rec.Cells) != 0) {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

func TestRecordGolden(t *testing.T) {
	pdf := []byte("%PDF-1.4 not really a pdf")
	files := []FileRecord{
		check(t, "counts.csv", "region,count\nNorth,12\nSouth,3\n", Options{}),
		check(t, "income.csv", "region,value\n"+rows("North", append([]string{"1000"}, rep("5", 9)...)...), Options{}),
		check(t, "figure.pdf", string(pdf), Options{}),
	}
	sum := sha256.Sum256(pdf)
	if files[2].Kind != Other || files[2].Status != Review || files[2].SHA256 != hex.EncodeToString(sum[:]) || files[2].Size != int64(len(pdf)) {
		t.Errorf("other file: %+v", files[2])
	}
	rec := NewRecord("req-1", DefaultRules(), files)
	if rec.Status != Review {
		t.Errorf("status %s", rec.Status)
	}
	got, err := rec.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "record.golden.json")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("record differs from %s (-want +got)\n%s", golden, d)
	}
	if !bytes.Contains(got, []byte(`"nk-rule": "fail"`)) {
		t.Error("record lacks per-rule results")
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		in   string
		want value
	}{
		{"12", value{f: 12, integer: true}},
		{"-3.50", value{f: -3.5}},
		{" 7 ", value{f: 7, integer: true}},
		{"+2", value{f: 2, integer: true}},
		{"1e3", value{f: 1000, integer: true}},
		{"10.0", value{f: 10, integer: true}},
		{"", value{missing: true}},
		{"NA", value{missing: true}},
		{"NaN", value{missing: true}},
		{".", value{missing: true}},
		{"<5", value{nonNumeric: true}},
		{"1.2.3", value{nonNumeric: true}},
		{"12345678901234567890", value{f: 12345678901234567890, integer: true}},
		{"Inf", value{nonNumeric: true}},
		{"-", value{nonNumeric: true}},
		{".5", value{f: 0.5}},
	}
	for _, tt := range tests {
		if got := parseValue([]byte(tt.in)); got != tt.want {
			t.Errorf("parseValue(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestControlCharactersInCategories(t *testing.T) {
	tests := []struct{ name, in string }{
		{"frequency", "g,count\nA,12\nB\x1bx,30\n"},
		{"magnitude", "g,value\nA,1\nB\x07,2\n"},
		{"magnitude quoted newline", "g,h,value\n\"A\nB\",x,1\n"},
		{"forged escaped key", "g,h,value\n\"a,b\",c,1\n\x1f\x03a,\"b,c\",2\n"},
		{"forged plain key", "g,h,value\n\x1f\x03a,b,1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckFile(context.Background(), "t.csv", strings.NewReader(tt.in), Options{})
			if !errors.Is(err, table.ErrMalformed) || !strings.Contains(err.Error(), "control character") {
				t.Errorf("err = %v", err)
			}
		})
	}
	// Categories containing commas (quoted) are distinct cells.
	rec := check(t, "t.csv", "g,h,value\n\"a,b\",c,1\na,\"b,c\",2\na,b,3\n", Options{})
	if rec.CellsTotal != 3 {
		t.Errorf("cells %d, want 3: %+v", rec.CellsTotal, rec.Cells)
	}
	var keys [][]string
	for _, c := range rec.Cells {
		keys = append(keys, c.Key)
	}
	if d := cmp.Diff([][]string{{"a", "b,c"}, {"a,b", "c"}, {"a", "b"}}, keys); d != "" {
		t.Errorf("keys (-want +got)\n%s", d)
	}
}
