package network

import (
	"fmt"
	"testing"
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
	var got map[string]bool
	want := map[string]bool{}
	if err := ns.Do(func() (err error) {
		if got, err = hardenedLinks(); err != nil {
			return err
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
