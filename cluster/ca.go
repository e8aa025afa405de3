package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names inside the TLS directory (Config.TLSDir, by default DataDir/tls).
const (
	caCertFile   = "ca.crt"
	caKeyFile    = "ca.key" // only on nodes that may sign join requests
	nodeCertFile = "node.crt"
	nodeKeyFile  = "node.key"
)

// clusterServerName is the DNS name every node certificate carries; peers
// verify it instead of a host name, since nodes are identified by their CA.
const clusterServerName = "sded-cluster"

const (
	caValidity   = 20 * 365 * 24 * time.Hour
	nodeValidity = 10 * 365 * 24 * time.Hour
	// certBackdate is how far NotBefore lies before issue, for clock skew.
	certBackdate = time.Hour
)

// ErrNoCA is returned when a TLS directory holds no cluster CA.
var ErrNoCA = errors.New("no cluster CA (run `sded init` or join a cluster)")

// identity is a node's TLS material: the cluster CA, its own certificate and,
// on nodes that can sign join requests, the CA key.
type identity struct {
	caCert *x509.Certificate
	caKey  crypto.Signer // nil unless this node holds the CA key
	cert   *x509.Certificate
	key    crypto.Signer
}

// nodeID is the node ID in the certificate (its common name).
func (id *identity) nodeID() string { return id.cert.Subject.CommonName }

// fingerprint is the hex SHA-256 of the CA certificate (DER).
func (id *identity) fingerprint() string { return caFingerprint(id.caCert) }

func caFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// InitCA creates a cluster CA (ECDSA P-256) in dir, plus the certificate of the
// first node, nodeID, signed by it. Key files are written 0600, dir 0700. It
// refuses to overwrite an existing CA.
func InitCA(dir, nodeID string) error {
	if err := validNodeID(nodeID); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, caCertFile)); err == nil {
		return fmt.Errorf("creating cluster CA in %s: a CA already exists", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating TLS directory: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "sded cluster CA", Organization: []string{"sded"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return fmt.Errorf("creating CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parsing CA certificate: %w", err)
	}
	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating node key: %w", err)
	}
	csr, err := createCSR(nodeID, nodeKey)
	if err != nil {
		return err
	}
	nodeCert, err := signCSR(caCert, caKey, csr, nodeID)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, caKeyFile), caKey); err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, nodeKeyFile), nodeKey); err != nil {
		return err
	}
	if err := writeCert(filepath.Join(dir, nodeCertFile), nodeCert); err != nil {
		return err
	}
	// The CA certificate goes last: its presence marks a complete directory.
	return writeCert(filepath.Join(dir, caCertFile), caCert)
}

// loadIdentity reads the TLS material in dir and checks that the node
// certificate was issued by the CA and matches the key.
func loadIdentity(dir string) (*identity, error) {
	caCert, err := readCert(filepath.Join(dir, caCertFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCA
	}
	if err != nil {
		return nil, err
	}
	cert, err := readCert(filepath.Join(dir, nodeCertFile))
	if err != nil {
		return nil, err
	}
	key, err := readKey(filepath.Join(dir, nodeKeyFile))
	if err != nil {
		return nil, err
	}
	id := &identity{caCert: caCert, cert: cert, key: key}
	if _, err := os.Stat(filepath.Join(dir, caKeyFile)); err == nil {
		if id.caKey, err = readKey(filepath.Join(dir, caKeyFile)); err != nil {
			return nil, err
		}
	}
	if err := id.check(); err != nil {
		return nil, fmt.Errorf("checking TLS material in %s: %w", dir, err)
	}
	return id, nil
}

// check verifies the certificate chain and that keys match certificates.
func (id *identity) check() error {
	pool := x509.NewCertPool()
	pool.AddCert(id.caCert)
	if _, err := id.cert.Verify(x509.VerifyOptions{
		Roots:     pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("node certificate not issued by the cluster CA: %w", err)
	}
	if !publicKeyEqual(id.cert.PublicKey, id.key.Public()) {
		return errors.New("node key does not match the node certificate")
	}
	if id.caKey != nil && !publicKeyEqual(id.caCert.PublicKey, id.caKey.Public()) {
		return errors.New("CA key does not match the CA certificate")
	}
	return nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}

// createCSR makes a certificate request for nodeID.
func createCSR(nodeID string, key crypto.Signer) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: nodeID},
		DNSNames: []string{clusterServerName},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate request: %w", err)
	}
	return der, nil
}

// signCSR checks a certificate request for nodeID and issues a node
// certificate. Whatever the request asks for, the certificate carries only the
// node ID and the cluster server name.
func signCSR(caCert *x509.Certificate, caKey crypto.Signer, csrDER []byte, nodeID string) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	if csr.Subject.CommonName != nodeID {
		return nil, fmt.Errorf("certificate request is for %q, not node %q", csr.Subject.CommonName, nodeID)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("certificate request key must be ECDSA P-256")
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: nodeID, Organization: []string{"sded"}},
		DNSNames:     []string{clusterServerName},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     now.Add(nodeValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing node certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding key: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeCert(path string, c *x509.Certificate) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("reading certificate %s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate %s: %w", path, err)
	}
	return c, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("reading key %s: no PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing key %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s cannot sign", path)
	}
	return s, nil
}

// writeFileAtomic writes b to path through a synced temporary file.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
