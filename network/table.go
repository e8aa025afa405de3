package network

import (
	"bufio"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// table is the observed filter table of one family: every chain (built-in and
// user) with its rules in order, as iptables-save / ebtables-save print them.
type table struct {
	chains map[string][]string
}

// parseSave reads the filter table out of iptables-save or ebtables-save output.
func parseSave(out string) (table, error) {
	t := table{chains: map[string][]string{}}
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			in = line == "*filter"
		case !in:
		case line == "COMMIT":
			in = false
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if _, ok := t.chains[name]; !ok {
				t.chains[name] = nil
			}
		case strings.HasPrefix(line, "-A "):
			chain, rule, _ := strings.Cut(line[3:], " ")
			if _, ok := t.chains[chain]; !ok {
				return table{}, fmt.Errorf("parsing saved rules: rule for undeclared chain %q", chain)
			}
			t.chains[chain] = append(t.chains[chain], rule)
		default:
			return table{}, fmt.Errorf("parsing saved rules: unexpected line %q", line)
		}
	}
	return t, sc.Err()
}

func (t table) clone() table {
	c := table{chains: make(map[string][]string, len(t.chains))}
	for k, v := range t.chains {
		c.chains[k] = slices.Clone(v)
	}
	return c
}

// owned reports whether chain belongs to sded (prefix "SDED-...").
func owned(prefix, chain string) bool { return strings.HasPrefix(chain, prefix+"-") }

// unordered reports whether the order of chain's rules is irrelevant (each
// rule matches its own interface and decides, or jumps to a chain that
// does): the dispatch chains. New rules are appended to them and removed
// ones deleted, never inserted at a position, which is much cheaper for the
// nf_tables tools on long chains.
func unordered(f family, prefix, chain string) bool {
	if f == famEB {
		return chain == prefix+"-PORTS-IN" || chain == prefix+"-PORTS-FWD"
	}
	return chain == prefix+"-INPUT" || chain == prefix+"-FORWARD"
}

// sameRules compares two rule lists, as multisets for unordered chains.
func sameRules(unord bool, a, b []string) bool {
	if !unord {
		return slices.Equal(a, b)
	}
	if len(a) != len(b) {
		return false
	}
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// mergeUnordered is what an unordered chain holds after editUnordered:
// the kept rules in their order, then the added ones.
func mergeUnordered(have, want []string) []string {
	left := map[string]int{}
	for _, r := range want {
		left[r]++
	}
	var out []string
	for _, r := range have {
		if left[r] > 0 {
			left[r]--
			out = append(out, r)
		}
	}
	for _, r := range want {
		if left[r] > 0 {
			left[r]--
			out = append(out, r)
		}
	}
	return out
}

// editUnordered deletes the rules of have that want lacks and appends the
// ones it adds.
func editUnordered(name string, have, want []string) []string {
	left := map[string]int{}
	for _, r := range want {
		left[r]++
	}
	var cmds []string
	for _, r := range have {
		if left[r] > 0 {
			left[r]--
			continue
		}
		cmds = append(cmds, "-D "+name+" "+r)
	}
	for _, r := range want {
		if left[r] > 0 {
			left[r]--
			cmds = append(cmds, "-A "+name+" "+r)
		}
	}
	return cmds
}

// withRuleset returns t with sded's part replaced by rs: what t looks like
// after a successful restore of plan(t, rs).
// The result shares rule slices with t and rs; neither is modified later.
func (t table) withRuleset(f family, prefix string, rs ruleset) table {
	out := table{chains: maps.Clone(t.chains)}
	for name := range out.chains {
		if owned(prefix, name) {
			if _, keep := rs.chains[name]; !keep {
				delete(out.chains, name)
			}
		}
	}
	for name, rules := range rs.chains {
		if have, ok := t.chains[name]; ok && unordered(f, prefix, name) {
			out.chains[name] = mergeUnordered(have, rules)
			continue
		}
		out.chains[name] = rules
	}
	for _, b := range []string{"INPUT", "FORWARD"} {
		jump := "-j " + names(prefix).input
		if b == "FORWARD" {
			jump = "-j " + names(prefix).forward
		}
		rules := slices.DeleteFunc(slices.Clone(out.chains[b]), func(r string) bool { return r == jump })
		if h, ok := rs.hooks[b]; ok {
			rules = append([]string{h}, rules...)
		}
		if _, exists := out.chains[b]; exists || len(rules) > 0 {
			out.chains[b] = rules
		}
	}
	return out
}

// plan returns the restore input (for "--noflush") that turns sded's part of
// cur into rs, touching only what differs, or "" when nothing does. Other
// chains are never named except for the one jump sded keeps first in INPUT
// and FORWARD. eb selects ebtables syntax for new chains.
func plan(cur table, prefix string, rs ruleset, f family) string {
	eb := f == famEB
	var decl, body, tail []string
	chains := make([]string, 0, len(rs.chains))
	for name := range rs.chains {
		chains = append(chains, name)
	}
	slices.Sort(chains)
	for _, name := range chains {
		want := rs.chains[name]
		have, exists := cur.chains[name]
		if !exists {
			if eb {
				decl = append(decl, ":"+name+" RETURN")
			} else {
				decl = append(decl, ":"+name+" - [0:0]")
			}
			for _, r := range want {
				body = append(body, "-A "+name+" "+r)
			}
			continue
		}
		if unordered(f, prefix, name) {
			body = append(body, editUnordered(name, have, want)...)
			continue
		}
		body = append(body, editChain(name, have, want)...)
	}
	cn := names(prefix)
	for _, b := range []string{"INPUT", "FORWARD"} {
		jump := "-j " + cn.input
		if b == "FORWARD" {
			jump = "-j " + cn.forward
		}
		have := cur.chains[b]
		n := 0
		for _, r := range have {
			if r == jump {
				n++
			}
		}
		_, want := rs.hooks[b]
		if want && n == 1 && len(have) > 0 && have[0] == jump {
			continue
		}
		for range n {
			body = append(body, "-D "+b+" "+jump)
		}
		if want {
			body = append(body, "-I "+b+" 1 "+jump)
		}
	}
	var stale []string
	for name := range cur.chains {
		if _, keep := rs.chains[name]; owned(prefix, name) && !keep {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	return restoreScript(decl, body, tail, stale)
}

// restoreScript assembles a *-restore --noflush script for the filter
// table: chain declarations, rule edits, then tail, then the stale chains
// flushed and deleted; "" when there is nothing to do.
func restoreScript(decl, body, tail, stale []string) string {
	for _, name := range stale {
		tail = append(tail, "-F "+name)
	}
	for _, name := range stale {
		tail = append(tail, "-X "+name)
	}
	if len(decl)+len(body)+len(tail) == 0 {
		return ""
	}
	lines := append([]string{"*filter"}, decl...)
	lines = append(lines, body...)
	lines = append(lines, tail...)
	lines = append(lines, "COMMIT", "")
	return strings.Join(lines, "\n")
}

// editChain returns the commands turning have into want: deletions and
// positional inserts when the surviving rules keep their order, otherwise a
// flush and a rewrite.
func editChain(name string, have, want []string) []string {
	if slices.Equal(have, want) {
		return nil
	}
	// Only the middle, between the common prefix and suffix, differs (for
	// a project added or removed, that is its own rules).
	pre := 0
	for pre < len(have) && pre < len(want) && have[pre] == want[pre] {
		pre++
	}
	suf := 0
	for suf < len(have)-pre && suf < len(want)-pre && have[len(have)-1-suf] == want[len(want)-1-suf] {
		suf++
	}
	if cmds, ok := editMiddle(name, pre, have[pre:len(have)-suf], want[pre:len(want)-suf], have, want); ok {
		return cmds
	}
	return rewriteChain(name, want)
}

func rewriteChain(name string, want []string) []string {
	cmds := []string{"-F " + name}
	for _, r := range want {
		cmds = append(cmds, "-A "+name+" "+r)
	}
	return cmds
}

// editMiddle turns have into want where they differ only in the middle
// parts (starting at index pre), with deletions and positional inserts, if
// it can do so unambiguously and more cheaply than a rewrite.
func editMiddle(name string, pre int, have, want, fullHave, fullWant []string) ([]string, bool) {
	wantSet := map[string]bool{}
	for _, r := range want {
		if wantSet[r] {
			return nil, false
		}
		wantSet[r] = true
	}
	haveSet := map[string]bool{}
	var kept, cmds []string
	for _, r := range have {
		if haveSet[r] {
			return nil, false
		}
		haveSet[r] = true
		if wantSet[r] {
			kept = append(kept, r)
		} else {
			cmds = append(cmds, "-D "+name+" "+r)
		}
	}
	// A deleted rule must not also appear outside the middle, or "-D"
	// (which removes the first match) could hit that copy instead; an
	// identical copy would leave the same list, but stay strict.
	for _, c := range cmds {
		r := c[len("-D "+name+" "):]
		if slices.Contains(fullHave[:pre], r) {
			return nil, false
		}
	}
	j := 0
	for _, r := range want {
		if j < len(kept) && kept[j] == r {
			j++
		}
	}
	if j != len(kept) {
		return nil, false
	}
	for i, r := range want {
		if !haveSet[r] {
			cmds = append(cmds, "-I "+name+" "+strconv.Itoa(pre+i+1)+" "+r)
		}
	}
	if len(cmds) > len(fullWant)+1 {
		return nil, false
	}
	return cmds, true
}
