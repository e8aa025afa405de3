package table

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readAll(in string, lim Limits) ([][]string, error) {
	r := NewReader(strings.NewReader(in), lim)
	var out [][]string
	for {
		f, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var row []string
		for _, b := range f {
			row = append(row, string(b))
		}
		out = append(out, row)
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"simple", "a,b\n1,2\n", [][]string{{"a", "b"}, {"1", "2"}}},
		{"no final newline", "a,b\n1,2", [][]string{{"a", "b"}, {"1", "2"}}},
		{"crlf", "a,b\r\n1,2\r\n", [][]string{{"a", "b"}, {"1", "2"}}},
		{"bom", "\xef\xbb\xbfa,b\n1,2\n", [][]string{{"a", "b"}, {"1", "2"}}},
		{"empty fields", "a,b,c\n,,\n", [][]string{{"a", "b", "c"}, {"", "", ""}}},
		{"blank lines skipped", "a\n\n1\n\n", [][]string{{"a"}, {"1"}}},
		{"quoted comma", "a,b\n\"x,y\",2\n", [][]string{{"a", "b"}, {"x,y", "2"}}},
		{"escaped quote", "a,b\n\"say \"\"hi\"\"\",2\n", [][]string{{"a", "b"}, {`say "hi"`, "2"}}},
		{"quoted newline", "a,b\n\"l1\nl2\",2\n", [][]string{{"a", "b"}, {"l1\nl2", "2"}}},
		{"quoted empty last", "a,b\n1,\"\"\n", [][]string{{"a", "b"}, {"1", ""}}},
		{"quoted then empty", "a,b\n\"1\",\n", [][]string{{"a", "b"}, {"1", ""}}},
		{"unicode", "région,n\nÎle-de-France,12\n", [][]string{{"région", "n"}, {"Île-de-France", "12"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.in, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestReadRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  Limits
		is   error
		want string
	}{
		{"ragged row", "a,b\n1,2,3\n", Limits{}, ErrMalformed, "line 2: 3 fields, header has 2"},
		{"short row", "a,b\n1,2\n3\n", Limits{}, ErrMalformed, "line 3: 1 fields"},
		{"bare quote", "a,b\n1,x\"y\n", Limits{}, ErrMalformed, "bare quote"},
		{"text after closing quote", "a,b\n\"x\"y,2\n", Limits{}, ErrMalformed, "after a closing quote"},
		{"unclosed quote", "a,b\n\"x,2\n3,4\n", Limits{}, ErrMalformed, "line 2: quoted field not closed"},
		{"invalid utf8", "a,b\n\xff,2\n", Limits{}, ErrMalformed, "not valid UTF-8"},
		{"long line", "a,b\n" + strings.Repeat("x", 200) + ",1\n", Limits{MaxRecordBytes: 100}, ErrLimit, "line 2: line longer than 100"},
		{"huge line without newline", strings.Repeat("x", 3<<20), Limits{MaxRecordBytes: 1 << 20}, ErrLimit, "longer than"},
		{"long quoted record", "a\n\"" + strings.Repeat("x\n", 100) + "\"\n", Limits{MaxRecordBytes: 50}, ErrLimit, "record longer than 50"},
		{"too many columns", strings.Repeat("a,", 20) + "a\n", Limits{MaxColumns: 10}, ErrLimit, "more than 10 columns"},
		{"too many quoted columns", strings.Repeat("\"a\",", 20) + "a\n", Limits{MaxColumns: 10}, ErrLimit, "more than 10 columns"},
		{"too large", "a\n" + strings.Repeat("1\n", 400<<10), Limits{MaxBytes: 300 << 10}, ErrLimit, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(tt.in, tt.lim)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
}
