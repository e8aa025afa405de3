package staged

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	good := []string{
		"results.csv", "table 1 (final).csv", "Müller_2026.csv", "Ångström.txt", "données.tsv",
		"日本語.csv", "файл.txt", "a", "v1.2.3.csv", "x+y=z@2026,ok.txt", "café.csv",
	}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want ok", n, err)
		}
	}
	bad := []struct{ name, why, want string }{
		{"", "empty", "empty"},
		{".", "dot", "directory reference"},
		{"..", "dotdot", "directory reference"},
		{"../etc/passwd", "traversal", "path separator"},
		{"a/../../b", "nested traversal", "path separator"},
		{"/etc/passwd", "absolute", "path separator"},
		{`..\windows`, "windows traversal", "path separator"},
		{`C:\x.csv`, "windows absolute", "path separator"},
		{"a\x00b.csv", "NUL", "NUL"},
		{"a\nb.csv", "newline", "control character U+000A"},
		{"a\tb.csv", "tab", "control character U+0009"},
		{"a\x7fb.csv", "DEL", "control character U+007F"},
		{"a\u0085b.csv", "C1 NEL", "control character U+0085"},
		{"invoice\u202Egpj.exe", "RLO bidi override", "bidirectional control U+202E"},
		{"a\u2066b\u2069.csv", "bidi isolate", "bidirectional control U+2066"},
		{"a\u200Fb.csv", "RLM", "bidirectional control U+200F"},
		{"a\u200Bb.csv", "zero-width space", "format character U+200B"},
		{"a\u200Db.csv", "zero-width joiner", "format character U+200D"},
		{"\uFEFFa.csv", "BOM", "format character U+FEFF"},
		{"a\u00ADb.csv", "soft hyphen", "format character U+00AD"},
		{"a\u00A0b.csv", "no-break space", "unusual space"},
		{"a\u2028b.csv", "line separator", "unusual space or separator U+2028"},
		{"a\uE000.csv", "private use", "private-use"},
		{"a\U000E0001.csv", "tag character", "format character"},
		{"a\u0378.csv", "unassigned", "unassigned"},
		{"cafe\u0301.csv", "NFD e+combining acute", "normalisation form C"},
		{"\u212Bngstrom.csv", "Angstrom sign singleton", "normalisation form C"},
		{"\u1100\u1161.txt", "conjoining jamo", "normalisation form C"},
		{"a\xffb.csv", "invalid UTF-8", "not valid UTF-8"},
		{"a\uFFFD.csv", "replacement char", "U+FFFD"},
		{"-rf.csv", "leading dash", "starts with '-'"},
		{".bashrc", "hidden", "hidden"},
		{"a.csv.", "trailing dot", "ends with"},
		{"a.csv ", "trailing space", "ends with"},
		{"a<b.csv", "angle", `'<'`},
		{"a:b.csv", "colon", `':'`},
		{"a|b.csv", "pipe", `'|'`},
		{"a*.csv", "star", `'*'`},
		{strings.Repeat("a", 256), "too long", "longer than 255"},
	}
	for _, tt := range bad {
		t.Run(tt.why, func(t *testing.T) {
			err := CheckName(tt.name)
			if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckName(%q) = %v, want ErrBadName containing %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestBlockedExt(t *testing.T) {
	blocked := map[string]bool{"exe": true, "bat": true}
	tests := []struct {
		name string
		want bool
	}{
		{"a.csv", false}, {"a.EXE", true}, {"a.csv.exe", true}, {"a.exe.csv", true}, {"exe", false}, {"a.bat", true}, {"a.executable", false},
	}
	for _, tt := range tests {
		if _, got := blockedExt(tt.name, blocked); got != tt.want {
			t.Errorf("blockedExt(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
