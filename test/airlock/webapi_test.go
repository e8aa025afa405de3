package airlocktest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sded/sded/cluster/auth"
	"github.com/sded/sded/cluster/model"
)

// The daemon's HTTPS interface as a person uses it without a browser: sign
// in with a password, enrol TOTP (the code computed from the key the page
// shows), create an API token from the session, then call /api/v1 with
// that token only.

// webClient is one user's HTTPS client of the daemon's UI.
type webClient struct {
	d     *daemon
	base  string // https://127.0.0.1:PORT
	hc    *http.Client
	token string // API token, once created
	user  string
}

var uiListenRE = regexp.MustCompile(`(?m)^listen = (\S+)$`)

// uiBase returns the UI's URL from the daemon's configuration.
func (d *daemon) uiBase() string {
	d.t.Helper()
	b, err := os.ReadFile(d.conf)
	if err != nil {
		d.t.Fatal(err)
	}
	m := uiListenRE.FindSubmatch(b)
	if m == nil {
		d.t.Fatalf("no [ui] listen in %s", d.conf)
	}
	return "https://" + string(m[1])
}

// webLogin signs username in over HTTPS (password, then TOTP enrolment) and
// creates an API token with every scope; later calls use only the token.
func (d *daemon) webLogin(username, password string) *webClient {
	d.t.Helper()
	pem, err := os.ReadFile(filepath.Join(d.dir, "data", "ui-tls", "cert.pem"))
	if err != nil {
		d.t.Fatalf("the UI's self-signed certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		d.t.Fatal("the UI's certificate does not parse")
	}
	jar, _ := cookiejar.New(nil)
	c := &webClient{d: d, base: d.uiBase(), user: username, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
	// The UI starts a moment after the local socket.
	var resp *http.Response
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err = c.hc.PostForm(c.base+"/login", url.Values{"username": {username}, "password": {password}})
		if err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		d.t.Fatalf("signing %s in: %v", username, err)
	}
	page := readAll(resp)
	// A first login goes on to the enrolment page, which shows the key.
	m := regexp.MustCompile(`data-testid="totp-secret">([A-Z2-7 ]+)<`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || resp.Request.URL.Path != "/login/enrol" {
		d.t.Fatalf("signing %s in: %s at %s, no TOTP key on the page:\n%s", username, resp.Status, resp.Request.URL, tail(page, 1500))
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	code, err := auth.TOTPCode(secret, auth.TOTPStep(time.Now()))
	if err != nil {
		d.t.Fatalf("TOTP code of %s: %v", username, err)
	}
	resp, err = c.hc.PostForm(c.base+"/login/enrol", url.Values{"code": {code}})
	if err != nil {
		d.t.Fatalf("enrolling %s: %v", username, err)
	}
	if page := readAll(resp); resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(page), "recovery") {
		d.t.Fatalf("enrolling %s: %s:\n%s", username, resp.Status, tail(page, 1500))
	}
	var tok struct {
		Token string `json:"token"`
	}
	if st, e := c.call("POST", "/api/v1/tokens", map[string]any{"name": "guest import test", "scopes": []string{"*"}}, &tok); st != http.StatusCreated || tok.Token == "" {
		d.t.Fatalf("creating an API token for %s: %d %v", username, st, e)
	}
	// From here on: the token alone, no session cookie.
	c.token = tok.Token
	c.hc.Jar = nil
	return c
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// apiError is an API error answer.
type apiError struct {
	Status int
	Err    model.Error
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Err.Error()) }

// send makes one request; a non-2xx answer comes back as *apiError.
func (c *webClient) send(method, path, contentType string, body io.Reader, out any) (int, *apiError) {
	c.d.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.d.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.d.t.Fatalf("%s %s as %s: %v", method, path, c.user, err)
	}
	b := readAll(resp)
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error model.Error `json:"error"`
		}
		if err := json.Unmarshal([]byte(b), &e); err != nil {
			c.d.t.Fatalf("%s %s as %s: %s with a body that is not an API error: %q", method, path, c.user, resp.Status, b)
		}
		return resp.StatusCode, &apiError{Status: resp.StatusCode, Err: e.Error}
	}
	if w, ok := out.(io.Writer); ok {
		io.WriteString(w, b)
	} else if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			c.d.t.Fatalf("%s %s as %s: %v: %q", method, path, c.user, err, b)
		}
	}
	return resp.StatusCode, nil
}

// call sends in as JSON and decodes the answer into out.
func (c *webClient) call(method, path string, in, out any) (int, *apiError) {
	c.d.t.Helper()
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			c.d.t.Fatal(err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	return c.send(method, path, ct, body, out)
}

// must is call that fails the test on an error answer.
func (c *webClient) must(method, path string, in, out any) {
	c.d.t.Helper()
	if _, e := c.call(method, path, in, out); e != nil {
		c.d.t.Fatalf("%s %s as %s: %v", method, path, c.user, e)
	}
}
