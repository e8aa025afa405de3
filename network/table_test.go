package network

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestEditChain: for random pairs of rule lists (with shared prefixes and
// suffixes, insertions, deletions, reorderings and duplicates), the commands
// editChain emits turn the first into the second exactly.
func TestEditChain(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rule := func() string { return fmt.Sprintf("-i sd%d -j X", r.IntN(12)) }
	list := func(n int) []string {
		var l []string
		for range n {
			l = append(l, rule())
		}
		return l
	}
	for i := range 5000 {
		have := list(r.IntN(10))
		var want []string
		switch r.IntN(4) {
		case 0:
			want = list(r.IntN(10))
		case 1: // insert some
			want = slices.Clone(have)
			for range 1 + r.IntN(3) {
				want = slices.Insert(want, r.IntN(len(want)+1), rule())
			}
		case 2: // delete some
			want = slices.Clone(have)
			for range 1 + r.IntN(3) {
				if len(want) > 0 {
					k := r.IntN(len(want))
					want = slices.Delete(want, k, k+1)
				}
			}
		case 3: // swap two
			want = slices.Clone(have)
			if len(want) > 1 {
				a, b := r.IntN(len(want)), r.IntN(len(want))
				want[a], want[b] = want[b], want[a]
			}
		}
		tb := table{chains: map[string][]string{"C": slices.Clone(have), "X": nil}}
		cmds := editChain("C", have, want)
		for _, c := range cmds {
			if err := tb.apply(c); err != nil {
				t.Fatalf("case %d: %q: %v\nhave %q\nwant %q\ncmds %q", i, c, err, have, want, cmds)
			}
		}
		if !slices.Equal(tb.chains["C"], want) && !(len(want) == 0 && len(tb.chains["C"]) == 0) {
			t.Fatalf("case %d:\nhave %q\nwant %q\ncmds %s\ngot  %q", i, have, want, strings.Join(cmds, "\n"), tb.chains["C"])
		}
	}
}
