package network

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// fakeTable is an in-memory filter table that understands the restore
// commands sded emits and prints itself like *-save. It applies a script all
// or nothing, like the real tools, and rejects anything the kernel would.
type fakeTable struct {
	t    table
	eb   bool
	fam  family
	fail func(script string) error // optional injected failure
	n    int                       // restores applied
}

func newFakeTable(eb bool) *fakeTable {
	t := table{chains: map[string][]string{"INPUT": nil, "FORWARD": nil, "OUTPUT": nil}}
	return &fakeTable{t: t, eb: eb}
}

var builtins = []string{"INPUT", "FORWARD", "OUTPUT"}

func (f *fakeTable) Save(context.Context) (string, error) { return f.dump(), nil }

func (f *fakeTable) dump() string {
	var b strings.Builder
	b.WriteString("*filter\n")
	var user []string
	for name := range f.t.chains {
		if !slices.Contains(builtins, name) {
			user = append(user, name)
		}
	}
	slices.Sort(user)
	for _, name := range builtins {
		fmt.Fprintf(&b, ":%s ACCEPT\n", name)
	}
	for _, name := range user {
		fmt.Fprintf(&b, ":%s -\n", name)
	}
	for _, name := range append(slices.Clone(builtins), user...) {
		rules := f.t.chains[name]
		if unordered(f.fam, DefaultChainPrefix, name) {
			rules = slices.Sorted(slices.Values(rules)) // order is irrelevant there
		}
		for _, r := range rules {
			fmt.Fprintf(&b, "-A %s %s\n", name, r)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func (f *fakeTable) Restore(_ context.Context, script string) error {
	if f.fail != nil {
		if err := f.fail(script); err != nil {
			return err
		}
	}
	t := f.t.clone()
	lines := strings.Split(strings.TrimSpace(script), "\n")
	if len(lines) < 2 || lines[0] != "*filter" || lines[len(lines)-1] != "COMMIT" {
		return fmt.Errorf("fake: script must be *filter ... COMMIT, got %q", script)
	}
	for _, line := range lines[1 : len(lines)-1] {
		if err := t.apply(line); err != nil {
			return fmt.Errorf("fake restore: %q: %w", line, err)
		}
	}
	f.t = t
	f.n++
	return nil
}

func (t table) apply(line string) error {
	if strings.HasPrefix(line, ":") {
		name, _, _ := strings.Cut(line[1:], " ")
		if _, ok := t.chains[name]; ok {
			return fmt.Errorf("chain exists")
		}
		t.chains[name] = nil
		return nil
	}
	op, rest, _ := strings.Cut(line, " ")
	chain, rule, _ := strings.Cut(rest, " ")
	rules, ok := t.chains[chain]
	if !ok {
		return fmt.Errorf("no chain %q", chain)
	}
	if i := strings.LastIndex(rule, "-j "); i >= 0 && (op == "-A" || op == "-I") {
		target := rule[i+3:]
		if _, exists := t.chains[target]; !exists && target != "ACCEPT" && target != "DROP" && target != "RETURN" {
			return fmt.Errorf("jump to missing chain %q", target)
		}
	}
	switch op {
	case "-A":
		t.chains[chain] = append(rules, rule)
	case "-I":
		pos, r, _ := strings.Cut(rule, " ")
		n, err := strconv.Atoi(pos)
		if err != nil || n < 1 || n > len(rules)+1 {
			return fmt.Errorf("bad position %q", pos)
		}
		t.chains[chain] = slices.Insert(rules, n-1, r)
	case "-D":
		i := slices.Index(rules, rule)
		if i < 0 {
			return fmt.Errorf("no such rule")
		}
		t.chains[chain] = slices.Delete(rules, i, i+1)
	case "-F":
		t.chains[chain] = nil
	case "-X":
		if len(rules) > 0 || slices.Contains(builtins, chain) {
			return fmt.Errorf("chain not empty or built in")
		}
		for name, rs := range t.chains {
			for _, r := range rs {
				if strings.HasSuffix(r, "-j "+chain) {
					return fmt.Errorf("chain referenced from %s", name)
				}
			}
		}
		delete(t.chains, chain)
	default:
		return fmt.Errorf("unknown command")
	}
	return nil
}

// fakeLinks is an in-memory link table.
type fakeLinks struct {
	l    map[string]*link
	fail func(op, name string) error
}

func newFakeLinks() *fakeLinks { return &fakeLinks{l: map[string]*link{}} }

func (f *fakeLinks) err(op, name string) error {
	if f.fail != nil {
		return f.fail(op, name)
	}
	return nil
}

func (f *fakeLinks) get(name string) (*link, error) {
	l, ok := f.l[name]
	if !ok {
		return nil, fmt.Errorf("fake: no link %q", name)
	}
	return l, nil
}

func (f *fakeLinks) List(context.Context) ([]link, error) {
	var out []link
	for _, l := range f.l {
		c := *l
		c.Addrs = slices.Clone(l.Addrs)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b link) int { return strings.Compare(a.Name, b.Name) })
	return out, f.err("list", "")
}

func (f *fakeLinks) Get(_ context.Context, name string) (link, bool, error) {
	l, ok := f.l[name]
	if !ok {
		return link{}, false, f.err("get", name)
	}
	c := *l
	c.Addrs = slices.Clone(l.Addrs)
	return c, true, f.err("get", name)
}

func (f *fakeLinks) AddrOwners(context.Context, map[int]string) (map[netip.Prefix]string, error) {
	out := map[netip.Prefix]string{}
	for _, l := range f.l {
		for _, a := range l.Addrs {
			out[a] = l.Name
		}
	}
	return out, f.err("addrs", "")
}

func (f *fakeLinks) AddBridge(_ context.Context, name, alias string) (int, error) {
	if err := f.err("add", name); err != nil {
		return 0, err
	}
	if _, ok := f.l[name]; ok {
		return 0, fmt.Errorf("fake: %q exists", name)
	}
	f.l[name] = &link{Name: name, Kind: "bridge", Alias: alias}
	return 0, nil
}

func (f *fakeLinks) Delete(_ context.Context, name string) error {
	if _, err := f.get(name); err != nil {
		return err
	}
	delete(f.l, name)
	for _, l := range f.l {
		if l.Master == name {
			l.Master = ""
		}
	}
	return f.err("delete", name)
}

func (f *fakeLinks) SetUp(_ context.Context, name string) error {
	l, err := f.get(name)
	if err != nil {
		return err
	}
	l.Up = true
	return f.err("up", name)
}

func (f *fakeLinks) AddAddr(_ context.Context, name string, p netip.Prefix) error {
	l, err := f.get(name)
	if err != nil {
		return err
	}
	if err := f.err("addaddr", name); err != nil {
		return err
	}
	l.Addrs = append(l.Addrs, p)
	return nil
}

func (f *fakeLinks) DelAddr(_ context.Context, name string, p netip.Prefix) error {
	l, err := f.get(name)
	if err != nil {
		return err
	}
	l.Addrs = slices.DeleteFunc(l.Addrs, func(a netip.Prefix) bool { return a == p })
	return nil
}

func (f *fakeLinks) Harden(_ context.Context, name string) error {
	l, err := f.get(name)
	if err != nil {
		return err
	}
	l.Hardened = true
	return nil
}

func (f *fakeLinks) SetNoMaster(_ context.Context, name string) error {
	l, err := f.get(name)
	if err != nil {
		return err
	}
	l.Master = ""
	return nil
}

func (f *fakeLinks) dump() string {
	ls, _ := f.List(context.Background())
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s kind=%s alias=%q up=%v hardened=%v master=%q addrs=%v\n",
			l.Name, l.Kind, l.Alias, l.Up, l.Hardened, l.Master, l.Addrs)
	}
	return b.String()
}

// fakeHost is a Manager over fakes, with some foreign state sded must keep.
type fakeHost struct {
	links  *fakeLinks
	tables map[family]*fakeTable
	m      *Manager
}

func newFakeHost() *fakeHost {
	h := &fakeHost{links: newFakeLinks(), tables: map[family]*fakeTable{}}
	tabs := map[family]ruleTable{}
	for _, f := range families {
		ft := newFakeTable(f == famEB)
		ft.fam = f
		// The host's own rules and chains, which sded must never change.
		ft.t.chains["INPUT"] = []string{"-i lo -j ACCEPT"}
		ft.t.chains["FORWARD"] = []string{"-j HOST-FWD"}
		ft.t.chains["HOST-FWD"] = []string{"-j DROP"}
		h.tables[f], tabs[f] = ft, ft
	}
	h.links.l["eth0"] = &link{Name: "eth0", Kind: "device", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.5/24")}}
	h.links.l["docker0"] = &link{Name: "docker0", Kind: "bridge", Up: true}
	h.links.l["sdfoo"] = &link{Name: "sdfoo", Kind: "bridge", Alias: "not sded"}
	h.m = newManager(discard, h.links, tabs)
	return h
}

func (h *fakeHost) dump() string {
	var b strings.Builder
	b.WriteString(h.links.dump())
	for _, f := range families {
		fmt.Fprintf(&b, "## %s\n%s", f, h.tables[f].dump())
	}
	return b.String()
}
