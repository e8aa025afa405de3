package ui

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	created, err := EnsureSelfSigned(cert, key, []string{"sded.example", "127.0.0.1"})
	if err != nil || !created {
		t.Fatalf("EnsureSelfSigned = %v, %v; want created", created, err)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	cfg, err := TLSConfig(cert, key)
	if err != nil {
		t.Fatalf("TLSConfig: %v", err)
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf.VerifyHostname("sded.example") != nil || leaf.VerifyHostname("127.0.0.1") != nil {
		t.Errorf("certificate does not name its hosts: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	// A second call keeps the existing (perhaps real) certificate.
	before, _ := os.ReadFile(cert)
	if created, err := EnsureSelfSigned(cert, key, []string{"other"}); err != nil || created {
		t.Fatalf("second EnsureSelfSigned = %v, %v; want kept", created, err)
	}
	if after, _ := os.ReadFile(cert); string(after) != string(before) {
		t.Error("existing certificate was replaced")
	}
	// Bad input: no host names, garbage certificate.
	if _, err := EnsureSelfSigned(filepath.Join(dir, "x.pem"), filepath.Join(dir, "y.pem"), nil); err == nil {
		t.Error("EnsureSelfSigned with no hosts succeeded")
	}
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not a cert"), 0o600)
	if _, err := TLSConfig(filepath.Join(dir, "bad.pem"), key); err == nil {
		t.Error("TLSConfig accepted a garbage certificate")
	}
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := EnsureSelfSigned(cert, key, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := TLSConfig(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := New(Config{}, baseFake(), nil, slog.New(slog.DiscardHandler))
	go func() { done <- ServeListener(ctx, ln, cfg, h, slog.New(slog.DiscardHandler)) }()
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + ln.Addr().String() + "/login")
	if err != nil {
		t.Fatalf("GET over TLS with the self-signed certificate trusted: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	// Plain HTTP is refused.
	if resp, err := http.Get("http://" + ln.Addr().String() + "/login"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP: status %d, want 400", resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}
