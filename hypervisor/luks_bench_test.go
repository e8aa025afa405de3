package hypervisor

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// BenchmarkLUKSUnlock measures Ensure→running for a domain whose system disk
// is a plain qcow2 overlay beside the same overlay LUKS-encrypted with tuned
// key-derivation times (10 and 100 ms: the keys are random, not passwords)
// and with qemu-img's default (2 s). The difference is what unlocking costs per
// start; QEMU derives the key while opening the disk.
func BenchmarkLUKSUnlock(b *testing.B) {
	const n = 2
	d := newDriver(b)
	qemuImg := testenv.RequireCommand(b, "qemu-img")
	f := guest.Require(b)
	ctx := context.Background()
	cases := []struct {
		name    string
		iterMS  int // 0: not encrypted
		elapsed time.Duration
	}{{"plain", 0, 0}, {"luks-10ms", 10, 0}, {"luks-100ms", 100, 0}, {"luks-default", -1, 0}}
	for range b.N {
		for i := range n {
			for c := range cases {
				s := guestSpec(b, d, guest.Probe{Net: "none"})
				disk := filepath.Join(filepath.Dir(s.Seed), "system.qcow2")
				args := []string{"create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", f.Base}
				dk := Disk{Path: disk, Format: FormatQCOW2, Serial: "system"}
				if cases[c].iterMS != 0 {
					key := randHex(32)
					opts := "encrypt.format=luks,encrypt.key-secret=k0"
					if cases[c].iterMS > 0 {
						opts += fmt.Sprintf(",encrypt.iter-time=%d", cases[c].iterMS)
					}
					args = append(args, "--object", "secret,id=k0,data="+key, "-o", opts)
					dk.SecretUUID = newUUID()
					if err := d.SetSecret(ctx, dk.SecretUUID, "sded-bench-"+dk.SecretUUID, []byte(key)); err != nil {
						b.Fatal(err)
					}
					defer d.RemoveSecret(ctx, dk.SecretUUID)
				}
				run(b, qemuImg, append(args, disk)...)
				s.Disks = []Disk{dk}
				start := time.Now()
				if err := d.Ensure(ctx, s); err != nil {
					b.Fatalf("%s (%d): %v", cases[c].name, i, err)
				}
				cases[c].elapsed += time.Since(start)
				if err := d.Delete(ctx, s.Name); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	per := func(t time.Duration) float64 { return float64(t.Milliseconds()) / float64(n*b.N) }
	plain := per(cases[0].elapsed)
	fmt.Printf("\n%-28s %12s %14s %8s\n", "Ensure→running, system disk", "ms/start", "unlock ms", "ratio")
	for _, c := range cases {
		fmt.Printf("%-28s %12.0f %14.0f %8.2f\n", c.name, per(c.elapsed), per(c.elapsed)-plain, per(c.elapsed)/plain)
		b.ReportMetric(per(c.elapsed), c.name+"-ms/start")
	}
	b.ReportMetric(per(cases[1].elapsed)-plain, "luks-10ms-unlock-ms")
	b.ReportMetric(per(cases[2].elapsed)-plain, "luks-100ms-unlock-ms")
}
