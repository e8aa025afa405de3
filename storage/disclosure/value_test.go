package disclosure

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestParseValueWords compares the word-at-a-time parsers with parseValue
// on tricky and random values, placed at the end of a line (value last)
// and at its start (value first).
func TestParseValueWords(t *testing.T) {
	tricky := []string{"0", "7", "-0", "+5", "-", "+", ".", ".5", "5.", "-.5", "12.", "1.2.3", "12345678", "99999999",
		"1234567.8", "-1234567", "+1234567", "0.000001", "00012", "12,5", " 12", "12 ", "1e3", "NA", "nan", "1_0",
		"9..1", "--1", "+-1", "1-2", "12:34", "\x00", "1/2", "ab", "١٢", "-9999999", "123456.7", "1.234567"}
	r := rand.New(rand.NewPCG(5, 6))
	const alphabet = "0123456789.-+ e,/:\x00\xff"
	for range 200000 {
		n := 1 + r.IntN(9)
		b := make([]byte, n)
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = '0' + byte(r.IntN(10))
			}
		}
		tricky = append(tricky, string(b))
	}
	same := func(a, b value) bool {
		return a.missing == b.missing && a.nonNumeric == b.nonNumeric && a.integer == b.integer &&
			math.Float64bits(a.f) == math.Float64bits(b.f)
	}
	for _, v := range tricky {
		want := parseValue([]byte(v))
		last := []byte("key,with,room," + v)
		if got := parseValueAt(last, len(last)-len(v), len(last)); !same(got, want) {
			t.Fatalf("parseValueAt(%q) = %+v, want %+v", v, got, want)
		}
		first := []byte(v + ",key,with,room\n")
		if got := parseValueBefore(first, 0, len(v)); !same(got, want) {
			t.Fatalf("parseValueBefore(%q) = %+v, want %+v", v, got, want)
		}
		if got := parseValueAt([]byte(v), 0, len(v)); !same(got, want) { // too short to read a word
			t.Fatalf("parseValueAt(%q) alone = %+v, want %+v", v, got, want)
		}
	}
}
