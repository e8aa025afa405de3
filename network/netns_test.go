package network

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/testenv"
)

// inNS creates a throwaway namespace with a Manager created inside it. Call
// the Manager only through ns.Do.
func inNS(t *testing.T) (*netnstest.NS, *Manager) {
	t.Helper()
	testenv.RequireRoot(t)
	for _, c := range []string{"iptables-restore", "ip6tables-restore", "ebtables-restore", "ip"} {
		testenv.RequireCommand(t, c)
	}
	ns := netnstest.New(t, "net")
	var m *Manager
	if err := ns.Do(func() (err error) {
		m, err = New(context.Background(), slog.New(slog.DiscardHandler), Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return ns, m
}

func TestNetnsExplore(t *testing.T) {
	ns, m := inNS(t)
	cfg := Config{Networks: []Network{netAlpha, netBeta, netGamma}}
	ctx := context.Background()
	if err := ns.Do(func() error { return m.Set(ctx, cfg) }); err != nil {
		t.Fatal(err)
	}
	var d []Drift
	if err := ns.Do(func() (err error) { d, err = m.Check(ctx, cfg); return err }); err != nil {
		t.Fatal(err)
	}
	for _, x := range d {
		t.Log(x)
	}
	t.Log(ns.MustRun(t, "iptables-save"))
	t.Log(ns.MustRun(t, "ebtables-save"))
	t.Log(ns.MustRun(t, "ip", "-d", "addr"))
}
