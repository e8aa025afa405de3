package hypervisor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/hypervisor/seed"
	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// TestBootTestGuest boots sded's test guest under TCG through the Driver with
// a LUKS-encrypted qcow2 overlay (unlocked by an ephemeral private secret) and
// a plain raw disk, and checks from its serial console that the seed arrived
// and that the guest wrote a marker to both disks; on the host the marker
// shows in the plain disk but not in the encrypted one.
func TestBootTestGuest(t *testing.T) {
	d := newDriver(t)
	qemuImg := testenv.RequireCommand(t, "qemu-img")
	ctx := context.Background()
	marker := "sded-marker-" + randHex(8)
	script := `
result hostname "$(hostname)"
result seed_files "$(ls /seed | tr '\n' ' ')"
if mount_disk system /mnt/system; then
	printf '%s\n' "` + marker + `" >/mnt/system/marker && sync
	result system_marker "$(cat /mnt/system/marker)"
	umount /mnt/system
fi
if mount_disk plain /mnt/plain; then
	printf '%s\n' "` + marker + `" >/mnt/plain/marker && sync
	result plain_marker "$(cat /mnt/plain/marker)"
	umount /mnt/plain
fi
`
	userData, err := seed.UserData(seed.Personalisation{Hostname: "ws-boot",
		Accounts: []seed.Account{{Name: "researcher", Sudo: false}},
		Mounts:   []seed.Mount{{Serial: "plain", Dir: "/mnt/plain"}}})
	if err != nil {
		t.Fatal(err)
	}
	s := guestSpec(t, d, guest.Probe{Script: script, Net: "none", UserData: string(userData)})
	dir := filepath.Dir(s.Seed)
	f := guest.Require(t)

	key := randHex(32)
	secretUUID := newUUID()
	overlay := filepath.Join(dir, "system.qcow2")
	run(t, qemuImg, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", f.Base,
		"--object", "secret,id=k0,data="+key,
		"-o", "encrypt.format=luks,encrypt.key-secret=k0,encrypt.iter-time=10", overlay)
	plain := filepath.Join(dir, "plain.raw")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(plain, 16<<20); err != nil {
		t.Fatal(err)
	}
	s.Disks = []Disk{
		{Path: overlay, Format: FormatQCOW2, Serial: "system", SecretUUID: secretUUID},
		{Path: plain, Format: FormatRaw, Serial: "plain"},
	}
	if err := d.SetSecret(ctx, secretUUID, "sded-test-"+secretUUID, []byte(key)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.RemoveSecret(context.Background(), secretUUID) })

	evctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := d.Subscribe(evctx)

	start := time.Now()
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	r := waitProbe(t, d, s.Name, 120*time.Second)
	t.Logf("probe finished %v after Ensure: %s", time.Since(start).Round(time.Millisecond), r)
	if r.RC != 0 {
		t.Errorf("probe rc = %d\n%s", r.RC, r.Output)
	}
	for k, want := range map[string]string{
		"hostname":              strings.Replace(s.Name, "sded-t-", "guest-", 1),
		"seed_files":            "meta-data sded-env sded-probe.sh user-data ",
		"seed.mounted":          "yes",
		"seed.instance_id":      s.Name,
		"seed.user_data_sha256": fmt.Sprintf("%x", sha256.Sum256(userData)),
		"system_marker":         marker,
		"plain_marker":          marker,
	} {
		if got := r.Results[k]; got != want {
			t.Errorf("probe result %s = %q, want %q (%s)", k, got, want, r)
		}
	}
	// The guest powers off after its probe: the domain stops by itself.
	waitFor(t, 30*time.Second, "guest power-off", func() bool {
		info, err := d.State(ctx, s.Name)
		return err == nil && info.State == StateStopped
	})
	if b, _ := os.ReadFile(plain); !bytes.Contains(b, []byte(marker)) {
		t.Errorf("marker not found in the plain disk: the guest's write did not reach it")
	}
	if b, _ := os.ReadFile(overlay); bytes.Contains(b, []byte(marker)) {
		t.Errorf("marker found in clear in the LUKS-encrypted overlay")
	}
	// Lifecycle events of our domain arrived in order.
	var kinds []EventKind
	timeout := time.After(5 * time.Second)
collect:
	for {
		select {
		case e := <-events:
			if e.Name == s.Name {
				kinds = append(kinds, e.Kind)
				if e.Kind == EventStopped {
					break collect
				}
			}
		case <-timeout:
			break collect
		}
	}
	want := []EventKind{EventDefined, EventStarted, EventStopped}
	if !containsInOrder(kinds, want) {
		t.Errorf("events = %v, want %v in order", kinds, want)
	}
}

func containsInOrder(got, want []EventKind) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
