package network

import (
	"context"
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// states are the configs the state tests move between.
func states() map[string]Config {
	alpha2 := netAlpha
	alpha2.IsolateWorkstations = true
	alpha2.GatewayTCPPorts = []uint16{9443}
	alpha2.Hosts = append(slices.Clone(netAlpha.Hosts[1:]), Host{MAC: mac("52:54:00:00:01:0c"), IP: netip.MustParseAddr("10.77.1.12"), Port: "sdvcustom1"})
	beta2 := netBeta
	beta2.Allow = nil
	beta2.Subnet = netip.MustParsePrefix("10.77.20.0/24")
	beta2.Hosts = []Host{{MAC: mac("52:54:00:00:02:0a"), IP: netip.MustParseAddr("10.77.20.10")}}
	return map[string]Config{
		"empty":            {},
		"alpha":            {Networks: []Network{netAlpha}},
		"alpha-beta":       {Networks: []Network{netAlpha, netBeta}},
		"beta-gamma":       {Networks: []Network{netBeta, netGamma}},
		"all":              {Networks: []Network{netGamma, netAlpha, netBeta}},
		"alpha2-beta2":     {Networks: []Network{alpha2, beta2}},
		"alpha2-gamma":     {Networks: []Network{netGamma, alpha2}},
		"all-changed":      {Networks: []Network{alpha2, beta2, netGamma}},
		"other-prefix-all": {ChainPrefix: "SDEDX", Networks: []Network{netAlpha}},
	}
}

// TestStateGolden pins the from-scratch state of one config: bridges and
// every family's rules as the fakes print them (go test -update rewrites it).
func TestStateGolden(t *testing.T) {
	h := newFakeHost()
	if err := h.m.Set(context.Background(), states()["all"]); err != nil {
		t.Fatal(err)
	}
	got := h.dump()
	path := filepath.Join("testdata", "all.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("state differs from %s (-want +got):\n%s", path, diff)
	}
}

// TestStateTransitions applies the configs in random orders: after every
// transition the host must look exactly as if that config had been applied
// from scratch, Check must find no drift, a second Set must change nothing,
// and the host's own links, chains and rules must be untouched.
func TestStateTransitions(t *testing.T) {
	ctx := context.Background()
	all := states()
	var keys []string
	for k := range all {
		if k != "other-prefix-all" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	fresh := map[string]string{}
	for _, k := range keys {
		h := newFakeHost()
		if err := h.m.Set(ctx, all[k]); err != nil {
			t.Fatalf("%s from scratch: %v", k, err)
		}
		fresh[k] = h.dump()
	}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		h := newFakeHost()
		path := []string{}
		for range 25 {
			k := keys[r.IntN(len(keys))]
			path = append(path, k)
			if err := h.m.Set(ctx, all[k]); err != nil {
				t.Fatalf("seed %d, path %v: %v", seed, path, err)
			}
			if diff := cmp.Diff(fresh[k], h.dump()); diff != "" {
				t.Fatalf("seed %d, path %v: state differs from scratch (-scratch +got):\n%s", seed, path, diff)
			}
			n := restores(h)
			if err := h.m.Set(ctx, all[k]); err != nil || restores(h) != n {
				t.Fatalf("seed %d, path %v: repeated Set not a no-op (err %v, %d restores)", seed, path, err, restores(h)-n)
			}
			if d, err := h.m.Check(ctx, all[k]); err != nil || len(d) > 0 {
				t.Fatalf("seed %d, path %v: Check after Set: %v %v", seed, path, d, err)
			}
			assertForeignKept(t, h)
		}
	}
}

func restores(h *fakeHost) int {
	n := 0
	for _, f := range h.tables {
		n += f.n
	}
	return n
}

func assertForeignKept(t *testing.T, h *fakeHost) {
	t.Helper()
	for _, name := range []string{"eth0", "docker0", "sdfoo"} {
		if _, ok := h.links.l[name]; !ok {
			t.Fatalf("foreign link %s was removed", name)
		}
	}
	for f, ft := range h.tables {
		if got := ft.t.chains["HOST-FWD"]; !slices.Equal(got, []string{"-j DROP"}) {
			t.Fatalf("%s: host chain HOST-FWD changed: %v", f, got)
		}
		in := slices.DeleteFunc(slices.Clone(ft.t.chains["INPUT"]), func(r string) bool { return strings.HasPrefix(r, "-j SDED") })
		if !slices.Equal(in, []string{"-i lo -j ACCEPT"}) {
			t.Fatalf("%s: host INPUT rules changed: %v", f, in)
		}
	}
}

// TestEmptyConfigRemovesEverything: Set(empty) leaves exactly the host's own state.
func TestEmptyConfigRemovesEverything(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost()
	before := h.dump()
	if err := h.m.Set(ctx, states()["all"]); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Set(ctx, Config{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, h.dump()); diff != "" {
		t.Errorf("empty config left state behind (-before +after):\n%s", diff)
	}
}
