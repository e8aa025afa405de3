package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// InitCA writes 0600 files, refuses to overwrite a CA, and loadIdentity checks
// that the node certificate belongs to the CA.
func TestInitCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	if err := InitCA(dir, "n1"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{caCertFile, caKeyFile, nodeCertFile, nodeKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if err := InitCA(dir, "n1"); err == nil {
		t.Error("InitCA overwrote an existing CA")
	}
	id, err := loadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id.nodeID() != "n1" || id.caKey == nil {
		t.Errorf("identity: node %q, CA key %v", id.nodeID(), id.caKey != nil)
	}
	if err := InitCA(filepath.Join(t.TempDir(), "x"), "Bad ID!"); err == nil {
		t.Error("InitCA accepted an invalid node ID")
	}

	// A node certificate from another CA is refused.
	other := filepath.Join(t.TempDir(), "other")
	if err := InitCA(other, "n1"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(other, nodeCertFile))
	os.WriteFile(filepath.Join(dir, nodeCertFile), b, 0o600)
	if _, err := loadIdentity(dir); err == nil || !strings.Contains(err.Error(), "not issued by the cluster CA") {
		t.Errorf("foreign node certificate: %v", err)
	}
	if _, err := loadIdentity(t.TempDir()); !errors.Is(err, ErrNoCA) {
		t.Errorf("empty dir: %v, want ErrNoCA", err)
	}
}

// Each kind of bad join token gets its own clear error, and the refusal is
// reported as an access attempt. Nothing is added to the cluster.
func TestJoinTokenErrors(t *testing.T) {
	a := openNode(t, "a")
	good, err := a.CreateJoinToken(ctxT(t, 5*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	short, err := a.CreateJoinToken(ctxT(t, 5*time.Second), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	otherCA := filepath.Join(t.TempDir(), "other")
	if err := InitCA(otherCA, "x"); err != nil {
		t.Fatal(err)
	}
	otherID, _ := loadIdentity(otherCA)

	tests := []struct {
		name  string
		token string
		want  string
		is    error
	}{
		{"malformed", "hello", "malformed join token", model.ErrInvalid},
		{"wrong secret", tokenPrefix + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA." + parts[2], "not valid for this cluster", model.ErrUnauthenticated},
		{"expired", short, "expired", model.ErrUnauthenticated},
		{"other cluster's CA fingerprint", parts[0] + "." + parts[1] + "." + otherID.fingerprint(), "does not match the join token's fingerprint", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := newConfig(t, "j")
			t.Cleanup(tn.close)
			_, err := Join(ctxT(t, 10*time.Second), a.Addr(), tc.token, tn.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if _, err := os.Stat(filepath.Join(tn.dir, "tls", caCertFile)); err == nil {
				t.Error("a refused join left TLS material behind")
			}
		})
	}

	// The good token works once; a second use is refused.
	b := newConfig(t, "b")
	t.Cleanup(b.close)
	n, err := Join(ctxT(t, 20*time.Second), a.Addr(), good, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.Node = n
	c := newConfig(t, "c")
	t.Cleanup(c.close)
	if _, err := Join(ctxT(t, 10*time.Second), a.Addr(), good, c.cfg); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("reused token: %v", err)
	}
	if got := len(a.deniedReasons()); got < 4 {
		t.Errorf("%d refused joins reported as access attempts, want at least 4: %q", got, a.deniedReasons())
	}
	waitAudit(t, a, "join.denied")
	// A follower without the CA key gets tokens from the CA node, and a new
	// node can join through the follower.
	tok, err := b.CreateJoinToken(ctxT(t, 5*time.Second), time.Minute)
	if err != nil {
		t.Fatalf("token via a follower: %v", err)
	}
	d := newConfig(t, "d")
	t.Cleanup(d.close)
	nd, err := Join(ctxT(t, 20*time.Second), b.Addr(), tok, d.cfg)
	if err != nil {
		t.Fatalf("joining through a follower: %v", err)
	}
	d.Node = nd
	if _, err := nd.Status(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A used token is refused through the follower too.
	e := newConfig(t, "e")
	t.Cleanup(e.close)
	if _, err := Join(ctxT(t, 10*time.Second), b.Addr(), tok, e.cfg); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("reused token via a follower: %v", err)
	}
	if _, err := a.CreateJoinToken(ctxT(t, time.Second), 30*24*time.Hour); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("token with a 30-day lifetime: %v", err)
	}
}

// A peer with a certificate from another CA, or with none, cannot speak raft
// or the cluster RPC; the refusal is logged as an access attempt.
func TestForeignCertificateRefused(t *testing.T) {
	a := openNode(t, "a")
	otherDir := filepath.Join(t.TempDir(), "other")
	if err := InitCA(otherDir, "a"); err != nil {
		t.Fatal(err)
	}
	other, err := loadIdentity(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	// The foreign client trusts a's CA, so only a's check can refuse it.
	conf := other.clientTLS()
	conf.RootCAs = a.ident.clientTLS().RootCAs
	for _, proto := range []byte{protoRaft, protoRPC} {
		conn, err := dialProto(ctxT(t, 5*time.Second), a.Addr(), conf, proto)
		if err == nil {
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Errorf("proto %c: foreign certificate accepted", proto)
		}
	}
	// No certificate at all: only the join protocol is allowed.
	anon := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: conf.RootCAs, ServerName: clusterServerName}
	conn, err := dialProto(ctxT(t, 5*time.Second), a.Addr(), anon, protoRPC)
	if err != nil {
		t.Fatal(err)
	}
	writeFrame(conn, rpcRequest{Method: "status"})
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	var resp rpcResponse
	if err := readFrame(conn, &resp); err == nil {
		t.Errorf("RPC without a client certificate answered: %+v", resp)
	}
	conn.Close()
	time.Sleep(100 * time.Millisecond)
	reasons := strings.Join(a.deniedReasons(), "\n")
	if !strings.Contains(reasons, "certificate") || !strings.Contains(reasons, "no client certificate") {
		t.Errorf("refusals not reported: %q", reasons)
	}
	waitAudit(t, a, "access.denied")
	// The legitimate path still works.
	mustPut(t, a.Node, "still", "ok")
}

// Oversized and malformed commands are refused with clear codes before they
// reach the log, whether proposed locally or sent by a peer.
func TestOversizedAndMalformedCommands(t *testing.T) {
	nodes := threeNodes(t)
	a, b := nodes[0], nodes[1]
	waitNodes(t, a, "a", "b", "c") // no more membership writes from here on
	before := a.raft.LastIndex()

	big := putSetting("big", strings.Repeat("x", 2<<20), adminActor)
	for _, n := range []*testNode{a, b} {
		_, err := n.Propose(ctxT(t, 5*time.Second), big)
		if err == nil || !(errors.Is(err, model.ErrTooLarge) || errors.Is(err, model.ErrInvalid)) {
			t.Errorf("oversized command on %s: %v, want too_large", n.ID(), err)
		}
	}
	// A peer (b's certificate) sends garbage bytes as a command.
	var res any
	err := b.rpc.call(ctxT(t, 5*time.Second), a.Addr(), "propose", proposeRequest{Cmd: []byte("\x01{not json")}, &res)
	if !errors.Is(err, model.ErrInvalid) {
		t.Errorf("malformed forwarded command: %v, want invalid", err)
	}
	err = b.rpc.call(ctxT(t, 5*time.Second), a.Addr(), "propose", proposeRequest{Cmd: make([]byte, 2<<20)}, &res)
	if !errors.Is(err, model.ErrTooLarge) {
		t.Errorf("oversized forwarded command: %v, want too_large", err)
	}
	err = b.rpc.call(ctxT(t, 5*time.Second), a.Addr(), "no-such-method", struct{}{}, &res)
	if !errors.Is(err, model.ErrInvalid) {
		t.Errorf("unknown RPC: %v, want invalid", err)
	}
	// A frame header announcing 1 GiB is refused without reading it.
	conn, err := dialProto(ctxT(t, 5*time.Second), a.Addr(), b.ident.clientTLS(), protoRPC)
	if err != nil {
		t.Fatal(err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<30)
	conn.Write(hdr[:])
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var resp rpcResponse
	if err := readFrame(conn, &resp); err != nil || resp.Err == nil || resp.Err.Code != model.CodeTooLarge {
		t.Errorf("1 GiB frame: %v %+v, want too_large", err, resp.Err)
	}
	conn.Close()
	if after := a.raft.LastIndex(); after != before {
		t.Errorf("refused commands reached the log: last index %d -> %d", before, after)
	}
	mustPut(t, b.Node, "still", "ok")
}

// waitAudit waits until the replicated audit log holds a denied event with
// the action (refusals are audited asynchronously).
func waitAudit(t *testing.T, n *testNode, action string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := n.store.AuditEvents(0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Action == action && e.Outcome == model.OutcomeDenied && e.Details["remote"] != "" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("no %s event in the audit log", action)
}

// A join request larger than a join can need is refused unread.
func TestOversizedJoinRequest(t *testing.T) {
	a := openNode(t, "a")
	var ca *x509.Certificate
	conn, err := dialProto(ctxT(t, 5*time.Second), a.Addr(), pinnedTLS(a.ident.fingerprint(), &ca), protoJoin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<20)
	conn.Write(hdr[:])
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var resp joinResponse
	if err := readFrame(conn, &resp); err == nil {
		t.Errorf("oversized join request answered: %+v", resp)
	}
	waitAudit(t, a, "join.denied")
}

// A join interrupted after the certificate was written (here: the node's
// first raft start failed because its port was taken) resumes without a new
// token.
func TestInterruptedJoinResumes(t *testing.T) {
	a := openNode(t, "a")
	tok, err := a.CreateJoinToken(ctxT(t, 5*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b := newConfig(t, "b")
	t.Cleanup(b.close)
	busy, err := net.Listen("tcp", b.cfg.BindAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Join(ctxT(t, 10*time.Second), a.Addr(), tok, b.cfg); err == nil {
		t.Fatal("join succeeded on a busy port")
	}
	busy.Close()
	n, err := Join(ctxT(t, 20*time.Second), a.Addr(), tok, b.cfg)
	if err != nil {
		t.Fatalf("resuming the join: %v", err)
	}
	b.Node = n
	mustPut(t, n, "joined", "yes")
	if !a.inConfiguration("b") {
		t.Error("b is not a member")
	}
}
