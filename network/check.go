package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Check compares the host with cfg without changing it and returns every
// difference. It also refreshes Manager's memory of the rules, so the next
// Set repairs all drift reported here. An empty result means the host matches.
func (m *Manager) Check(ctx context.Context, cfg Config) ([]Drift, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.normalized()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.sameNS(); err != nil {
		return nil, err
	}
	last := m.last
	m.last = nil
	ls, err := m.links.List(ctx)
	if err != nil {
		return nil, err
	}
	m.linkMem = ls
	drifts := linkDrift(c, ls)
	tables, fromMemory, err := m.observeChanged(ctx)
	if err != nil {
		return nil, err
	}
	if fromMemory && last != nil && sameConfig(*last, c) {
		// The kernel holds exactly the remembered tables, whose sded part
		// is exactly c's rules: no rule drift, and no need to build them.
		m.last = last
		return drifts, nil
	}
	want := desired(c)
	ruleDrifts := 0
	for _, f := range families {
		t := tables[f]
		m.applied[f] = &t
		d := ruleDrift(f, t, c.prefix(), want[f])
		ruleDrifts += len(d)
		drifts = append(drifts, d...)
	}
	if ruleDrifts == 0 {
		// sded's rules are exactly c's: the next Set may edit only what
		// changes from c.
		m.last = &c
	}
	return drifts, nil
}

// observeChanged returns the tables as the kernel holds them: from memory
// (fromMemory) when the ruleset generation shows nothing changed since
// Manager last knew them exactly (and the last full read is recent), else
// read afresh.
func (m *Manager) observeChanged(ctx context.Context) (tables map[family]table, fromMemory bool, err error) {
	if m.inSync && time.Since(m.lastFull) < fullCheckEvery {
		if g, err := m.generation(); err == nil && g == m.synced {
			out := map[family]table{}
			for _, f := range families {
				if m.applied[f] == nil {
					tables, err := m.observeAll(ctx)
					return tables, false, err
				}
				out[f] = *m.applied[f]
			}
			return out, true, nil
		}
	}
	tables, err = m.observeAll(ctx)
	return tables, false, err
}

// observeAll reads the three tables concurrently. On error Manager's memory
// of all of them is dropped.
func (m *Manager) observeAll(ctx context.Context) (map[family]table, error) {
	// The generation is read first: a change during the reads moves it on,
	// so the next Check reads again.
	g, genErr := m.generation()
	m.inSync = false
	type result struct {
		f   family
		t   table
		err error
	}
	ch := make(chan result, len(families))
	for _, f := range families {
		go func() {
			var t table
			err := m.inNS(func() (err error) { t, err = m.observe(ctx, f); return err })
			ch <- result{f, t, err}
		}()
	}
	out := map[family]table{}
	var errs []error
	for range families {
		r := <-ch
		out[r.f] = r.t
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if len(errs) > 0 {
		for _, f := range families {
			m.applied[f] = nil
		}
		return nil, errors.Join(errs...)
	}
	m.inSync, m.synced, m.lastFull = genErr == nil, g, time.Now()
	return out, nil
}

func linkDrift(c Config, ls []link) []Drift {
	var out []Drift
	byName := map[string]link{}
	for _, l := range ls {
		byName[l.Name] = l
	}
	want := map[string]bool{}
	ports := map[string]string{}
	for _, n := range c.Networks {
		want[n.Bridge] = true
		for _, h := range n.Hosts {
			ports[h.Port] = n.Bridge
		}
	}
	for _, n := range c.Networks {
		l, ok := byName[n.Bridge]
		switch {
		case !ok:
			out = append(out, Drift{Kind: DriftBridgeMissing, Object: n.Bridge, Detail: "network " + n.ID})
			continue
		case !l.owned():
			out = append(out, Drift{Kind: DriftBridgeMissing, Object: n.Bridge,
				Detail: fmt.Sprintf("name taken by a link sded does not own (kind %q, alias %q)", l.Kind, l.Alias)})
			continue
		}
		if !l.Up {
			out = append(out, Drift{Kind: DriftBridgeDown, Object: n.Bridge, Detail: "link is down"})
		}
		if !l.Hardened {
			out = append(out, Drift{Kind: DriftSysctl, Object: n.Bridge, Detail: "disable_ipv6, arp_ignore or arp_announce changed"})
		}
		gw := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
		if !slices.Contains(l.Addrs, gw) {
			out = append(out, Drift{Kind: DriftAddress, Object: n.Bridge, Detail: "missing " + gw.String()})
		}
		for _, a := range l.Addrs {
			if a != gw {
				out = append(out, Drift{Kind: DriftAddress, Object: n.Bridge, Detail: "unexpected " + a.String()})
			}
		}
	}
	for _, l := range ls {
		if l.owned() && !want[l.Name] {
			out = append(out, Drift{Kind: DriftBridgeStale, Object: l.Name, Detail: "alias " + l.Alias})
		}
		if master, ok := byName[l.Master]; ok && master.owned() && ports[l.Name] != l.Master {
			out = append(out, Drift{Kind: DriftPort, Object: l.Name, Detail: "attached to " + l.Master + " but configured for no workstation there"})
		}
	}
	return out
}

func ruleDrift(f family, t table, prefix string, rs ruleset) []Drift {
	var out []Drift
	add := func(k DriftKind, obj, detail string) {
		out = append(out, Drift{Kind: k, Family: string(f), Object: obj, Detail: detail})
	}
	chains := make([]string, 0, len(rs.chains))
	for name := range rs.chains {
		chains = append(chains, name)
	}
	slices.Sort(chains)
	for _, name := range chains {
		have, ok := t.chains[name]
		switch {
		case !ok:
			add(DriftChainMissing, name, fmt.Sprintf("want %d rules", len(rs.chains[name])))
		case !sameRules(unordered(f, prefix, name), have, rs.chains[name]):
			add(DriftChainChanged, name, fmt.Sprintf("have %d rules, want %d", len(have), len(rs.chains[name])))
		}
	}
	var stale []string
	for name := range t.chains {
		if _, ok := rs.chains[name]; owned(prefix, name) && !ok {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	for _, name := range stale {
		add(DriftChainStale, name, "no longer configured")
	}
	cn := names(prefix)
	for _, b := range []string{"INPUT", "FORWARD"} {
		jump := "-j " + cn.input
		if b == "FORWARD" {
			jump = "-j " + cn.forward
		}
		have := t.chains[b]
		n := 0
		for _, r := range have {
			if r == jump {
				n++
			}
		}
		_, want := rs.hooks[b]
		switch {
		case want && (n != 1 || have[0] != jump):
			add(DriftHook, b, fmt.Sprintf("want %q once as rule 1, found it %d times", jump, n))
		case !want && n > 0:
			add(DriftHook, b, fmt.Sprintf("stale %q", jump))
		}
	}
	return out
}
