package hypervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sded/sded/test/guest"
	"github.com/sded/sded/test/testenv"
)

// BenchmarkEnsureVsVirshCreate times Ensure→running for 5 test-guest domains
// beside `virsh create` of the same XML (the raw tool doing the same work),
// interleaved, and reports the ratio. Ensure defines a persistent domain and
// starts it on a warm connection; virsh creates a transient one and pays for
// its own process and connection.
func BenchmarkEnsureVsVirshCreate(b *testing.B) {
	const n = 5
	d := newDriver(b)
	virsh := testenv.RequireCommand(b, "virsh")
	ctx := context.Background()
	var sded, raw time.Duration
	for range b.N {
		for i := range n {
			s := guestSpec(b, d, guest.Probe{Net: "none"})
			start := time.Now()
			if err := d.Ensure(ctx, s); err != nil {
				b.Fatal(err)
			}
			if info, err := d.State(ctx, s.Name); err != nil || info.State != StateRunning {
				b.Fatalf("after Ensure: %+v, %v", info, err)
			}
			sded += time.Since(start)
			if err := d.Delete(ctx, s.Name); err != nil {
				b.Fatal(err)
			}

			r := guestSpec(b, d, guest.Probe{Net: "none"})
			r, _ = d.scoped(r) // same scope as the sded path, so no unscoped sded on the host collects it
			x, err := domainXML(r, d.scopeKey)
			if err != nil {
				b.Fatal(err)
			}
			p := filepath.Join(filepath.Dir(r.Seed), "domain.xml")
			if err := os.WriteFile(p, []byte(x), 0o600); err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			if out, err := exec.Command(virsh, "-c", DefaultURI, "create", p).CombinedOutput(); err != nil {
				b.Fatalf("virsh create (%d): %v\n%s", i, err, out)
			}
			raw += time.Since(start)
			_ = exec.Command(virsh, "-c", DefaultURI, "destroy", r.Name).Run()
		}
	}
	per := func(t time.Duration) float64 { return float64(t.Milliseconds()) / float64(n*b.N) }
	b.ReportMetric(per(sded), "sded-ms/domain")
	b.ReportMetric(per(raw), "virsh-ms/domain")
	b.ReportMetric(float64(sded)/float64(raw), "sded/virsh")
	fmt.Printf("\n%-34s %10s %10s %8s\n", "Ensure→running vs virsh create", "sded", "virsh", "ratio")
	fmt.Printf("%-34s %8.0fms %8.0fms %8.2f\n", fmt.Sprintf("mean of %d domains (TCG)", n*b.N), per(sded), per(raw), float64(sded)/float64(raw))
}
