package ui

import (
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
