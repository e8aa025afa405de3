package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
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
	// last is the config whose rules sded's part of applied holds exactly
	// (set by a successful Set, and by a Check that found no rule drift);
	// nil when unknown. With it, Set edits only the networks that changed.
	last *Config

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
			// Already there (the daemon's case: the process's own
			// namespace): no setns, which needs CAP_SYS_ADMIN that the
			// hardened systemd unit does not grant.
			if cur, err := netns.Get(); err == nil {
				same := cur.Equal(origin)
				cur.Close()
				if same {
					ch <- fn()
					return
				}
			}
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
	last := m.last
	// Unknown until this call succeeds.
	m.last = nil
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
	var kept, stale []link
	for _, l := range ls {
		if l.owned() && !want[l.Name] {
			stale = append(stale, l)
			continue
		}
		kept = append(kept, l)
	}
	// Deleting a bridge takes the kernel tens of milliseconds (it waits for
	// RCU grace periods), mostly idle: do it while the rules change. The
	// order does not matter, both only take away.
	removed := make(chan error, 1)
	go func() { removed <- m.removeBridges(ctx, stale) }()
	before := maps.Clone(m.applied)
	var rerr error
	if incremental(last, c) {
		old, cur := changedNetworks(*last, c)
		rerr = m.applyDelta(ctx, c.prefix(), networkRules(c.prefix(), old), networkRules(c.prefix(), cur))
	} else {
		_, rerr = m.applyRules(ctx, c.prefix(), desired(c))
	}
	if derr := <-removed; derr != nil {
		if rerr == nil {
			// Like a failure to create links below: put the rules back.
			if _, uerr := m.applyRules(ctx, c.prefix(), rulesetsOf(before, c.prefix())); uerr != nil {
				derr = errors.Join(derr, fmt.Errorf("undoing rules: %w", uerr))
			}
		}
		return errors.Join(rerr, derr)
	}
	if rerr != nil {
		return rerr
	}
	after, err := m.applyLinks(ctx, c, kept)
	if err != nil {
		if _, uerr := m.applyRules(ctx, c.prefix(), rulesetsOf(before, c.prefix())); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undoing rules: %w", uerr))
		}
		return err
	}
	m.linkMem = after
	m.last = &c
	return nil
}

// removeBridges deletes sded's bridges that are no longer configured, and
// stops at the first failure.
func (m *Manager) removeBridges(ctx context.Context, stale []link) error {
	for _, l := range stale {
		if err := m.links.Delete(ctx, l.Name); err != nil {
			return err
		}
		m.log.InfoContext(ctx, "removed bridge", "bridge", l.Name, "alias", l.Alias)
	}
	return nil
}
