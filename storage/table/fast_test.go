package table

import (
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAgainstEncodingCSV compares the reader with encoding/csv on a large
// random input mixing plain lines, quoted fields, embedded newlines, CRLF
// and blank lines, long enough to cross many buffer refills.
func TestAgainstEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString("a,b,c\n")
	words := []string{"x", "North East", "", "12.5", "é", "say \"hi\"", "l1\nl2", "a,b"}
	for b.Len() < 3<<20 {
		for j := range 3 {
			w := words[r.IntN(len(words))]
			if strings.ContainsAny(w, "\",\n") || r.IntN(20) == 0 {
				w = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
			}
			b.WriteString(w)
			if j < 2 {
				b.WriteByte(',')
			}
		}
		switch r.IntN(30) {
		case 0:
			b.WriteString("\r\n")
		case 1:
			b.WriteString("\n\n")
		default:
			b.WriteByte('\n')
		}
	}
	in := b.String()
	want, err := csv.NewReader(strings.NewReader(in)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(want, got) {
		return
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("differs from encoding/csv:\n%s", d[:min(len(d), 2000)])
	}
}

func TestControlCharacters(t *testing.T) {
	// The reader passes control characters through, on both paths...
	for _, in := range []string{"a,b\n1,2\nx\x1by,3\n", "a,b\n\"x\x1by\",3\n"} {
		got, err := readAll(in, Limits{})
		if err != nil || len(got) < 2 || !strings.Contains(strings.Join(got[len(got)-1], ""), "\x1b") {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	// ...and CheckControl refuses them (tab allowed).
	for _, c := range []byte{0, 1, 0x1b, 0x1f, 0x7f, '\r', '\n'} {
		if err := CheckControl([]byte{'x', c}); !errors.Is(err, ErrMalformed) {
			t.Errorf("0x%02x: err = %v", c, err)
		}
	}
	if err := CheckControl([]byte("x\ty é")); err != nil {
		t.Errorf("tab: %v", err)
	}
}

func TestSpan(t *testing.T) {
	r := NewReader(strings.NewReader("a,b,c\nx,yy,z\n\"q\",r,s\n"), Limits{})
	r.Read()
	f, _ := r.Read()
	if s, ok := r.Span(0, 1); !ok || string(s) != "x,yy" || len(f) != 3 {
		t.Errorf("span %q %v", s, ok)
	}
	if s, ok := r.Span(2, 2); !ok || string(s) != "z" {
		t.Errorf("span %q %v", s, ok)
	}
	r.Read()
	if _, ok := r.Span(0, 1); ok {
		t.Error("span of a quoted record")
	}
	if _, err := r.Read(); !errors.Is(err, io.EOF) {
		t.Error(err)
	}
}
