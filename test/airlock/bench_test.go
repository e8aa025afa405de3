package airlocktest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/testenv"
)

// BenchmarkGatewayUpload uploads a 64 MiB CSV magnitude table with curl -T from a
// workstation's address through the gateway (source-address binding, the
// engine, the CSV check at upload, AES-GCM encryption and SHA-256 in the
// staged store, the raft write of its metadata) and, for comparison, with
// the same curl to a plain Go HTTP server on the same namespace that only
// writes the body to a file. It reports the ratio of the two times.
func BenchmarkGatewayUpload(b *testing.B) {
	testenv.RequireRoot(b)
	testenv.RequireCommand(b, "curl")
	const size = 64 << 20
	dir := b.TempDir()
	csv := filepath.Join(dir, "big.csv")
	f, err := os.Create(csv)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("region,sex,value\n")
	for n := 0; n < size; {
		k, _ := fmt.Fprintf(w, "region-%d,%s,%d.%02d\n", n%5000, []string{"F", "M"}[n%2], 10+n%90, n%100)
		n += k
	}
	w.Flush()
	f.Close()
	fi, _ := os.Stat(csv)

	e := newBenchEnv(b)
	ctx := context.Background()
	rita := e.user("rita")
	p := e.project("bench", map[model.MemberRole][]model.Actor{model.RoleResearcher: {rita}})
	ws := e.workstation(p, rita, "rita-1")
	g := e.gateway(p)
	g.guest(ws.IP)
	g.ns.MustRun(b, "ip", "route", "replace", "local", gatewayOf(p).String(), "dev", "lo", "table", "local", "src", ws.IP, "proto", "kernel", "scope", "host")
	GW := "http://" + g.ads[p.ID].String()

	// The raw sink: same curl, same namespace, body written to a file.
	var ln net.Listener
	if err := g.ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(gatewayOf(p).String(), "8081"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	sink := filepath.Join(dir, "sink")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(sink)
		if err == nil {
			io.Copy(f, r.Body)
			f.Sync()
			f.Close()
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	var sded, raw time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := e.eng.Create(ctx, rita, model.CreateAirlock{ProjectID: p.ID, Direction: model.AirlockExport, WorkstationID: ws.ID, Title: "bench", Context: "c"})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		out, err := g.ns.Run("curl", "-sS", "-T", csv, GW+"/requests/"+r.ID+"/files/big.csv")
		sded += time.Since(start)
		if err != nil || !strings.Contains(out, "stored big.csv") {
			b.Fatalf("%v %s", err, out)
		}
		start = time.Now()
		if _, err := g.ns.Run("curl", "-sS", "-T", csv, "http://"+net.JoinHostPort(gatewayOf(p).String(), "8081")+"/x"); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(start)
	}
	b.StopTimer()
	mb := float64(fi.Size()) / (1 << 20)
	b.ReportMetric(mb/sded.Seconds()*float64(b.N), "sded-MiB/s")
	b.ReportMetric(mb/raw.Seconds()*float64(b.N), "raw-MiB/s")
	b.ReportMetric(sded.Seconds()/raw.Seconds(), "sded/raw")
	fmt.Printf("\nairlock upload of a %.0f MiB CSV through the gateway (checked, encrypted, recorded)\n", mb)
	fmt.Printf("  %-40s %8.2f s  %7.1f MiB/s\n", "sded gateway (curl -T)", sded.Seconds()/float64(b.N), mb/sded.Seconds()*float64(b.N))
	fmt.Printf("  %-40s %8.2f s  %7.1f MiB/s\n", "raw HTTP sink to a file (curl -T)", raw.Seconds()/float64(b.N), mb/raw.Seconds()*float64(b.N))
	fmt.Printf("  ratio sded/raw: %.2f\n", sded.Seconds()/raw.Seconds())
}
