package network

import (
	"fmt"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

// TestNetnsHardenedLinks: the hardening state read from one netlink dump
// equals what /proc/sys shows, for every combination of the three sysctls.
func TestNetnsHardenedLinks(t *testing.T) {
	requireTools(t)
	ns, _ := inNS(t, Options{})
	sysctls := []string{"net.ipv6.conf.%s.disable_ipv6", "net.ipv4.conf.%s.arp_ignore", "net.ipv4.conf.%s.arp_announce"}
	hardenedValues := []string{"1", "1", "2"}
	for combo := range 8 {
		name := fmt.Sprintf("sdtest%d", combo)
		ns.MustRun(t, "ip", "link", "add", name, "type", "bridge")
		for i, s := range sysctls {
			v := "0"
			if combo&(1<<i) != 0 {
				v = hardenedValues[i]
			}
			ns.MustRun(t, "sysctl", "-qw", fmt.Sprintf(s, name)+"="+v)
		}
	}
	got := map[string]bool{}
	want := map[string]bool{}
	if err := ns.Do(func() (err error) {
		ls, err := dumpLinks()
		if err != nil {
			return err
		}
		for _, l := range ls {
			got[l.Name] = l.Hardened
		}
		for combo := range 8 {
			name := fmt.Sprintf("sdtest%d", combo)
			if want[name], err = hardened(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: netlink says hardened=%v, /proc/sys says %v", name, got[name], w)
		}
	}
	if !want["sdtest7"] || want["sdtest3"] {
		t.Fatalf("procfs oracle unexpected: %v", want)
	}
}

// TestNetnsDumpLinks: dumpLinks reports what the netlink library's full
// link list does (index, name, kind, alias, up, master) for bridges, veths
// attached to them, the veths' peers, links up and down, with and without alias.
func TestNetnsDumpLinks(t *testing.T) {
	requireTools(t)
	ns, _ := inNS(t, Options{})
	for _, c := range [][]string{
		{"ip", "link", "add", "sdbr1", "type", "bridge"},
		{"ip", "link", "set", "sdbr1", "alias", "sded:one"},
		{"ip", "link", "set", "sdbr1", "up"},
		{"ip", "link", "add", "sdvport1", "type", "veth", "peer", "name", "peer1"},
		{"ip", "link", "set", "sdvport1", "master", "sdbr1"},
		{"ip", "link", "add", "other1", "type", "bridge"},
		{"ip", "link", "set", "other1", "alias", "with spaces and \u00e9"},
	} {
		ns.MustRun(t, c...)
	}
	var got, want []link
	if err := ns.Do(func() (err error) {
		if got, err = dumpLinks(); err != nil {
			return err
		}
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		ls, err := h.LinkList()
		if err != nil {
			return err
		}
		names := map[int]string{}
		for _, l := range ls {
			names[l.Attrs().Index] = l.Attrs().Name
		}
		for _, l := range ls {
			a := l.Attrs()
			kind := l.Type()
			if kind == "tuntap" {
				kind = "tun"
			}
			want = append(want, link{Index: a.Index, Name: a.Name, Kind: kind, Alias: a.Alias,
				Up: a.Flags&net.FlagUp != 0, Master: names[a.MasterIndex]})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].Hardened = false
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("dumpLinks (-netlink library +got):\n%s", diff)
	}
}
