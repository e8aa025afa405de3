package network

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Indexes into the per-device configuration the kernel reports in a link
// dump (IFLA_AF_SPEC): IFLA_INET_CONF holds IPV4_DEVCONF_* - 1 as u32,
// IFLA_INET6_CONF holds DEVCONF_* as s32 (linux/ip.h, linux/ipv6.h).
const (
	ipv4DevconfARPAnnounce = 18
	ipv4DevconfARPIgnore   = 19
	devconfDisableIPv6     = 26
)

// hardenedLinks reads, in one netlink dump of the calling thread's network
// namespace, whether each link named "sd..." carries sded's hardening (see
// hardening): the values /proc/sys/net/*/conf/<link>/ shows, without
// opening three files per bridge (with hundreds of projects, that was most
// of the time Check spent listing links). A link without IPv6
// configuration (no IPv6 in the kernel or namespace) counts as IPv6-free.
func hardenedLinks() (map[string]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, fmt.Errorf("listing link configuration: %w", err)
	}
	out := map[string]bool{}
	for _, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, fmt.Errorf("parsing link configuration: %w", err)
		}
		var name string
		var spec []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				name = strings.TrimRight(string(a.Value), "\x00")
			case unix.IFLA_AF_SPEC:
				spec = a.Value
			}
		}
		if !strings.HasPrefix(name, "sd") {
			continue
		}
		h, err := hardenedSpec(spec)
		if err != nil {
			return nil, fmt.Errorf("parsing configuration of %q: %w", name, err)
		}
		out[name] = h
	}
	return out, nil
}

// hardenedSpec decides from a link's IFLA_AF_SPEC.
func hardenedSpec(spec []byte) (bool, error) {
	families, err := nl.ParseRouteAttr(spec)
	if err != nil {
		return false, err
	}
	v4ok, v6ok := false, true
	for _, fam := range families {
		confs, err := nl.ParseRouteAttr(fam.Value)
		if err != nil {
			return false, err
		}
		for _, c := range confs {
			switch {
			case fam.Attr.Type == unix.AF_INET && c.Attr.Type == unix.IFLA_INET_CONF:
				ignore, ok1 := devconf(c.Value, ipv4DevconfARPIgnore-1)
				announce, ok2 := devconf(c.Value, ipv4DevconfARPAnnounce-1)
				v4ok = ok1 && ok2 && ignore == 1 && announce == 2
			case fam.Attr.Type == unix.AF_INET6 && c.Attr.Type == unix.IFLA_INET6_CONF:
				disabled, ok := devconf(c.Value, devconfDisableIPv6)
				v6ok = ok && disabled == 1
			}
		}
	}
	return v4ok && v6ok, nil
}

// devconf returns element i of a devconf array (in host byte order).
func devconf(b []byte, i int) (uint32, bool) {
	if len(b) < (i+1)*4 {
		return 0, false
	}
	return nl.NativeEndian().Uint32(b[i*4:]), true
}
