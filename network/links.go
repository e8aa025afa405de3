package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
)

// link is what sded needs to know of one network interface.
type link struct {
	Index  int // 0 when unknown (fakes)
	Name   string
	Kind   string // "bridge", "veth", "tun", ...
	Alias  string
	Master string // name of the bridge it is a port of, if any
	Up     bool
	Addrs  []netip.Prefix // IPv4 only
	// Hardened is read for sd* bridges only: IPv6 is disabled and the host
	// answers ARP only for the bridge's own address (see hardening).
	Hardened bool
}

// ownerAlias marks a bridge as sded's: its alias is ownerAlias + network ID.
// A link named like an sded bridge without this alias is never touched.
const ownerAlias = "sded:"

func (l link) owned() bool {
	return l.Kind == "bridge" && strings.HasPrefix(l.Name, "sd") && strings.HasPrefix(l.Alias, ownerAlias)
}

// links is the slice of netlink that Manager uses.
type links interface {
	List(ctx context.Context) ([]link, error)
	Get(ctx context.Context, name string) (l link, ok bool, err error)
	AddrOwners(ctx context.Context, known map[int]string) (map[netip.Prefix]string, error)
	AddBridge(ctx context.Context, name, alias string) (index int, err error)
	Delete(ctx context.Context, name string) error
	SetUp(ctx context.Context, name string) error
	AddAddr(ctx context.Context, name string, p netip.Prefix) error
	DelAddr(ctx context.Context, name string, p netip.Prefix) error
	Harden(ctx context.Context, name string) error
	SetNoMaster(ctx context.Context, name string) error
}

// netlinkLinks implements links with a netlink handle bound to the network
// namespace it was created in.
type netlinkLinks struct{ h *netlink.Handle }

func (n netlinkLinks) List(_ context.Context) ([]link, error) {
	out, err := dumpLinks()
	if err != nil {
		return nil, err
	}
	addrs, err := n.h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	pos := make(map[int]int, len(out))
	for i, l := range out {
		pos[l.Index] = i
	}
	for _, a := range addrs {
		if i, ok := pos[a.LinkIndex]; ok && a.IPNet != nil {
			ip, _ := netip.AddrFromSlice(a.IP.To4())
			ones, _ := a.Mask.Size()
			out[i].Addrs = append(out[i].Addrs, netip.PrefixFrom(ip, ones))
		}
	}
	return out, nil
}

func (n netlinkLinks) Get(_ context.Context, name string) (link, bool, error) {
	l, err := n.h.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return link{}, false, nil
	}
	if err != nil {
		return link{}, false, fmt.Errorf("finding link %q: %w", name, err)
	}
	a := l.Attrs()
	return link{Index: a.Index, Name: a.Name, Kind: l.Type(), Alias: a.Alias, Up: a.Flags&net.FlagUp != 0}, true, nil
}

// AddrOwners maps every IPv4 address on the host to its link's name; known
// maps link indexes to names already known, the others are looked up.
func (n netlinkLinks) AddrOwners(_ context.Context, known map[int]string) (map[netip.Prefix]string, error) {
	addrs, err := n.h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	out := map[netip.Prefix]string{}
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		name, ok := known[a.LinkIndex]
		if !ok {
			l, err := n.h.LinkByIndex(a.LinkIndex)
			if err != nil {
				continue // gone meanwhile
			}
			name = l.Attrs().Name
		}
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		out[netip.PrefixFrom(ip, ones)] = name
	}
	return out, nil
}

func (n netlinkLinks) AddBridge(_ context.Context, name, alias string) (int, error) {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := n.h.LinkAdd(br); err != nil {
		return 0, fmt.Errorf("creating bridge %q: %w", name, err)
	}
	if err := n.h.LinkSetAlias(br, alias); err != nil {
		return 0, fmt.Errorf("marking bridge %q as sded's: %w", name, err)
	}
	return br.Attrs().Index, nil
}

func (n netlinkLinks) byName(name string) (netlink.Link, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding link %q: %w", name, err)
	}
	return l, nil
}

func (n netlinkLinks) Delete(_ context.Context, name string) error {
	l, err := n.byName(name)
	if err != nil {
		return err
	}
	if err := n.h.LinkDel(l); err != nil {
		return fmt.Errorf("deleting link %q: %w", name, err)
	}
	return nil
}

func (n netlinkLinks) SetUp(_ context.Context, name string) error {
	l, err := n.byName(name)
	if err != nil {
		return err
	}
	if err := n.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("setting link %q up: %w", name, err)
	}
	return nil
}

func addrOf(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}

func (n netlinkLinks) AddAddr(_ context.Context, name string, p netip.Prefix) error {
	l, err := n.byName(name)
	if err != nil {
		return err
	}
	if err := n.h.AddrAdd(l, addrOf(p)); err != nil {
		return fmt.Errorf("adding address %v to %q: %w", p, name, err)
	}
	return nil
}

func (n netlinkLinks) DelAddr(_ context.Context, name string, p netip.Prefix) error {
	l, err := n.byName(name)
	if err != nil {
		return err
	}
	if err := n.h.AddrDel(l, addrOf(p)); err != nil {
		return fmt.Errorf("removing address %v from %q: %w", p, name, err)
	}
	return nil
}

func (n netlinkLinks) SetNoMaster(_ context.Context, name string) error {
	l, err := n.byName(name)
	if err != nil {
		return err
	}
	if err := n.h.LinkSetNoMaster(l); err != nil {
		return fmt.Errorf("detaching %q from its bridge: %w", name, err)
	}
	return nil
}

// hardening is the per-bridge sysctls sded sets: no IPv6 at all on the
// bridge (the host gets no address there, link-local included), and ARP
// answered only for addresses of the bridge itself, so a workstation cannot
// discover the host's other addresses (its uplink, other projects'
// gateways) by ARP. The files are those of the calling thread's network
// namespace, which Manager checks is the one it was created in.
var hardening = []struct{ path, value string }{
	{"/proc/sys/net/ipv6/conf/%s/disable_ipv6", "1"},
	{"/proc/sys/net/ipv4/conf/%s/arp_ignore", "1"},
	{"/proc/sys/net/ipv4/conf/%s/arp_announce", "2"},
}

func hardened(name string) (bool, error) {
	for _, h := range hardening {
		b, err := os.ReadFile(fmt.Sprintf(h.path, name))
		if errors.Is(err, fs.ErrNotExist) && strings.Contains(h.path, "ipv6") {
			continue // no IPv6 in this kernel or namespace
		}
		if err != nil {
			return false, fmt.Errorf("reading %s of %q: %w", h.path, name, err)
		}
		if strings.TrimSpace(string(b)) != h.value {
			return false, nil
		}
	}
	return true, nil
}

func (n netlinkLinks) Harden(_ context.Context, name string) error {
	for _, h := range hardening {
		err := os.WriteFile(fmt.Sprintf(h.path, name), []byte(h.value), 0o644)
		if errors.Is(err, fs.ErrNotExist) && strings.Contains(h.path, "ipv6") {
			continue
		}
		if err != nil {
			return fmt.Errorf("setting %s of %q: %w", h.path, name, err)
		}
	}
	return nil
}
