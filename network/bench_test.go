package network

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/network/netnstest"
)

// benchNetwork is project i of a benchmark: a /24, one gateway service, two
// workstations.
func benchNetwork(i int) Network {
	sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(100 + i/256), byte(i % 256), 0}), 24)
	n := Network{ID: fmt.Sprintf("bench-%04d", i), Subnet: sub, GatewayTCPPorts: []uint16{9443}}
	for h := range 2 {
		ip := sub.Addr().As4()
		ip[3] = byte(10 + h)
		n.Hosts = append(n.Hosts, Host{MAC: mac(fmt.Sprintf("52:54:01:%02x:%02x:%02x", i/256, i%256, h)), IP: netip.AddrFrom4(ip)})
	}
	return n
}

func benchConfig(from, to int) Config {
	var c Config
	for i := from; i < to; i++ {
		c.Networks = append(c.Networks, benchNetwork(i))
	}
	return c
}

// rawRestore loads scripts with the restore programs alone, started from
// threads inside ns, the three families concurrently as Set does, and
// returns the wall time.
func rawRestore(tb testing.TB, ns *netnstest.NS, scripts map[family]string) time.Duration {
	tb.Helper()
	prog := map[family][]string{famEB: {"ebtables-restore", "--noflush"}, famV6: {"ip6tables-restore", "--noflush", "-w", "5"},
		famV4: {"iptables-restore", "--noflush", "-w", "5"}}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(families))
	for _, f := range families {
		if scripts[f] == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ns.Do(func() error {
				cmd := exec.Command(prog[f][0], prog[f][1:]...)
				cmd.Stdin = strings.NewReader(scripts[f])
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("%s: %w: %s", f, err, out)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return d
}

// rawRun runs one program inside ns and returns its wall time.
func rawRun(tb testing.TB, ns *netnstest.NS, args ...string) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := ns.Do(func() error {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %w: %s", args, err, out)
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// rawBridge creates n's bridge as Set does (alias, hardening sysctls,
// gateway address, up) with ip and sysctl, and returns the wall time.
func rawBridge(tb testing.TB, ns *netnstest.NS, n Network) time.Duration {
	tb.Helper()
	br := n.Bridge
	gw := netip.PrefixFrom(n.Gateway, n.Subnet.Bits()).String()
	return rawRun(tb, ns, "ip", "link", "add", br, "type", "bridge") +
		rawRun(tb, ns, "sysctl", "-qw", "net.ipv6.conf."+br+".disable_ipv6=1", "net.ipv4.conf."+br+".arp_ignore=1",
			"net.ipv4.conf."+br+".arp_announce=2") +
		rawBatch(tb, ns, fmt.Sprintf("link set %s alias %s\naddr add %s dev %s\nlink set %s up\n", br, ownerAlias+n.ID, gw, br, br))
}

// rawBatch runs ip -batch with cmds on stdin inside ns.
func rawBatch(tb testing.TB, ns *netnstest.NS, cmds string) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := ns.Do(func() error {
		c := exec.Command("ip", "-batch", "-")
		c.Stdin = strings.NewReader(cmds)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("ip -batch: %w: %s", err, out)
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// rawSave runs the three save programs concurrently inside ns.
func rawSave(tb testing.TB, ns *netnstest.NS) time.Duration {
	tb.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range []string{"iptables-save", "ip6tables-save", "ebtables-save"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ns.Do(func() error { return exec.Command(c, "-t", "filter").Run() }); err != nil {
				tb.Error(err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func scriptsFor(cur map[family]table, c Config) map[family]string {
	out := map[family]string{}
	want := desired(c.normalized())
	for _, f := range families {
		out[f] = plan(cur[f], DefaultChainPrefix, want[f], f)
	}
	return out
}

func emptyTables() map[family]table {
	out := map[family]table{}
	for _, f := range families {
		out[f] = table{chains: map[string][]string{"INPUT": nil, "FORWARD": nil, "OUTPUT": nil}}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// BenchmarkColdStart200 brings up 200 projects from nothing (bridges,
// addresses, IPv6 off, all rules) and compares with loading the same rules
// with the three restore programs alone.
func BenchmarkColdStart200(b *testing.B) {
	const n = 200
	cfg := benchConfig(0, n)
	for range b.N {
		ns, m := inNS(b, Options{})
		start := time.Now()
		nsSet(b, ns, m, cfg)
		sded := time.Since(start)

		raw := netnstest.New(b, "raw")
		rawD := rawRestore(b, raw, scriptsFor(emptyTables(), cfg))
		b.ReportMetric(ms(sded), "sded-ms")
		b.ReportMetric(ms(rawD), "restore-ms")
		b.ReportMetric(float64(sded)/float64(rawD), "ratio")
		fmt.Fprintf(os.Stdout, "\ncold start, %d projects (2 workstations each):\n  sded Set        %8.1f ms  (bridges, addresses, sysctl, rules)\n  *tables-restore %8.1f ms  (same rules only)\n  ratio           %8.2f\n",
			n, ms(sded), ms(rawD), float64(sded)/float64(rawD))
	}
}

// BenchmarkAddProject adds one project while 200 and 500 exist, and
// removes it again: sded's Set (validate, diff, bridge, address, rules for
// all three families) against the restore programs loading that project's
// rule delta (the same scripts sded's incremental path produces) followed
// by ip and sysctl creating (deleting) the bridge the same way, in the same
// run. Target: p99 ≤ 100 ms for the add with 500 projects.
func BenchmarkAddProject(b *testing.B) {
	for _, n := range []int{200, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			const samples = 60
			base := benchConfig(0, n)
			for range b.N {
				ns, m := inNS(b, Options{})
				nsSet(b, ns, m, base)
				raw := netnstest.New(b, "raw")
				rawRestore(b, raw, scriptsFor(emptyTables(), base))
				var sdedD, rawD, sdedRm, rawRm []time.Duration
				for i := range samples {
					next := base
					next.Networks = append(slices.Clone(base.Networks), benchNetwork(n+i))
					start := time.Now()
					nsSet(b, ns, m, next)
					sdedD = append(sdedD, time.Since(start))
					start = time.Now()
					nsSet(b, ns, m, base)
					sdedRm = append(sdedRm, time.Since(start))

					add, rm := deltaScripts(base, next), deltaScripts(next, base)
					nn := next.normalized().Networks
					added := nn[slices.IndexFunc(nn, func(x Network) bool { return x.ID == benchNetwork(n+i).ID })]
					rawD = append(rawD, rawRestore(b, raw, add)+rawBridge(b, raw, added))
					rawRm = append(rawRm, rawRestore(b, raw, rm)+rawRun(b, raw, "ip", "link", "del", added.Bridge))
				}
				p50, p99 := pct(sdedD, 0.5), pct(sdedD, 0.99)
				r50 := pct(rawD, 0.5)
				b.ReportMetric(ms(p50), "p50-ms")
				b.ReportMetric(ms(p99), "p99-ms")
				b.ReportMetric(ms(r50), "restore-p50-ms")
				b.ReportMetric(float64(p50)/float64(r50), "ratio-p50")
				b.ReportMetric(ms(pct(sdedRm, 0.5)), "rm-p50-ms")
				b.ReportMetric(ms(pct(sdedRm, 0.99)), "rm-p99-ms")
				row := func(name string, a, b []time.Duration) string {
					return fmt.Sprintf("  %-27s %8.1f %8.1f %8.1f %8.1f\n", name, ms(pct(a, .5)), ms(pct(a, .99)), ms(pct(b, .5)), ms(pct(b, .99)))
				}
				ratio := func(a, b []time.Duration, p float64) float64 { return float64(pct(a, p)) / float64(pct(b, p)) }
				fmt.Fprintf(os.Stdout, "\nadd / remove one project with %d present (%d samples each):\n  %-27s %8s %8s %8s %8s\n%s%s  %-27s %8.2f %8.2f %8.2f %8.2f\n  target add p99 <= 100 ms: %v\n",
					n, samples, "", "add p50", "add p99", "rm p50", "rm p99",
					row("sded Set", sdedD, sdedRm),
					row("restore delta + ip/sysctl", rawD, rawRm),
					"ratio", ratio(sdedD, rawD, .5), ratio(sdedD, rawD, .99), ratio(sdedRm, rawRm, .5), ratio(sdedRm, rawRm, .99),
					p99 <= 100*time.Millisecond)
				start := time.Now()
				if d := nsCheck(b, ns, m, base); len(d) > 0 {
					b.Fatalf("drift after benchmark: %v", d[:min(len(d), 5)])
				}
				quick := time.Since(start)
				m.inSync = false // as after a change by someone else: read everything
				start = time.Now()
				nsCheck(b, ns, m, base)
				check := time.Since(start)
				saves := rawSave(b, ns)
				b.ReportMetric(ms(check), "check-ms")
				fmt.Fprintf(os.Stdout, "  Check with %d projects: %.1f ms when the ruleset generation is unchanged; %.1f ms reading everything,\n"+
					"    the three *-save alone (concurrently) %.1f ms (ratio %.2f)\n",
					n, ms(quick), ms(check), ms(saves), float64(check)/float64(saves))
			}
		})
	}
}

// deltaScripts is what the restore programs must run to go from a to b by
// editing only the networks that differ.
func deltaScripts(a, b Config) map[family]string {
	old, cur := changedNetworks(a.normalized(), b.normalized())
	o, c := networkRules(DefaultChainPrefix, old), networkRules(DefaultChainPrefix, cur)
	out := map[family]string{}
	for _, f := range families {
		out[f] = deltaPlan(f, DefaultChainPrefix, o[f], c[f])
	}
	return out
}
