package disclosure

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestFit(t *testing.T) {
	var b strings.Builder
	b.WriteString("g,count\n")
	for i := range 3000 {
		v := 100
		if i%3 == 0 {
			v = 2
		}
		fmt.Fprintf(&b, "cell-%04d,%d\n", i, v)
	}
	rec := NewRecord("r1", DefaultRules(), []FileRecord{check(t, "a.csv", b.String(), Options{MaxListedCells: 5000}), check(t, "b.csv", b.String(), Options{MaxListedCells: 5000})})
	full, _ := json.Marshal(rec)
	for _, max := range []int{len(full) + 1, 512 << 10, 100 << 10, 5 << 10} {
		got, err := rec.Fit(max)
		if err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		if len(got) > max {
			t.Errorf("max %d: got %d bytes", max, len(got))
		}
		var back Record
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		for _, f := range back.Files {
			if f.Status != Fail || f.RuleCounts["threshold"] != 1000 || f.SHA256 == "" {
				t.Errorf("max %d: lost the verdict: %+v", max, f.Summary)
			}
			for _, c := range f.Cells {
				if max < len(full) && c.Status == Pass {
					t.Errorf("max %d: a pass cell kept while truncating", max)
					break
				}
			}
			if max < len(full) != f.Truncated {
				t.Errorf("max %d: truncated = %v", max, f.Truncated)
			}
		}
	}
	if len(rec.Files[0].Cells) != 3000 {
		t.Error("Fit changed the original record")
	}
	if _, err := rec.Fit(100); err == nil {
		t.Error("impossible limit accepted")
	}
}

func TestTiers(t *testing.T) {
	tiers := DefaultTiers()
	if tiers.For(2) != DefaultRules() || tiers.For(4).Threshold != 20 {
		t.Errorf("defaults: %+v %+v", tiers.For(2), tiers.For(4))
	}
	if tiers.For(9).Threshold != 20 {
		t.Error("unknown high tier is not the strictest")
	}
	sparse := Tiers{1: DefaultRules(), 3: {Threshold: 30, NKN: 2, NKK: 0.9, PRatio: 0.1}}
	if sparse.For(2).Threshold != 30 || sparse.For(0).Threshold != 10 {
		t.Errorf("sparse: %+v %+v", sparse.For(2), sparse.For(0))
	}
	if (Tiers{}).For(1) != DefaultRules() {
		t.Error("empty tiers")
	}
}
