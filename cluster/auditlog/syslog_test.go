package auditlog

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// collector is a real RFC 6587 octet-counting syslog receiver on loopback.
type collector struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
}

func newCollector(t *testing.T, cfg *tls.Config) *collector {
	t.Helper()
	var ln net.Listener
	var err error
	if cfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.read(conn)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

func (c *collector) read(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		lenText, err := r.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenText))
		if err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, string(buf))
		c.mu.Unlock()
	}
}

func (c *collector) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := append([]string(nil), c.msgs...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("collector got fewer than %d messages", n)
	return nil
}

// log is a growing audit log served through Source.
type log struct {
	mu     sync.Mutex
	events []model.AuditEvent
}

func (l *log) add(action string, outcome model.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, model.AuditEvent{Seq: uint64(len(l.events) + 1), Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Actor: model.Actor{UserID: "u1"}, Action: action, Outcome: outcome, Object: `project/p"1]`, Hash: "ab"})
}

func (l *log) source(_ context.Context, after uint64, limit int) ([]model.AuditEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []model.AuditEvent
	for _, e := range l.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func TestFormat(t *testing.T) {
	e := model.AuditEvent{Seq: 7, Time: time.Date(2026, 11, 22, 10, 0, 0, 5, time.UTC), Actor: model.Actor{UserID: "alice"},
		Action: "login.failure", Outcome: model.OutcomeFailure, Object: `user/a"b]c\`, ProjectID: "p1", Hash: "h"}
	got := string(Format(e, "node 1"))
	want := `<107>1 2026-11-22T10:00:00.000000005Z node1 sded - login.failure [sded@32473 seq="7" actor="user:alice" action="login.failure" outcome="failure" object="user/a\"b\]c\\" project="p1" hash="h"] {`
	if !strings.HasPrefix(got, want) {
		t.Errorf("Format =\n%s\nwant prefix\n%s", got, want)
	}
}

func TestForwardTCPResumesAfterRestart(t *testing.T) {
	col := newCollector(t, nil)
	l := &log{}
	for i := 0; i < 3; i++ {
		l.add("project.create", model.OutcomeSuccess)
	}
	cursor := filepath.Join(t.TempDir(), "cursor")
	run := func() (context.CancelFunc, *Forwarder, chan struct{}) {
		f, err := New(Config{URL: "tcp://" + col.ln.Addr().String(), Hostname: "n1", CursorFile: cursor, Source: l.source, Poll: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { f.Run(ctx); close(done) }()
		return cancel, f, done
	}
	cancel, f, done := run()
	col.wait(t, 3)
	l.add("login.failure", model.OutcomeDenied)
	f.Kick()
	col.wait(t, 4)
	cancel()
	<-done
	// A restarted forwarder sends only what is new.
	l.add("user.create", model.OutcomeSuccess)
	cancel, _, done = run()
	defer func() { cancel(); <-done }()
	msgs := col.wait(t, 5)
	time.Sleep(100 * time.Millisecond)
	col.mu.Lock()
	n := len(col.msgs)
	col.mu.Unlock()
	if n != 5 {
		t.Errorf("collector got %d messages, want exactly 5 (no resend after restart)", n)
	}
	if !strings.Contains(msgs[3], `outcome="denied"`) || !strings.HasPrefix(msgs[3], "<108>1 ") {
		t.Errorf("denied event: %s", msgs[3])
	}
}

func TestForwardTLS(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	col := newCollector(t, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	l := &log{}
	l.add("audit.record", model.OutcomeSuccess)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	f, err := New(Config{URL: "tls://" + col.ln.Addr().String(), TLS: &tls.Config{RootCAs: pool}, CursorFile: filepath.Join(t.TempDir(), "c"), Source: l.source})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	col.wait(t, 1)
}

func TestNewRejectsBadTargets(t *testing.T) {
	for _, u := range []string{"udp://h:514", "tcp://h", "tcp://:514", "h:514", ""} {
		if _, err := New(Config{URL: u, CursorFile: "/tmp/x", Source: (&log{}).source}); err == nil {
			t.Errorf("New(%q) accepted a bad target", u)
		}
	}
}
