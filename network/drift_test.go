package network

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDriftRepair tampers with a converged host in each way Check must see:
// Check reports exactly that drift, Set repairs it, and the host is back to
// the state applied from scratch.
func TestDriftRepair(t *testing.T) {
	cfg := states()["all"]
	alpha, beta := BridgeName("alpha"), BridgeName("beta")
	bKey := "SDED-B-" + alpha[2:]
	tests := []struct {
		name   string
		tamper func(h *fakeHost)
		want   []Drift
	}{
		{"bridge deleted", func(h *fakeHost) { delete(h.links.l, alpha) },
			[]Drift{{Kind: DriftBridgeMissing, Object: alpha, Detail: "network alpha"}}},
		{"bridge down", func(h *fakeHost) { h.links.l[alpha].Up = false },
			[]Drift{{Kind: DriftBridgeDown, Object: alpha, Detail: "link is down"}}},
		{"ipv6 enabled", func(h *fakeHost) { h.links.l[beta].Hardened = false },
			[]Drift{{Kind: DriftSysctl, Object: beta, Detail: "disable_ipv6, arp_ignore or arp_announce changed"}}},
		{"address changed", func(h *fakeHost) { h.links.l[alpha].Addrs = []netip.Prefix{netip.MustParsePrefix("10.77.1.99/24")} },
			[]Drift{
				{Kind: DriftAddress, Object: alpha, Detail: "missing 10.77.1.1/24"},
				{Kind: DriftAddress, Object: alpha, Detail: "unexpected 10.77.1.99/24"},
			}},
		{"stale bridge", func(h *fakeHost) { h.links.l["sdold"] = &link{Name: "sdold", Kind: "bridge", Alias: "sded:old"} },
			[]Drift{{Kind: DriftBridgeStale, Object: "sdold", Detail: "alias sded:old"}}},
		{"foreign port", func(h *fakeHost) { h.links.l["veth9"] = &link{Name: "veth9", Kind: "veth", Master: alpha} },
			[]Drift{{Kind: DriftPort, Object: "veth9", Detail: "attached to " + alpha + " but configured for no workstation there"}}},
		{"port on wrong bridge", func(h *fakeHost) {
			h.links.l["sdv52540000010a"] = &link{Name: "sdv52540000010a", Kind: "tun", Master: beta}
		}, []Drift{{Kind: DriftPort, Object: "sdv52540000010a", Detail: "attached to " + beta + " but configured for no workstation there"}}},
		{"rule deleted", func(h *fakeHost) {
			r := h.tables[famEB].t.chains[bKey]
			h.tables[famEB].t.chains[bKey] = slices.Delete(r, 0, 1)
		}, []Drift{{Kind: DriftChainChanged, Family: "eb", Object: bKey, Detail: "have 5 rules, want 6"}}},
		{"chain flushed and deleted", func(h *fakeHost) {
			delete(h.tables[famV4].t.chains, "SDED-I-"+alpha[2:])
			h.tables[famV4].t.chains["SDED-INPUT"] = h.tables[famV4].t.chains["SDED-INPUT"][1:]
		}, []Drift{
			{Kind: DriftChainMissing, Family: "ipv4", Object: "SDED-I-" + alpha[2:], Detail: "want 4 rules"},
			{Kind: DriftChainChanged, Family: "ipv4", Object: "SDED-INPUT", Detail: "have 2 rules, want 3"},
		}},
		{"hook moved below host rules", func(h *fakeHost) {
			h.tables[famV6].t.chains["INPUT"] = []string{"-i lo -j ACCEPT", "-j SDED-INPUT"}
		}, []Drift{{Kind: DriftHook, Family: "ipv6", Object: "INPUT", Detail: `want "-j SDED-INPUT" once as rule 1, found it 1 times`}}},
		{"hook duplicated", func(h *fakeHost) {
			h.tables[famV4].t.chains["FORWARD"] = append(h.tables[famV4].t.chains["FORWARD"], "-j SDED-FORWARD")
		}, []Drift{{Kind: DriftHook, Family: "ipv4", Object: "FORWARD", Detail: `want "-j SDED-FORWARD" once as rule 1, found it 2 times`}}},
		{"stale chain", func(h *fakeHost) { h.tables[famV4].t.chains["SDED-I-gone"] = []string{"-j DROP"} },
			[]Drift{{Kind: DriftChainStale, Family: "ipv4", Object: "SDED-I-gone", Detail: "no longer configured"}}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := newFakeHost()
			if err := want.m.Set(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			h := newFakeHost()
			if err := h.m.Set(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			tt.tamper(h)
			got, err := h.m.Check(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
			if err := h.m.Set(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			// The foreign port is detached, not deleted: compare without it.
			delete(h.links.l, "veth9")
			if l, ok := h.links.l["sdv52540000010a"]; ok && l.Master == "" {
				delete(h.links.l, "sdv52540000010a")
			}
			if diff := cmp.Diff(want.dump(), h.dump()); diff != "" {
				t.Errorf("after repair (-want +got):\n%s", diff)
			}
			if d, err := h.m.Check(ctx, cfg); err != nil || len(d) > 0 {
				t.Errorf("Check after repair: %v %v", d, err)
			}
		})
	}
}

// TestStaleMemoryHeals: the host changed by hand and no Check ran, so
// Manager's plan for the next config is built on a wrong view (it edits a
// chain that is gone, adds an address to a bridge that is gone). Set notices
// the failure, reads the host afresh and still converges.
func TestStaleMemoryHeals(t *testing.T) {
	ctx := context.Background()
	all := states()
	h := newFakeHost()
	if err := h.m.Set(ctx, all["all"]); err != nil {
		t.Fatal(err)
	}
	alpha, beta := BridgeName("alpha"), BridgeName("beta")
	v4 := h.tables[famV4].t
	delete(v4.chains, "SDED-F-"+alpha[2:])
	v4.chains["SDED-FORWARD"] = slices.DeleteFunc(v4.chains["SDED-FORWARD"], func(r string) bool { return strings.Contains(r, alpha) })
	delete(h.links.l, beta)
	var logs bytes.Buffer
	h.m.log = slog.New(slog.NewTextHandler(&logs, nil))
	if err := h.m.Set(ctx, all["all-changed"]); err != nil {
		t.Fatalf("Set on a stale view: %v", err)
	}
	if !strings.Contains(logs.String(), "retrying from a fresh view") {
		t.Errorf("the stale view went unnoticed; logs:\n%s", logs.String())
	}
	want := newFakeHost()
	if err := want.m.Set(ctx, all["all-changed"]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.dump(), h.dump()); diff != "" {
		t.Errorf("not converged (-want +got):\n%s", diff)
	}
}
