package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/testenv"
)

// BenchmarkPoolSet500: Pool.Set with 500 servers running and one more
// interface each time (as the reconciler calls it on every pass), against
// the floor of the same work: one interface dump and opening the new
// server's socket.
func BenchmarkPoolSet500(b *testing.B) {
	testenv.RequireRoot(b)
	testenv.RequireCommand(b, "ip")
	const n, samples = 500, 20
	ns := netnstest.New(b, "dhcpb")
	var batch strings.Builder
	var cfgs []Config
	for i := range n + samples {
		name := fmt.Sprintf("sdb%d", i)
		sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(100 + i/256), byte(i % 256), 0}), 24)
		gw := sub.Addr().Next()
		fmt.Fprintf(&batch, "link add %s type bridge\naddr add %s/24 dev %s\nlink set %s up\n", name, gw, name, name)
		cfgs = append(cfgs, Config{Interface: name, ServerIP: gw, Subnet: sub})
	}
	f := b.TempDir() + "/batch"
	if err := os.WriteFile(f, []byte(batch.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	ns.MustRun(b, "ip", "-batch", f)
	ctx := context.Background()
	for range b.N {
		pool := NewPool(slog.New(slog.DiscardHandler))
		if err := ns.Do(func() error { return pool.Set(ctx, cfgs[:n]) }); err != nil {
			b.Fatal(err)
		}
		var sded, raw []time.Duration
		for i := range samples {
			next := append(slices.Clone(cfgs[:n]), cfgs[n+i])
			start := time.Now()
			if err := ns.Do(func() error { return pool.Set(ctx, next) }); err != nil {
				b.Fatal(err)
			}
			sded = append(sded, time.Since(start))
			if err := ns.Do(func() error { return pool.Set(ctx, cfgs[:n]) }); err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			if err := ns.Do(func() error {
				ifs, err := net.Interfaces()
				if err != nil {
					return err
				}
				idx := slices.IndexFunc(ifs, func(x net.Interface) bool { return x.Name == cfgs[n+i].Interface })
				s, err := listen(ctx, slog.New(slog.DiscardHandler), cfgs[n+i], ifs[idx].Index)
				if err != nil {
					return err
				}
				return s.Close()
			}); err != nil {
				b.Fatal(err)
			}
			raw = append(raw, time.Since(start))
		}
		pool.Close()
		slices.Sort(sded)
		slices.Sort(raw)
		p50, r50 := sded[len(sded)/2], raw[len(raw)/2]
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p50)/float64(r50), "ratio")
		fmt.Fprintf(os.Stdout, "\ndhcp Pool.Set, %d servers running, one added (%d samples):\n  Pool.Set              p50 %7.2f ms  max %7.2f ms\n  one dump + one socket p50 %7.2f ms\n  ratio                 %7.2f\n",
			n, samples, float64(p50.Microseconds())/1000, float64(sded[len(sded)-1].Microseconds())/1000,
			float64(r50.Microseconds())/1000, float64(p50)/float64(r50))
	}
}
