package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

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
