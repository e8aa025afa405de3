package browser

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// loadResult is one run of the load generator.
type loadResult struct {
	p50, p99 time.Duration
	rps      float64
}

func (r loadResult) String() string {
	return fmt.Sprintf("p50 %6.2f ms  p99 %6.2f ms  %8.0f req/s", ms(r.p50), ms(r.p99), r.rps)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func insecureClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // the test's self-signed certificate
		MaxIdleConnsPerHost: conns,
	}}
}

// load sends total GET requests to url from workers concurrent clients over
// keep-alive HTTPS connections, and fails b for any status but 200.
func load(b *testing.B, c *http.Client, url, cookie string, workers, total int) loadResult {
	b.Helper()
	lat := make([]time.Duration, total)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= total {
					return
				}
				req, _ := http.NewRequest("GET", url, nil)
				if cookie != "" {
					req.Header.Set("Cookie", "__Host-sded_session="+cookie)
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed != nil {
		b.Fatalf("GET %s: %v", url, failed)
	}
	slices.Sort(lat)
	return loadResult{p50: lat[total/2], p99: lat[total*99/100], rps: float64(total) / elapsed.Seconds()}
}

// BenchmarkUIHomePage loads the logged-in home page (session lookup, policy,
// projects, members and workstations, templ rendering) under concurrent load,
// beside a static file served by the same server.
func BenchmarkUIHomePage(b *testing.B) {
	svc := newMemService(0)
	alice := svc.addUser("alice", "Alice Researcher", "pw", false)
	for _, slug := range []string{"diabetes", "cardio", "stroke"} {
		p := svc.addProject(slug, 3, alice.ID)
		svc.addWorkstation(p.ID, alice.ID, slug+"-ws1")
		svc.addWorkstation(p.ID, alice.ID, slug+"-ws2")
	}
	tok := svc.fullSession(alice.ID)
	base := startServer(b, svc, nil)
	const workers, total = 16, 4000
	c := insecureClient(workers)
	load(b, c, base+"/", tok, workers, 200) // warm up connections
	for b.Loop() {
		home := load(b, c, base+"/", tok, workers, total)
		static := load(b, c, base+"/static/sded.css", "", workers, total)
		b.ReportMetric(home.rps, "home-req/s")
		b.ReportMetric(ms(home.p50), "home-p50-ms")
		b.ReportMetric(ms(home.p99), "home-p99-ms")
		b.ReportMetric(static.rps, "static-req/s")
		b.ReportMetric(home.rps/static.rps, "home/static-rps")
		fmt.Printf("\nUI load, %d workers, %d requests each, HTTPS keep-alive:\n", workers, total)
		fmt.Printf("  home page (logged in)  %s\n", home)
		fmt.Printf("  static file (sded.css) %s\n", static)
		fmt.Printf("  ratio home/static: %.2f of the throughput, p50 x%.2f\n", home.rps/static.rps, float64(home.p50)/float64(static.p50))
	}
}

// throughput reads frames full-screen Raw updates through c and returns
// bytes per second.
func throughput(b *testing.B, c *rfbClient, frames int) (float64, int64) {
	b.Helper()
	if _, err := c.frame(); err != nil { // warm-up
		b.Fatalf("first frame: %v", err)
	}
	var total int64
	start := time.Now()
	for range frames {
		n, err := c.frame()
		if err != nil {
			b.Fatalf("frame: %v", err)
		}
		total += n
	}
	return float64(total) / time.Since(start).Seconds(), total
}

// BenchmarkDesktopProxy measures the desktop path's throughput — browser
// websocket over TLS, sded's authorising, clipboard-filtering RFB proxy, a VNC
// unix socket — beside a client reading the same socket directly, as a ratio.
// Two servers: a real QEMU (whose encoder is the bottleneck, so this is what
// a user sees) and an in-memory VNC server (which exposes the proxy's own
// cost).
func BenchmarkDesktopProxy(b *testing.B) {
	servers := []struct {
		name   string
		sock   string
		frames int
	}{
		{"qemu", startVNC(b), 60},
		{"in-memory", startFastVNC(b, 1280, 800), 150},
	}
	svc := newMemService(0)
	alice := svc.addUser("alice", "Alice Researcher", "pw", false)
	p := svc.addProject("diabetes", 3, alice.ID)
	w := svc.addWorkstation(p.ID, alice.ID, "bench")
	tok := svc.fullSession(alice.ID)
	for b.Loop() {
		fmt.Printf("\nDesktop throughput, full-screen Raw frames, direct unix socket vs sded's wss proxy:\n")
		for _, srv := range servers {
			base := startServer(b, svc, unixDialer(srv.sock))
			direct, err := net.Dial("unix", srv.sock)
			if err != nil {
				b.Fatal(err)
			}
			dc, err := newRFBClient(direct)
			if err != nil {
				b.Fatalf("direct handshake: %v", err)
			}
			directBps, n := throughput(b, dc, srv.frames)
			direct.Close()

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			url := "wss" + strings.TrimPrefix(base, "https") + "/workstations/" + w.ID + "/desktop/ws"
			ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: insecureClient(1),
				HTTPHeader: http.Header{"Cookie": {"__Host-sded_session=" + tok}}, Subprotocols: []string{"binary"}})
			if err != nil {
				b.Fatalf("dialling the desktop websocket: %v", err)
			}
			ws.SetReadLimit(-1)
			nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
			pc, err := newRFBClient(nc)
			if err != nil {
				b.Fatalf("proxied handshake: %v", err)
			}
			proxyBps, _ := throughput(b, pc, srv.frames)
			ws.Close(websocket.StatusNormalClosure, "")
			cancel()

			b.ReportMetric(directBps/1e6, srv.name+"-direct-MB/s")
			b.ReportMetric(proxyBps/1e6, srv.name+"-proxy-MB/s")
			b.ReportMetric(proxyBps/directBps, srv.name+"-proxy/direct")
			fmt.Printf("  %-9s %d frames of %dx%d (%d MB): direct %8.1f MB/s, proxy %8.1f MB/s, ratio proxy/direct %.2f\n",
				srv.name, srv.frames, dc.W, dc.H, n>>20, directBps/1e6, proxyBps/1e6, proxyBps/directBps)
		}
	}
}
