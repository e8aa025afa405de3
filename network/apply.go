package network

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// observeUnknown reads the tables Manager has no memory of.
func (m *Manager) observeUnknown(ctx context.Context) error {
	for _, f := range families {
		if m.applied[f] != nil {
			continue
		}
		tables, err := m.observeAll(ctx)
		if err != nil {
			return err
		}
		for _, g := range families {
			t := tables[g]
			m.applied[g] = &t
		}
		return nil
	}
	return nil
}

func (m *Manager) observe(ctx context.Context, f family) (table, error) {
	out, err := m.tables[f].Save(ctx)
	if err != nil {
		return table{}, err
	}
	return parseSave(out)
}

// applyRules brings every family to want, one atomic restore per family.
// When one fails, the families already changed are put back. It returns the
// rulesets that were in place before, for undo.
func (m *Manager) applyRules(ctx context.Context, prefix string, want map[family]ruleset) (prev map[family]ruleset, err error) {
	ch := map[family]change{}
	for _, f := range families {
		ch[f] = change{
			script: plan(*m.applied[f], prefix, want[f], f),
			next:   func(t table) table { return t.withRuleset(f, prefix, want[f]) },
		}
	}
	return m.applyChanges(ctx, prefix, ch)
}

// applyDelta replaces the rules of some networks, old (as the kernel holds
// them), by cur, one atomic restore per family, like applyRules.
func (m *Manager) applyDelta(ctx context.Context, prefix string, old, cur map[family]ruleset) error {
	ch := map[family]change{}
	for _, f := range families {
		ch[f] = change{
			script: deltaPlan(f, prefix, old[f], cur[f]),
			next:   func(t table) table { return t.withDelta(f, prefix, old[f], cur[f]) },
		}
	}
	_, err := m.applyChanges(ctx, prefix, ch)
	return err
}

// change is one family's restore script ("" for none) and what the table
// looks like after it succeeded.
type change struct {
	script string
	next   func(table) table
}

// applyChanges runs the scripts concurrently, one transaction each, and
// updates Manager's memory. When one fails, the families already changed
// are put back (to sded's part of the tables before) and the error returned
// with the rulesets that were in place before.
func (m *Manager) applyChanges(ctx context.Context, prefix string, ch map[family]change) (prev map[family]ruleset, err error) {
	before := map[family]*table{}
	scripts := map[family]string{}
	for _, f := range families {
		before[f] = m.applied[f]
		if s := ch[f].script; s != "" {
			scripts[f] = s
		}
	}
	// What was there before, for undo; computed only when needed.
	old := func() map[family]ruleset {
		out := map[family]ruleset{}
		for _, f := range families {
			out[f] = ownedRuleset(*before[f], prefix)
		}
		return out
	}
	g0, genErr := m.generation()
	// The families are independent tables: apply them concurrently, each
	// in one transaction.
	errs := map[family]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for f, script := range scripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.inNS(func() error { return m.tables[f].Restore(ctx, script) })
			mu.Lock()
			errs[f] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	var failed []error
	for _, f := range families {
		if _, ran := scripts[f]; !ran {
			continue
		}
		if errs[f] != nil {
			m.log.ErrorContext(ctx, "applying rules failed", "family", string(f), "err", errs[f])
			failed = append(failed, errs[f])
			continue
		}
		next := ch[f].next(*m.applied[f])
		m.applied[f] = &next
	}
	if len(failed) == 0 {
		// Still in sync if nobody else committed anything before or
		// between our transactions.
		g1, err1 := m.generation()
		inSync := m.inSync && genErr == nil && err1 == nil && g0 == m.synced && g1 == g0+uint32(len(scripts))
		m.inSync, m.synced = inSync, g1
		return nil, nil
	}
	m.inSync = false
	err = errors.Join(failed...)
	prev = old()
	for _, g := range families {
		if _, ran := scripts[g]; !ran || errs[g] != nil {
			continue
		}
		undo := plan(*m.applied[g], prefix, prev[g], g)
		if uerr := m.tables[g].Restore(ctx, undo); uerr != nil {
			m.applied[g] = nil
			err = errors.Join(err, fmt.Errorf("undoing %s rules: %w", g, uerr))
			continue
		}
		t := m.applied[g].withRuleset(g, prefix, prev[g])
		m.applied[g] = &t
	}
	return prev, err
}

// generation reads the ruleset generation, or fails when it is not tracked.
func (m *Manager) generation() (uint32, error) {
	if m.gen == nil {
		return 0, errors.New("ruleset generation not tracked")
	}
	return m.gen()
}

// rulesetsOf extracts sded's part of tables, for undo.
func rulesetsOf(tables map[family]*table, prefix string) map[family]ruleset {
	out := map[family]ruleset{}
	for f, t := range tables {
		out[f] = ownedRuleset(*t, prefix)
	}
	return out
}

// ownedRuleset extracts sded's part of t.
func ownedRuleset(t table, prefix string) ruleset {
	rs := newRuleset()
	for name, rules := range t.chains {
		if owned(prefix, name) {
			rs.chains[name] = slices.Clone(rules)
		}
	}
	cn := names(prefix)
	for b, jump := range map[string]string{"INPUT": "-j " + cn.input, "FORWARD": "-j " + cn.forward} {
		if slices.Contains(t.chains[b], jump) {
			rs.hooks[b] = jump
		}
	}
	return rs
}
