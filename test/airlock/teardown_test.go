package airlocktest

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// The daemon leaves project networks up when it stops (a restart must not
// cut running workstations off), so a test that ran one tears them down
// itself: first through sded (archiving a project makes the reconciler
// remove its bridge and chains), then, for what a failed run left behind,
// by hand.

// teardownNetworks archives every project the admin sees and waits until
// no sded bridge holds an address with prefix.
func (d *daemon) teardownNetworks(prefix string) {
	out, err := d.cli("", "project", "list", "--as", "admin", "--json")
	var ps []model.Project
	if err != nil || json.Unmarshal([]byte(out), &ps) != nil {
		return // no admin (the test failed early): nothing to archive
	}
	for _, p := range ps {
		if p.State != model.ProjectArchived {
			d.cli("", "project", "archive", "--as", "admin", "--reason", "end of test", p.Slug)
		}
	}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if len(sdedLinks(prefix)) == 0 {
			return
		}
	}
	d.t.Logf("sded did not remove its bridges %v after archiving the projects; removing them by hand", sdedLinks(prefix))
}

// sdedLinks returns the sded links ("sd" + key) holding an address with
// prefix.
func sdedLinks(prefix string) []string {
	out, err := exec.Command("ip", "-j", "addr").Output()
	if err != nil {
		return nil
	}
	var links []struct {
		Name  string `json:"ifname"`
		Addrs []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	json.Unmarshal(out, &links)
	var names []string
	for _, l := range links {
		for _, a := range l.Addrs {
			if strings.HasPrefix(l.Name, "sd") && strings.HasPrefix(a.Local, prefix) {
				names = append(names, l.Name)
				break
			}
		}
	}
	return names
}

// removeLinks deletes the sded bridges holding an address with prefix and
// the iptables and ip6tables rules and chains sded made for them
// (SDED-I-<key>, SDED-F-<key> and the jumps to them, for bridge sd<key>).
func removeLinks(t *testing.T, prefix string) {
	for _, name := range sdedLinks(prefix) {
		exec.Command("ip", "link", "del", name).Run()
		removeChains(t, name)
	}
}

var ruleRE = regexp.MustCompile(`^-A (SDED-INPUT|SDED-FORWARD) (.*)$`)

func removeChains(t *testing.T, bridge string) {
	key := strings.TrimPrefix(bridge, "sd")
	for _, cmd := range []string{"iptables", "ip6tables"} {
		out, err := exec.Command(cmd, "-S").Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			m := ruleRE.FindStringSubmatch(line)
			if m == nil || !regexp.MustCompile(`(^| )-[io] `+regexp.QuoteMeta(bridge)+`( |$)`).MatchString(m[2]) {
				continue
			}
			args := append([]string{"-D", m[1]}, strings.Fields(m[2])...)
			if out, err := exec.Command(cmd, args...).CombinedOutput(); err != nil {
				t.Logf("%s %v: %v: %s", cmd, args, err, out)
			}
		}
		for _, chain := range []string{"SDED-I-" + key, "SDED-F-" + key} {
			if exec.Command(cmd, "-F", chain).Run() == nil {
				exec.Command(cmd, "-X", chain).Run()
			}
		}
	}
}
