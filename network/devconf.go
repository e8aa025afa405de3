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

// dumpLinks lists the links of the calling thread's network namespace in
// one netlink dump, with what sded needs of each (no addresses) and, for
// bridges named "sd...", whether they carry sded's hardening (see
// hardening): the values /proc/sys/net/*/conf/<link>/ shows, read from the
// per-device configuration in the dump rather than from three files per
// bridge, which with hundreds of projects was most of Check's time. A link
// without IPv6 configuration (no IPv6 in the kernel or namespace) counts as
// IPv6-free. Links without a kind (physical devices) have kind "device".
func dumpLinks() ([]link, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	out := make([]link, 0, len(msgs))
	masters := make([]uint32, 0, len(msgs))
	byIndex := map[int]string{}
	for _, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			continue
		}
		info := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, fmt.Errorf("parsing link list: %w", err)
		}
		l := link{Index: int(info.Index), Kind: "device", Up: info.Flags&unix.IFF_UP != 0}
		var spec []byte
		var master uint32
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				l.Name = cString(a.Value)
			case unix.IFLA_IFALIAS:
				l.Alias = cString(a.Value)
			case unix.IFLA_MASTER:
				if len(a.Value) >= 4 {
					master = nl.NativeEndian().Uint32(a.Value)
				}
			case unix.IFLA_LINKINFO:
				infos, err := nl.ParseRouteAttr(a.Value)
				if err != nil {
					return nil, fmt.Errorf("parsing link info: %w", err)
				}
				for _, i := range infos {
					if i.Attr.Type == unix.IFLA_INFO_KIND {
						l.Kind = cString(i.Value)
					}
				}
			case unix.IFLA_AF_SPEC:
				spec = a.Value
			}
		}
		if l.Kind == "bridge" && strings.HasPrefix(l.Name, "sd") {
			if l.Hardened, err = hardenedSpec(spec); err != nil {
				return nil, fmt.Errorf("parsing configuration of %q: %w", l.Name, err)
			}
		}
		byIndex[l.Index] = l.Name
		out = append(out, l)
		masters = append(masters, master)
	}
	for i, m := range masters {
		if m != 0 {
			out[i].Master = byIndex[int(m)]
		}
	}
	return out, nil
}

func cString(b []byte) string { return strings.TrimRight(string(b), "\x00") }

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
