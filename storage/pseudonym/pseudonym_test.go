package pseudonym

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/storage/table"
)

func key() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func transform(t *testing.T, k []byte, in string, cols ...string) [][]string {
	t.Helper()
	var out bytes.Buffer
	if _, err := Transform(context.Background(), k, strings.NewReader(in), &out, Options{Columns: cols}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestTransform(t *testing.T) {
	k1, k2 := key(), key()
	in := "nhs_number,name,age\n9434765919,\"Smith, Jo\",40\n9434765870,Ann,31\n9434765919,Jo Smith,40\n,Unknown,22\n 9434765870 ,Ann,31\n"
	got := transform(t, k1, in, "nhs_number", "name")
	if got[0][0] != "nhs_number" || len(got) != 6 {
		t.Fatalf("output %q", got)
	}
	p, _ := New(k1)
	want := [][]string{
		{"nhs_number", "name", "age"},
		{p.Of("9434765919"), p.Of("Smith, Jo"), "40"},
		{p.Of("9434765870"), p.Of("Ann"), "31"},
		{p.Of("9434765919"), p.Of("Jo Smith"), "40"},
		{"", p.Of("Unknown"), "22"},
		{p.Of("9434765870"), p.Of("Ann"), "31"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if got[1][0] != got[3][0] || got[2][0] != got[5][0] {
		t.Error("same identifier, different pseudonyms within a project")
	}
	if got[1][0] == got[2][0] || len(got[1][0]) != Size || strings.Contains(got[1][0], "9434") {
		t.Errorf("pseudonym %q", got[1][0])
	}
	other := transform(t, k2, in, "nhs_number")
	if other[1][0] == got[1][0] {
		t.Error("same pseudonym in two projects")
	}
	if other[1][1] != "Smith, Jo" {
		t.Error("unnamed column changed")
	}
}

func TestTransformRejects(t *testing.T) {
	tests := []struct {
		name, in string
		cols     []string
		key      []byte
		lim      table.Limits
		is       error
		want     string
	}{
		{"unknown column", "a,b\n1,2\n", []string{"nhs"}, key(), table.Limits{}, ErrColumns, `no column ["nhs"]`},
		{"no columns", "a,b\n1,2\n", nil, key(), table.Limits{}, ErrColumns, "no columns named"},
		{"duplicate header", "a,a\n1,2\n", []string{"a"}, key(), table.Limits{}, ErrColumns, "twice"},
		{"empty file", "", []string{"a"}, key(), table.Limits{}, ErrColumns, "empty file"},
		{"ragged", "a,b\n1,2\n3\n", []string{"a"}, key(), table.Limits{}, table.ErrMalformed, "line 3"},
		{"unclosed quote", "a,b\n\"1,2\n", []string{"a"}, key(), table.Limits{}, table.ErrMalformed, "not closed"},
		{"line too long", "a,b\n" + strings.Repeat("x", 300) + ",1\n", []string{"a"}, key(), table.Limits{MaxRecordBytes: 100}, table.ErrLimit, "longer than 100"},
		{"short key", "a\n1\n", []string{"a"}, []byte("short"), table.Limits{}, nil, "want at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Transform(context.Background(), tt.key, strings.NewReader(tt.in), &bytes.Buffer{}, Options{Columns: tt.cols, Limits: tt.lim})
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
}
