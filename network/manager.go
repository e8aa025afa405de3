package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// ErrAddressConflict means a configured subnet is already used by a link sded
// does not own.
var ErrAddressConflict = errors.New("address conflict")

// Options configure a Manager.
type Options struct {
	Tools ToolPaths
}

// Manager applies Configs to the network namespace it was created in. It is
// safe for concurrent use; calls are serialized.
//
// Manager remembers the rules it applied, so Set only writes what changed
// (and does not re-read the kernel's tables each time). Check re-reads
// everything, reports drift and refreshes that memory, so a Set after a Check
// repairs what the Check found.
type Manager struct {
	log    *slog.Logger
	links  links
	tables map[family]ruleTable
	sameNS func() error
	// inNS runs fn on a thread in the manager's network namespace, so
	// programs it starts from other goroutines act there too.
	inNS    func(fn func() error) error
	closeFn func()

	mu      sync.Mutex
	applied map[family]*table // nil: unknown, read before the next Set
	linkMem []link            // nil: unknown, listed before the next Set

	// With every family on nf_tables, gen reads the kernel's ruleset
	// generation: while it stays at synced, applied is exactly what the
	// kernel holds and Check need not read the tables (it still does every
	// fullCheckEvery).
	gen      func() (uint32, error)
	synced   uint32
	inSync   bool
	lastFull time.Time
}

// fullCheckEvery bounds how long Check trusts an unchanged ruleset
// generation before reading every table again anyway.
const fullCheckEvery = time.Minute

// New returns a Manager for the calling thread's network namespace (lock the
// OS thread first when that is not the process's namespace). It fails with
// ErrToolMissing when iptables, ip6tables or ebtables is absent.
func New(ctx context.Context, log *slog.Logger, opts Options) (*Manager, error) {
	tables, mode, err := newExecTables(opts.Tools)
	if err != nil {
		return nil, err
	}
	origin, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("reading network namespace: %w", err)
	}
	h, err := netlink.NewHandle()
	if err != nil {
		origin.Close()
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	m := newManager(log, netlinkLinks{h: h}, tables)
	if allNFTables(tables) {
		m.gen = nftGeneration
	}
	log.InfoContext(ctx, "network manager ready", "iptables_backend", mode, "generation_tracking", m.gen != nil)
	m.sameNS = func() error {
		cur, err := netns.Get()
		if err != nil {
			return fmt.Errorf("reading network namespace: %w", err)
		}
		defer cur.Close()
		if !cur.Equal(origin) {
			return errors.New("called from another network namespace than the manager was created in (lock the OS thread)")
		}
		return nil
	}
	m.inNS = func(fn func() error) error {
		// A goroutine started by the caller may run on any thread: lock
		// one, move it into the namespace and let it die with the goroutine
		// (it is never unlocked, so it never runs other goroutines).
		ch := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			if err := netns.Set(origin); err != nil {
				ch <- fmt.Errorf("entering network namespace: %w", err)
				return
			}
			ch <- fn()
		}()
		return <-ch
	}
	m.closeFn = func() { h.Close(); origin.Close() }
	return m, nil
}

func newManager(log *slog.Logger, l links, tables map[family]ruleTable) *Manager {
	return &Manager{log: log, links: l, tables: tables, sameNS: func() error { return nil }, closeFn: func() {},
		inNS: func(fn func() error) error { return fn() }, applied: map[family]*table{}}
}

// Close releases the netlink handle. It changes nothing on the host.
func (m *Manager) Close() { m.closeFn() }

// Set makes the host match cfg: it creates, updates and removes sded's
// bridges (only links carrying sded's alias), their gateway addresses and
// sysctls (no IPv6, ARP hardening), detaches ports that are no configured
// workstation, and
// rewrites what changed in sded's chains. On error nothing of this call stays
// applied, except removals of bridges no longer configured.
func (m *Manager) Set(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	c := cfg.normalized()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.sameNS(); err != nil {
		return err
	}
	err := m.set(ctx, c)
	if err == nil || errors.Is(err, ErrNameCollision) || errors.Is(err, ErrAddressConflict) ||
		errors.Is(err, ErrLocked) || errors.Is(err, ErrToolMissing) || ctx.Err() != nil {
		return err
	}
	// The host may have changed behind Manager's memory (a chain or bridge
	// removed by hand since the last Check), making the planned changes
	// invalid; the failed attempt has been undone. Forget, read the host
	// afresh and try once more.
	m.log.WarnContext(ctx, "network set failed, retrying from a fresh view of the host", "err", err)
	m.linkMem = nil
	for _, f := range families {
		m.applied[f] = nil
	}
	if rerr := m.set(ctx, c); rerr != nil {
		return errors.Join(err, rerr)
	}
	return nil
}

func (m *Manager) set(ctx context.Context, c Config) error {
	ls, err := m.knownLinks(ctx, c)
	if err != nil {
		return err
	}
	if err := preflight(c, ls); err != nil {
		return err
	}
	if err := m.observeUnknown(ctx); err != nil {
		return err
	}
	// From here on, any error leaves the link memory unknown: the next Set
	// or Check lists the links again.
	m.linkMem = nil
	want := map[string]bool{}
	for _, n := range c.Networks {
		want[n.Bridge] = true
	}
	var kept []link
	for _, l := range ls {
		if l.owned() && !want[l.Name] {
			if err := m.links.Delete(ctx, l.Name); err != nil {
				return err
			}
			m.log.InfoContext(ctx, "removed bridge", "bridge", l.Name, "alias", l.Alias)
			continue
		}
		kept = append(kept, l)
	}
	before := maps.Clone(m.applied)
	if _, err := m.applyRules(ctx, c.prefix(), desired(c)); err != nil {
		return err
	}
	after, err := m.applyLinks(ctx, c, kept)
	if err != nil {
		if _, uerr := m.applyRules(ctx, c.prefix(), rulesetsOf(before, c.prefix())); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undoing rules: %w", uerr))
		}
		return err
	}
	m.linkMem = after
	return nil
}

// knownLinks returns the links as last listed and changed by Manager (listing
// them when unknown), after looking up afresh every bridge name c needs that
// Manager has not created, so a link that appeared since is never taken over.
func (m *Manager) knownLinks(ctx context.Context, c Config) ([]link, error) {
	if m.linkMem == nil {
		ls, err := m.links.List(ctx)
		if err != nil {
			return nil, err
		}
		m.linkMem = ls
	}
	known := map[string]bool{}
	for _, l := range m.linkMem {
		known[l.Name] = l.owned()
	}
	ls := slices.Clone(m.linkMem)
	fresh := false
	for _, n := range c.Networks {
		if known[n.Bridge] {
			continue
		}
		fresh = true
		l, ok, err := m.links.Get(ctx, n.Bridge)
		if err != nil {
			return nil, err
		}
		if ok {
			m.linkMem = nil // memory was stale
			ls = append(ls, l)
		}
	}
	if !fresh {
		return ls, nil
	}
	// New networks: check their subnets against the host's current addresses.
	byIndex := map[int]string{}
	for _, l := range ls {
		if l.Index != 0 {
			byIndex[l.Index] = l.Name
		}
	}
	owners, err := m.links.AddrOwners(ctx, byIndex)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, l := range ls {
		idx[l.Name] = i
	}
	for a, name := range owners {
		i, ok := idx[name]
		if !ok {
			idx[name] = len(ls)
			ls = append(ls, link{Name: name})
			i = idx[name]
		}
		if !slices.Contains(ls[i].Addrs, a) {
			ls[i].Addrs = append(slices.Clone(ls[i].Addrs), a)
		}
	}
	return ls, nil
}

// preflight refuses a config whose bridge names or subnets are taken by links
// sded does not own, before anything is changed.
func preflight(c Config, ls []link) error {
	var errs []error
	byName := map[string]link{}
	var foreign []link // links with addresses that sded does not own
	for _, l := range ls {
		byName[l.Name] = l
		if !l.owned() && len(l.Addrs) > 0 {
			foreign = append(foreign, l)
		}
	}
	for _, n := range c.Networks {
		if l, ok := byName[n.Bridge]; ok && !l.owned() {
			errs = append(errs, fmt.Errorf("network %q: %w: %q exists (kind %q, alias %q) and is not sded's",
				n.ID, ErrNameCollision, n.Bridge, l.Kind, l.Alias))
		}
		for _, h := range n.Hosts {
			if l, ok := byName[h.Port]; ok && l.Kind == "bridge" {
				errs = append(errs, fmt.Errorf("network %q: %w: port name %q is a bridge", n.ID, ErrNameCollision, h.Port))
			}
		}
		for _, l := range foreign {
			for _, a := range l.Addrs {
				if a.Overlaps(n.Subnet) {
					errs = append(errs, fmt.Errorf("network %q: %w: subnet %v overlaps %v on %q",
						n.ID, ErrAddressConflict, n.Subnet, a, l.Name))
				}
			}
		}
	}
	return errors.Join(errs...)
}

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
	before := map[family]*table{}
	scripts := map[family]string{}
	for _, f := range families {
		before[f] = m.applied[f]
		if s := plan(*m.applied[f], prefix, want[f], f); s != "" {
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
		next := m.applied[f].withRuleset(f, prefix, want[f])
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

// applyLinks creates and repairs the configured bridges. On error it deletes
// the bridges it created.
func (m *Manager) applyLinks(ctx context.Context, c Config, ls []link) (after []link, err error) {
	byName := map[string]link{}
	for _, l := range ls {
		byName[l.Name] = l
	}
	var created []string
	defer func() {
		if err == nil {
			return
		}
		for _, name := range created {
			if derr := m.links.Delete(ctx, name); derr != nil {
				err = errors.Join(err, fmt.Errorf("undoing: %w", derr))
			}
		}
	}()
	ports := map[string]string{} // port -> its bridge
	for _, n := range c.Networks {
		for _, h := range n.Hosts {
			ports[h.Port] = n.Bridge
		}
	}
	for _, n := range c.Networks {
		l, exists := byName[n.Bridge]
		if !exists {
			index, err := m.links.AddBridge(ctx, n.Bridge, ownerAlias+n.ID)
			if err != nil {
				return nil, fmt.Errorf("network %q: %w", n.ID, err)
			}
			created = append(created, n.Bridge)
			l = link{Index: index, Name: n.Bridge, Kind: "bridge", Alias: ownerAlias + n.ID}
			m.log.InfoContext(ctx, "created bridge", "bridge", n.Bridge, "network", n.ID)
		}
		if !l.Hardened {
			if err := m.links.Harden(ctx, n.Bridge); err != nil {
				return nil, err
			}
		}
		gw := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
		for _, a := range l.Addrs {
			if a != gw {
				if err := m.links.DelAddr(ctx, n.Bridge, a); err != nil {
					return nil, err
				}
			}
		}
		if !slices.Contains(l.Addrs, gw) {
			if err := m.links.AddAddr(ctx, n.Bridge, gw); err != nil {
				return nil, err
			}
		}
		if !l.Up {
			if err := m.links.SetUp(ctx, n.Bridge); err != nil {
				return nil, err
			}
		}
		l.Up, l.Hardened, l.Addrs = true, true, []netip.Prefix{gw}
		byName[n.Bridge] = l
	}
	for _, l := range ls {
		master, ok := byName[l.Master]
		if l.Master == "" || !ok || !master.owned() || ports[l.Name] == l.Master {
			continue
		}
		if err := m.links.SetNoMaster(ctx, l.Name); err != nil {
			return nil, err
		}
		m.log.WarnContext(ctx, "detached unexpected port from sded bridge", "port", l.Name, "bridge", l.Master)
		l.Master = ""
		byName[l.Name] = l
	}
	after = make([]link, 0, len(byName))
	for _, l := range byName {
		after = append(after, l)
	}
	slices.SortFunc(after, func(a, b link) int { return strings.Compare(a.Name, b.Name) })
	return after, nil
}
