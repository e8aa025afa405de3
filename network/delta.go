package network

import (
	"bytes"
	"maps"
	"slices"
	"strings"
)

// The incremental path. When Manager knows that sded's part of the tables
// it remembers is exactly desired(last) for the config last applied (or
// checked without rule drift), a Set changing a few networks computes only
// those networks' rules, old and new, and edits just their chains and their
// rules in the dispatch chains. Building the whole ruleset of hundreds of
// projects to diff it against memory is skipped. The result in the kernel is
// the same as the full path's (TestNetnsIncrementalEqualsCold).

// changedNetworks returns the old versions of the networks of last that c
// removes or changes and the new versions of those c adds or changes, both
// in bridge order (both configs are normalized).
func changedNetworks(last, c Config) (old, cur []Network) {
	prev := make(map[string]Network, len(last.Networks))
	for _, n := range last.Networks {
		prev[n.Bridge] = n
	}
	for _, n := range c.Networks {
		p, ok := prev[n.Bridge]
		if ok && sameNetwork(p, n) {
			delete(prev, n.Bridge)
			continue
		}
		if ok {
			old = append(old, p)
			delete(prev, n.Bridge)
		}
		cur = append(cur, n)
	}
	for _, n := range last.Networks {
		if _, gone := prev[n.Bridge]; gone {
			old = append(old, n)
		}
	}
	slices.SortFunc(old, func(a, b Network) int { return strings.Compare(a.Bridge, b.Bridge) })
	return old, cur
}

// sameNetwork reports whether a and b are equal in every field
// (TestSameNetworkFields fails when a field is added to Network or Host).
func sameNetwork(a, b Network) bool {
	if a.ID != b.ID || a.Bridge != b.Bridge || a.Subnet != b.Subnet || a.Gateway != b.Gateway ||
		a.IsolateWorkstations != b.IsolateWorkstations || !slices.Equal(a.GatewayTCPPorts, b.GatewayTCPPorts) ||
		!slices.Equal(a.Allow, b.Allow) || len(a.Hosts) != len(b.Hosts) {
		return false
	}
	for i, h := range a.Hosts {
		o := b.Hosts[i]
		if !bytes.Equal(h.MAC, o.MAC) || h.IP != o.IP || h.Hostname != o.Hostname || h.Port != o.Port {
			return false
		}
	}
	return true
}

// sameConfig reports whether two normalized configs are equal.
func sameConfig(a, b Config) bool {
	return a.prefix() == b.prefix() && slices.EqualFunc(a.Networks, b.Networks, sameNetwork)
}

// incremental reports whether going from last to c can take the
// incremental path: same chain prefix, and networks before and after, so
// the hooks, base and dispatch chains stay as they are.
func incremental(last *Config, c Config) bool {
	return last != nil && last.prefix() == c.prefix() && len(last.Networks) > 0 && len(c.Networks) > 0
}

// networkRules is the part of every family's ruleset that belongs to nets:
// their own chains, and their rules in the dispatch chains (in nets' order,
// as desired orders them).
func networkRules(p string, nets []Network) map[family]ruleset {
	out := map[family]ruleset{famEB: newRuleset(), famV6: newRuleset(), famV4: newRuleset()}
	for _, n := range nets {
		v4Rules(out[famV4], p, n)
		v6Rules(out[famV6], p, n)
		ebRules(out[famEB], p, n)
	}
	return out
}

// deltaPlan returns the restore input (for "--noflush") that replaces the
// rules old (some networks' part of the ruleset, as the kernel holds it)
// by cur, or "" when they are the same: new chains are created, changed
// ones edited, dropped ones flushed and deleted after the dispatch rules
// jumping to them; dispatch rules are deleted and appended one by one.
func deltaPlan(f family, prefix string, old, cur ruleset) string {
	eb := f == famEB
	var decl, body, tail []string
	for _, name := range slices.Sorted(maps.Keys(cur.chains)) {
		want := cur.chains[name]
		have, exists := old.chains[name]
		switch {
		case unordered(f, prefix, name):
			body = append(body, editUnordered(name, have, want)...)
		case !exists:
			if eb {
				decl = append(decl, ":"+name+" RETURN")
			} else {
				decl = append(decl, ":"+name+" - [0:0]")
			}
			for _, r := range want {
				body = append(body, "-A "+name+" "+r)
			}
		default:
			body = append(body, editChain(name, have, want)...)
		}
	}
	var stale []string
	for _, name := range slices.Sorted(maps.Keys(old.chains)) {
		if _, keep := cur.chains[name]; keep {
			continue
		}
		if unordered(f, prefix, name) {
			// The networks left the dispatch chain entirely.
			body = append(body, editUnordered(name, old.chains[name], nil)...)
			continue
		}
		stale = append(stale, name)
	}
	return restoreScript(decl, body, tail, stale)
}

// withDelta returns t after a successful restore of deltaPlan(old, cur).
// Like withRuleset, the result shares rule slices with t and cur.
func (t table) withDelta(f family, prefix string, old, cur ruleset) table {
	out := table{chains: maps.Clone(t.chains)}
	for name := range old.chains {
		if _, keep := cur.chains[name]; !keep && !unordered(f, prefix, name) {
			delete(out.chains, name)
		}
	}
	dispatch := map[string]bool{}
	for name := range old.chains {
		if unordered(f, prefix, name) {
			dispatch[name] = true
		}
	}
	for name, rules := range cur.chains {
		if unordered(f, prefix, name) {
			dispatch[name] = true
			continue
		}
		out.chains[name] = rules
	}
	for name := range dispatch {
		out.chains[name] = editedUnordered(t.chains[name], old.chains[name], cur.chains[name])
	}
	return out
}

// editedUnordered is what an unordered chain holding have looks like after
// editUnordered(old, cur): the rules of old that cur lacks deleted (the
// first match each, as "-D" does), cur's new ones appended.
func editedUnordered(have, old, cur []string) []string {
	left := map[string]int{}
	for _, r := range cur {
		left[r]++
	}
	del := map[string]int{}
	for _, r := range old {
		if left[r] > 0 {
			left[r]--
			continue
		}
		del[r]++
	}
	out := make([]string, 0, len(have)+len(cur))
	for _, r := range have {
		if del[r] > 0 {
			del[r]--
			continue
		}
		out = append(out, r)
	}
	for _, r := range cur {
		if left[r] > 0 {
			left[r]--
			out = append(out, r)
		}
	}
	return out
}
