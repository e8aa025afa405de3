package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLUKSIterTime compares creating and opening (unlocking) a LUKS
// qcow2 overlay with qemu's default key-derivation time (2000 ms) and with
// sded's tuned one, beside a plain `qemu-img create` of an unencrypted
// overlay (the raw tool doing the same work without encryption).
func BenchmarkLUKSIterTime(b *testing.B) {
	requireQemu(b)
	ctx := context.Background()
	dir := b.TempDir()
	base := filepath.Join(dir, "base.raw")
	qemuImg(b, "create", "-q", "-f", "raw", base, "64M")
	secret := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	timeIt := func(f func() error) time.Duration {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	type row struct {
		name         string
		create, open time.Duration
	}
	var rows []row
	for range b.N {
		rows = rows[:0]
		plain := filepath.Join(dir, "plain.qcow2")
		os.Remove(plain)
		c := timeIt(func() error {
			_, err := runQemu(ctx, nil, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", plain)
			return err
		})
		o := timeIt(func() error {
			_, err := runQemu(ctx, nil, "qemu-io", "-f", "qcow2", "-c", "read 0 512", plain)
			return err
		})
		rows = append(rows, row{"plain qemu-img create (no LUKS)", c, o})
		for _, it := range []int{2000, DefaultIterTimeMS} {
			v, err := NewVolumes(VolumesConfig{Root: filepath.Join(dir, fmt.Sprint("v", it)), IterTimeMS: it})
			if err != nil {
				b.Fatal(err)
			}
			var p string
			c := timeIt(func() error {
				p, err = v.CreateOverlay(ctx, "p", fmt.Sprintf("w%d-%d", it, time.Now().UnixNano()), Image{Path: base, Format: "raw"}, 0, secret)
				return err
			})
			o := timeIt(func() error { _, err := qemuIO(ctx, secret, p, "read 0 512"); return err })
			rows = append(rows, row{fmt.Sprintf("sded overlay, iter-time %d ms", it), c, o})
		}
	}
	fmt.Printf("LUKS qcow2 overlay (64 MiB base):\n  %-36s %10s %12s\n", "", "create", "open/unlock")
	for _, r := range rows {
		fmt.Printf("  %-36s %8.0f ms %10.0f ms\n", r.name, ms(r.create), ms(r.open))
	}
	fmt.Printf("  tuned vs default: create %.1fx faster, unlock %.1fx faster; tuned vs plain: create %.2fx, open %.2fx\n",
		float64(rows[1].create)/float64(rows[2].create), float64(rows[1].open)/float64(rows[2].open),
		float64(rows[2].create)/float64(rows[0].create), float64(rows[2].open)/float64(rows[0].open))
	b.ReportMetric(ms(rows[2].create), "ms_create_tuned")
	b.ReportMetric(ms(rows[1].create), "ms_create_default")
	b.ReportMetric(ms(rows[2].open), "ms_unlock_tuned")
	b.ReportMetric(ms(rows[1].open), "ms_unlock_default")
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
