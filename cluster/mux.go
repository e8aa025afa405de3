package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// One TCP port carries everything. After the TLS handshake the client sends one
// byte naming the protocol:
//
//	'R' raft (hashicorp/raft NetworkTransport)   client certificate required
//	'C' cluster RPC (forwarding, read index)     client certificate required
//	'J' join (certificate signing with a token)  no client certificate yet
const (
	protoRaft byte = 'R'
	protoRPC  byte = 'C'
	protoJoin byte = 'J'
)

const handshakeTimeout = 10 * time.Second

// mux accepts TLS connections on the node's port and routes them by protocol.
type mux struct {
	ln        net.Listener
	advertise net.Addr
	tlsConf   *tls.Config
	logger    *slog.Logger
	denied    func(remote, reason string, join bool)

	raftConns  chan net.Conn
	handleRPC  func(conn *tls.Conn, peer string)
	handleJoin func(conn *tls.Conn)

	// pending bounds connections still in the handshake or protocol byte, so
	// slow or silent clients cannot pile up goroutines.
	pending chan struct{}

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // served RPC and join connections, closed on close

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

func (m *mux) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.logger.Error("accepting connection", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case m.pending <- struct{}{}:
		default:
			m.logger.Warn("too many pending cluster connections; dropping one", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

// route finishes the handshake, reads the protocol byte and hands the
// connection on. Refused peers are logged and reported as access attempts.
func (m *mux) route(c net.Conn) {
	remote := c.RemoteAddr().String()
	tc := tls.Server(c, m.tlsConf)
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.Handshake()
	var b [1]byte
	if err == nil {
		_, err = io.ReadFull(tc, b[:])
	}
	<-m.pending
	if err != nil {
		if !errors.Is(err, io.EOF) {
			m.refuse(remote, fmt.Sprintf("TLS handshake: %v", err), false)
		}
		tc.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	peer := ""
	if pcs := tc.ConnectionState().PeerCertificates; len(pcs) > 0 {
		peer = pcs[0].Subject.CommonName
	}
	switch {
	case b[0] == protoJoin:
		if m.track(tc) {
			defer m.untrack(tc)
			m.handleJoin(tc)
		}
	case peer == "":
		m.refuse(remote, "no client certificate from the cluster CA", false)
		tc.Close()
	case b[0] == protoRaft:
		select {
		case m.raftConns <- tc:
		case <-m.closed:
			tc.Close()
		}
	case b[0] == protoRPC:
		if m.track(tc) {
			defer m.untrack(tc)
			m.handleRPC(tc, peer)
		}
	default:
		m.refuse(remote, fmt.Sprintf("unknown protocol byte %#x from %q", b[0], peer), false)
		tc.Close()
	}
}

func (m *mux) refuse(remote, reason string, join bool) {
	m.logger.Warn("refused cluster connection", "remote", remote, "reason", reason, "join", join)
	if m.denied != nil {
		m.denied(remote, reason, join)
	}
}

// track registers a served connection; false (and the connection closed)
// once the mux is closing.
func (m *mux) track(c net.Conn) bool {
	m.connMu.Lock()
	defer m.connMu.Unlock()
	select {
	case <-m.closed:
		c.Close()
		return false
	default:
	}
	if m.conns == nil {
		m.conns = map[net.Conn]struct{}{}
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *mux) untrack(c net.Conn) {
	m.connMu.Lock()
	delete(m.conns, c)
	m.connMu.Unlock()
}

func (m *mux) close() {
	m.closeOnce.Do(func() {
		m.connMu.Lock()
		close(m.closed)
		for c := range m.conns {
			c.Close()
		}
		m.connMu.Unlock()
		m.ln.Close()
	})
}

// streamLayer is the raft.StreamLayer over the mux: Accept yields connections
// that chose protoRaft, Dial opens mutual-TLS connections to peers.
type streamLayer struct {
	m      *mux
	client *tls.Config
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftConns:
		return c, nil
	case <-s.m.closed:
		return nil, net.ErrClosed
	}
}

func (s *streamLayer) Close() error { s.m.close(); return nil }

func (s *streamLayer) Addr() net.Addr { return s.m.advertise }

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dialProto(ctx, string(address), s.client, protoRaft)
}

// dialProto opens a TLS connection and announces the protocol.
func dialProto(ctx context.Context, addr string, conf *tls.Config, proto byte) (*tls.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: handshakeTimeout, KeepAlive: 15 * time.Second}, Config: conf}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialling %s: %w", addr, err)
	}
	tc := c.(*tls.Conn)
	if _, err := tc.Write([]byte{proto}); err != nil {
		tc.Close()
		return nil, fmt.Errorf("dialling %s: %w", addr, err)
	}
	return tc, nil
}
