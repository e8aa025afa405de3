package cluster

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
)

// The cluster RPC (protocol byte 'C') carries length-prefixed JSON frames: one
// rpcRequest, then one rpcResponse, repeated on a pooled connection. Errors
// travel as *model.Error so their codes survive the hop.

// maxFrame bounds one frame: a maximal command, base64-encoded, plus envelope.
const maxFrame = fsm.MaxCommandSize*4/3 + 64<<10

const defaultRPCTimeout = 10 * time.Second

// Error codes the cluster package produces itself.
const (
	codeUnavailable = model.CodeUnavailable
	codeInvalid     = model.CodeInvalid
	codeTooLarge    = model.CodeTooLarge
	codeForbidden   = model.CodeForbidden
	codeInternal    = model.CodeInternal
	codeUnauth      = model.CodeUnauthenticated
)

type rpcRequest struct {
	Method string          `json:"m"`
	Body   json.RawMessage `json:"b,omitempty"`
}

type rpcResponse struct {
	Body json.RawMessage `json:"b,omitempty"`
	Err  *model.Error    `json:"e,omitempty"`
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding frame: %w", err)
	}
	if len(b) > maxFrame {
		return &model.Error{Code: codeTooLarge, Message: fmt.Sprintf("message of %d bytes exceeds the %d byte limit", len(b), maxFrame)}
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// errFrameTooLarge is returned by readFrame for a frame over maxFrame.
var errFrameTooLarge = errors.New("frame too large")

func readFrame(r io.Reader, v any) error { return readFrameLimit(r, v, maxFrame) }

// readFrameLimit reads one frame of at most limit bytes.
func readFrameLimit(r io.Reader, v any, limit uint32) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit {
		return fmt.Errorf("%w: %d bytes (limit %d)", errFrameTooLarge, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding frame: %w", err)
	}
	return nil
}

// rpcHandler serves one method; peer is the caller's node ID from its certificate.
type rpcHandler func(ctx context.Context, peer string, body json.RawMessage) (any, error)

// serveRPC answers requests on one connection until it closes.
func (n *Node) serveRPC(conn *tls.Conn, peer string) {
	defer conn.Close()
	var issued time.Time
	if pcs := conn.ConnectionState().PeerCertificates; len(pcs) > 0 {
		issued = pcs[0].NotBefore.Add(certBackdate)
	}
	for {
		var req rpcRequest
		err := readFrame(conn, &req)
		if errors.Is(err, errFrameTooLarge) {
			n.logger.Warn("refused oversized cluster RPC", "peer", peer, "err", err)
			_ = writeFrame(conn, rpcResponse{Err: &model.Error{Code: codeTooLarge, Message: err.Error()}})
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !isClosed(err) {
				n.logger.Debug("reading cluster RPC", "peer", peer, "err", err)
			}
			return
		}
		resp := n.dispatchRPC(peer, issued, req)
		if err := writeFrame(conn, resp); err != nil {
			n.logger.Debug("writing cluster RPC response", "peer", peer, "err", err)
			return
		}
	}
}

func (n *Node) dispatchRPC(peer string, issued time.Time, req rpcRequest) rpcResponse {
	h, ok := n.handlers[req.Method]
	if !ok {
		return rpcResponse{Err: &model.Error{Code: codeInvalid, Message: fmt.Sprintf("unknown cluster RPC %q", req.Method)}}
	}
	ctx, cancel := context.WithTimeout(context.WithValue(n.ctx, peerIssuedKey{}, issued), defaultRPCTimeout)
	defer cancel()
	out, err := h(ctx, peer, req.Body)
	if err != nil {
		return rpcResponse{Err: toModelError(err)}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return rpcResponse{Err: &model.Error{Code: codeInternal, Message: "encoding response: " + err.Error()}}
	}
	return rpcResponse{Body: b}
}

// peerIssuedKey carries, in a handler's context, when the calling peer's
// certificate was issued.
type peerIssuedKey struct{}

func peerIssued(ctx context.Context) time.Time {
	t, _ := ctx.Value(peerIssuedKey{}).(time.Time)
	return t
}

// toModelError keeps a *model.Error as it is and wraps anything else.
func toModelError(err error) *model.Error {
	var me *model.Error
	if errors.As(err, &me) {
		return me
	}
	return &model.Error{Code: codeUnavailable, Message: err.Error()}
}

// unavailable builds the error for a request whose outcome is unknown or that
// could not reach the leader.
func unavailable(format string, args ...any) *model.Error {
	return &model.Error{Code: codeUnavailable, Message: fmt.Sprintf(format, args...)}
}

// rpcClient keeps a few idle connections per peer address.
type rpcClient struct {
	conf *tls.Config
	mu   sync.Mutex
	idle map[string][]*tls.Conn
}

// maxIdlePerPeer covers the concurrency of forwarded proposals: each call
// holds a connection for its round trip, and one not kept costs the next
// call a TLS handshake on both nodes (with 64 concurrent writers through a
// follower, a cap of 16 halved its throughput).
const maxIdlePerPeer = 128

func newRPCClient(conf *tls.Config) *rpcClient {
	return &rpcClient{conf: conf, idle: map[string][]*tls.Conn{}}
}

// call sends one request to addr and decodes the answer into out. Transport
// failures come back as *model.Error with code "unavailable"; the remote
// side's *model.Error comes back as it was sent.
func (c *rpcClient) call(ctx context.Context, addr, method string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", method, err)
	}
	req := rpcRequest{Method: method, Body: body}
	// One retry on a fresh connection when a pooled one turns out stale, but
	// only if the request cannot have reached the peer: a propose that was
	// sent may have been applied, and sending it again would apply it twice.
	for attempt := 0; ; attempt++ {
		conn, pooled, err := c.get(ctx, addr)
		if err != nil {
			return unavailable("calling %s on %s: %v", method, addr, err)
		}
		resp, sent, err := roundTrip(ctx, conn, req)
		if err != nil {
			conn.Close()
			var me *model.Error
			if errors.As(err, &me) {
				return me // local refusal, e.g. too large
			}
			if pooled && attempt == 0 && (!sent || method != "propose") {
				continue
			}
			return unavailable("calling %s on %s: %v", method, addr, err)
		}
		c.put(addr, conn)
		if resp.Err != nil {
			return resp.Err
		}
		if out != nil && len(resp.Body) > 0 {
			if err := json.Unmarshal(resp.Body, out); err != nil {
				return fmt.Errorf("decoding %s response: %w", method, err)
			}
		}
		return nil
	}
}

// roundTrip sends req and reads the answer; sent says whether the whole
// request went out (the peer may then have acted on it).
func roundTrip(ctx context.Context, conn *tls.Conn, req rpcRequest) (resp rpcResponse, sent bool, err error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultRPCTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := writeFrame(conn, req); err != nil {
		return resp, false, err
	}
	if err := readFrame(conn, &resp); err != nil {
		return resp, true, err
	}
	_ = conn.SetDeadline(time.Time{})
	return resp, true, nil
}

func (c *rpcClient) get(ctx context.Context, addr string) (*tls.Conn, bool, error) {
	c.mu.Lock()
	for l := c.idle[addr]; len(l) > 0; l = c.idle[addr] {
		conn := l[len(l)-1]
		c.idle[addr] = l[:len(l)-1]
		if idleAlive(conn) {
			c.mu.Unlock()
			return conn, true, nil
		}
		conn.Close() // the peer closed it (or sent something unasked)
	}
	c.mu.Unlock()
	conn, err := dialProto(ctx, addr, c.conf, protoRPC)
	return conn, false, err
}

// idleAlive reports whether an idle connection is still open: the peer
// never sends on an idle RPC connection, so anything readable (EOF, a TLS
// close alert) means it is stale. It peeks at the socket without reading.
func idleAlive(conn *tls.Conn) bool {
	raw, ok := conn.NetConn().(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := raw.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	if err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0 || (n == 0 && err == nil): // data or EOF
			alive = false
		case errors.Is(err, syscall.EAGAIN):
		default:
			alive = false
		}
		return true // never wait
	}); err != nil {
		return false
	}
	return alive
}

func (c *rpcClient) put(addr string, conn *tls.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil || len(c.idle[addr]) >= maxIdlePerPeer {
		conn.Close()
		return
	}
	c.idle[addr] = append(c.idle[addr], conn)
}

func (c *rpcClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.idle {
		for _, conn := range l {
			conn.Close()
		}
	}
	c.idle = nil
}

func isClosed(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
