package airlocktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/network/netnstest"
	"github.com/sded/sded/test/testenv"
	"github.com/sded/sded/ui/gateway"
)

// gw is the gateway of the env, serving in a throwaway network namespace
// whose loopback carries the projects' gateway addresses and the
// workstations' addresses, so that guests can be played by sockets bound to
// a workstation's address: the source address the gateway sees is real.
type gw struct {
	e   *env
	ns  *netnstest.NS
	g   *gateway.Gateway
	ads map[string]netip.AddrPort // project → listener
}

const airlockPort = 8080

func gatewayOf(p model.Project) netip.Addr {
	return netip.MustParsePrefix(p.Subnet).Masked().Addr().Next()
}

func (e *env) gateway(projects ...model.Project) *gw {
	e.t.Helper()
	testenv.RequireRoot(e.t)
	ns := netnstest.New(e.t, "airlk")
	g, err := gateway.New(gateway.Config{Engine: e.eng, Directory: e.svc, System: e.sys(), Logger: testLogger(e.t)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { g.Close() })
	w := &gw{e: e, ns: ns, g: g, ads: map[string]netip.AddrPort{}}
	for _, p := range projects {
		w.ads[p.ID] = netip.AddrPortFrom(gatewayOf(p), airlockPort)
		ns.MustRun(e.t, "ip", "addr", "add", gatewayOf(p).String()+"/32", "dev", "lo")
	}
	if err := ns.Do(func() error { return g.Set(context.Background(), w.ads) }); err != nil {
		e.t.Fatal(err)
	}
	return w
}

// guest returns an HTTP client whose connections come from ip (added to the
// namespace's loopback).
func (w *gw) guest(ip string) *http.Client {
	w.e.t.Helper()
	if out, err := w.ns.Run("ip", "addr", "add", ip+"/32", "dev", "lo"); err != nil && !strings.Contains(out, "File exists") {
		w.e.t.Fatalf("adding %s: %v %s", ip, err, out)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := w.ns.Do(func() error {
				var err error
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
}

func (w *gw) url(p model.Project, path string) string {
	return "http://" + w.ads[p.ID].String() + path
}

// call sends a request and returns the status and body.
func call(t *testing.T, c *http.Client, method, u string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postForm(t *testing.T, c *http.Client, u string, kv ...string) (int, string) {
	t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return call(t, c, "POST", u, strings.NewReader(v.Encode()), "Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json")
}

type reqJSON struct {
	ID    string             `json:"id"`
	State model.AirlockState `json:"state"`
	Files []struct {
		Name       string                 `json:"name"`
		SHA256     string                 `json:"sha256"`
		Disclosure model.DisclosureResult `json:"disclosure"`
	} `json:"files"`
}

func decode(t *testing.T, body string) reqJSON {
	t.Helper()
	var r reqJSON
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	return r
}

func multipartBody(t *testing.T, files map[string]string) (string, *bytes.Buffer) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, content := range files {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, name)}
		h["Content-Type"] = []string{"application/octet-stream"}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(pw, content)
	}
	mw.Close()
	return mw.FormDataContentType(), &b
}
