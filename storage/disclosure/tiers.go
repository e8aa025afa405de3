package disclosure

// Tiers maps a project's data tier (0-4, as in the Turing Data Safe Haven)
// to the disclosure rules of its exports.
type Tiers map[int]Rules

// DefaultTiers applies ACRO's defaults to tiers 0-3 and stricter rules to
// tier 4 (highly sensitive): threshold 20, dominance 2 / 0.8, p-ratio 0.2.
// Operators override per tier in configuration.
func DefaultTiers() Tiers {
	strict := DefaultRules()
	strict.Threshold, strict.NKK, strict.PRatio = 20, 0.8, 0.2
	return Tiers{0: DefaultRules(), 1: DefaultRules(), 2: DefaultRules(), 3: DefaultRules(), 4: strict}
}

// For returns the rules of tier. An unknown tier gets the rules of the
// nearest higher tier defined, else the strictest defined (never laxer).
func (t Tiers) For(tier int) Rules {
	if r, ok := t[tier]; ok {
		return r
	}
	best, found := 0, false
	for k := range t {
		if k > tier && (!found || k < best) {
			best, found = k, true
		}
	}
	if found {
		return t[best]
	}
	for k := range t {
		if !found || k > best {
			best, found = k, true
		}
	}
	if found {
		return t[best]
	}
	return DefaultRules()
}
