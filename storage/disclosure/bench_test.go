package disclosure

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sded/sded/storage/table"
)

// genCSV writes a magnitude table of about size bytes: contributor rows
// over 5 regions × 2 sexes × 8 age bands.
func genCSV(tb testing.TB, path string, size int64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	regions := []string{"North East", "North West", "Midlands", "London", "South West"}
	ages := []string{"0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"}
	r := rand.New(rand.NewPCG(1, 2))
	fmt.Fprintln(w, "region,sex,age_band,value")
	var n int64
	for n < size {
		k, _ := fmt.Fprintf(w, "%s,%c,%s,%d.%02d\n", regions[r.IntN(5)], "FM"[r.IntN(2)], ages[r.IntN(8)], r.IntN(100000), r.IntN(100))
		n += int64(k)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// BenchmarkDisclosureCheck checks a 100 MB magnitude CSV and prints the time
// beside `wc -l` on the same (page-cached) file. Target: within 5×.
func BenchmarkDisclosureCheck(b *testing.B) {
	wc, err := exec.LookPath("wc")
	if err != nil {
		b.Skip("wc not installed")
	}
	path := filepath.Join(b.TempDir(), "big.csv")
	genCSV(b, path, 100<<20)
	fi, _ := os.Stat(path)
	// Warm the page cache, then take the best of 3 for each side.
	exec.Command(wc, "-l", path).Run()
	best := func(f func() error) time.Duration {
		d := time.Duration(1 << 62)
		for range 3 {
			t0 := time.Now()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			d = min(d, time.Since(t0))
		}
		return d
	}
	wcTime := best(func() error { return exec.Command(wc, "-l", path).Run() })
	var rec FileRecord
	b.ResetTimer()
	var sdedTime time.Duration
	for range b.N {
		sdedTime = best(func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			rec, err = CheckFile(context.Background(), "big.csv", f, Options{Limits: tableLimits()})
			return err
		})
	}
	b.StopTimer()
	ratio := float64(sdedTime) / float64(wcTime)
	mb := float64(fi.Size()) / 1e6
	b.ReportMetric(mb/sdedTime.Seconds(), "MB/s")
	b.ReportMetric(ratio, "x_wc-l")
	fmt.Printf("disclosure check, %.0f MB, %d rows, %d cells:\n  sded   %8.1f ms  %6.0f MB/s\n  wc -l  %8.1f ms  %6.0f MB/s\n  ratio  %.2fx (target ≤ 5x)\n",
		mb, rec.Rows, rec.CellsTotal, ms(sdedTime), mb/sdedTime.Seconds(), ms(wcTime), mb/wcTime.Seconds(), ratio)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func tableLimits() table.Limits { return table.Limits{MaxBytes: 1 << 30} }
