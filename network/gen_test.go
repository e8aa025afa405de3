package network

import (
	"context"
	"github.com/sded/sded/test/testenv"
	"slices"
	"sync/atomic"
	"testing"
)

// TestNetnsGeneration: the generation moves by one per restore transaction
// and not otherwise.
func TestNetnsGeneration(t *testing.T) {
	ns, _ := inNS(t, Options{})
	var g0, g1, g2 uint32
	if err := ns.Do(func() (err error) { g0, err = nftGeneration(); return err }); err != nil {
		t.Fatal(err)
	}
	ns.MustRun(t, "iptables", "-N", "SDED-GENTEST")
	if err := ns.Do(func() (err error) { g1, err = nftGeneration(); return err }); err != nil {
		t.Fatal(err)
	}
	ns.MustRun(t, "iptables-save")
	if err := ns.Do(func() (err error) { g2, err = nftGeneration(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Logf("generations: %d, %d after a change, %d after a read", g0, g1, g2)
	if g1 != g0+1 || g2 != g1 {
		t.Fatalf("generation %d -> %d (change) -> %d (read); want +1 then unchanged", g0, g1, g2)
	}
}

type countingTable struct {
	ruleTable
	saves *atomic.Int32
}

func (c countingTable) Save(ctx context.Context) (string, error) {
	c.saves.Add(1)
	return c.ruleTable.Save(ctx)
}

// TestNetnsCheckSkipsUnchanged: after Set, a Check on an unchanged host does
// not read the tables (the ruleset generation did not move); a change by
// hand moves it, and the next Check reads everything and reports the drift.
func TestNetnsCheckSkipsUnchanged(t *testing.T) {
	ns, m := inNS(t, Options{})
	if m.gen == nil {
		if testenv.InCI() { // CI is Debian 12: iptables, ip6tables and ebtables all use nf_tables
			t.Fatal("not every family uses nf_tables on this host")
		}
		t.Skip("not every family uses nf_tables here")
	}
	var saves atomic.Int32
	for f, tb := range m.tables {
		m.tables[f] = countingTable{tb, &saves}
	}
	cfg := states()["all"]
	nsSet(t, ns, m, cfg)
	saves.Store(0)
	for range 3 {
		if d := nsCheck(t, ns, m, cfg); len(d) > 0 {
			t.Fatalf("drift: %v", d)
		}
	}
	if n := saves.Load(); n != 0 {
		t.Fatalf("Check read the tables %d times though nothing changed", n)
	}
	ns.MustRun(t, "iptables", "-D", "SDED-I-"+BridgeName("alpha")[2:], "-j", "DROP")
	d := nsCheck(t, ns, m, cfg)
	if n := saves.Load(); n != 3 || len(d) != 1 || d[0].Kind != DriftChainChanged {
		t.Fatalf("after a change by hand: %d reads, drift %v; want 3 reads and the changed chain", n, d)
	}
	nsSet(t, ns, m, cfg)
	saves.Store(0)
	if d := nsCheck(t, ns, m, cfg); len(d) > 0 || saves.Load() != 0 {
		t.Fatalf("after repair: drift %v, %d reads", d, saves.Load())
	}
}

// TestNetnsCheckOtherConfigFromMemory: a Check answered from memory (the
// generation did not move) still compares with the config it is given:
// one that differs from the last applied is reported as drift.
func TestNetnsCheckOtherConfigFromMemory(t *testing.T) {
	ns, m := inNS(t, Options{})
	if m.gen == nil {
		if testenv.InCI() {
			t.Fatal("not every family uses nf_tables on this host")
		}
		t.Skip("not every family uses nf_tables here")
	}
	all := states()
	nsSet(t, ns, m, all["all"])
	other := all["all-changed"]
	if d := nsCheck(t, ns, m, other); !slices.ContainsFunc(d, func(x Drift) bool { return x.Family != "" }) {
		t.Fatalf("no rule drift against another config: %v", d)
	}
	if d := nsCheck(t, ns, m, all["all"]); len(d) > 0 {
		t.Fatalf("drift against the applied config: %v", d)
	}
	nsSet(t, ns, m, other)
	if d := nsCheck(t, ns, m, other); len(d) > 0 {
		t.Fatalf("after Set: %v", d)
	}
}
