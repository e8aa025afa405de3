package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// serverTLS is the listener's configuration: TLS 1.3 and the node certificate
// (sent with the CA so joining nodes can pin it). A client certificate is
// verified against the cluster CA when given; connections without one may only
// use the join protocol (see mux.go).
func (id *identity) serverTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(id.caCert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.tlsCert()},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}
}

// clientTLS is the configuration for dialling peers: both sides present
// certificates from the cluster CA.
func (id *identity) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(id.caCert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.tlsCert()},
		RootCAs:      pool,
		ServerName:   clusterServerName,
	}
}

func (id *identity) tlsCert() tls.Certificate {
	return tls.Certificate{
		Certificate: [][]byte{id.cert.Raw, id.caCert.Raw},
		PrivateKey:  id.key,
		Leaf:        id.cert,
	}
}

// pinnedTLS is the configuration a joining node uses before it has the CA: the
// server must present a chain whose CA certificate has the SHA-256 fingerprint
// from the join token, and whose leaf that CA signed. It returns the CA seen
// through caOut.
func pinnedTLS(fingerprint string, caOut **x509.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection's fingerprint pinning
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) < 2 {
				return errors.New("server sent no CA certificate")
			}
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates[1:] {
				if caFingerprint(c) == fingerprint {
					ca = c
				}
			}
			if ca == nil {
				return errors.New("server's CA does not match the join token's fingerprint (wrong cluster or man in the middle)")
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots:     pool,
				DNSName:   clusterServerName,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
			*caOut = ca
			return nil
		},
	}
}
