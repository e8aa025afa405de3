package ui

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sded/sded/cluster/model"
)

// dialerFunc is a DesktopDialer from a function.
type dialerFunc func(ctx context.Context, id string) (net.Conn, error)

func (f dialerFunc) DialConsole(ctx context.Context, id string) (net.Conn, error) { return f(ctx, id) }

// fakeVNC serves one RFB 3.8 session on conn: the handshake, then a
// clipboard message with secret, a 1x1 raw update, and whatever the client
// sends is collected until it hangs up.
func fakeVNC(conn net.Conn, secret string, got *bytes.Buffer, done chan<- struct{}) {
	defer close(done)
	defer conn.Close()
	conn.Write([]byte("RFB 003.008\n\x01\x01"))
	hello := make([]byte, 12+1)
	if _, err := io.ReadFull(conn, hello); err != nil {
		return
	}
	conn.Write([]byte{0, 0, 0, 0}) // security result ok
	shared := make([]byte, 1)
	io.ReadFull(conn, shared)
	init := []byte{0, 1, 0, 1, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}
	init = binary.BigEndian.AppendUint32(init, 2)
	conn.Write(append(init, "vm"...))
	cut := []byte{3, 0, 0, 0}
	cut = binary.BigEndian.AppendUint32(cut, uint32(len(secret)))
	conn.Write(append(cut, secret...))
	conn.Write([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4})
	io.Copy(got, conn)
}

func TestDesktopSocket(t *testing.T) {
	for _, paste := range []bool{false, true} {
		f := baseFake()
		var mu sync.Mutex
		var closed []string
		f.OpenDesktopFn = func(_ context.Context, a model.Actor, id, _ string) (DesktopGrant, error) {
			if a.UserID != alice.ID || id != "w1" {
				return DesktopGrant{}, model.Errorf(model.CodeForbidden, "not your workstation")
			}
			return DesktopGrant{WorkstationID: id, ProjectID: "p1", AllowPaste: paste}, nil
		}
		f.CloseDesktopFn = func(_ context.Context, _ model.Actor, g DesktopGrant, d time.Duration, reason string) error {
			mu.Lock()
			defer mu.Unlock()
			closed = append(closed, g.WorkstationID+" "+reason)
			return nil
		}
		var got bytes.Buffer
		vncDone := make(chan struct{})
		ts := newTestServer(t, f, dialerFunc(func(_ context.Context, id string) (net.Conn, error) {
			a, b := net.Pipe()
			go fakeVNC(b, "GUEST-SECRET", &got, vncDone)
			return a, nil
		}))
		wsURL := "wss" + strings.TrimPrefix(ts.URL, "https") + "/workstations/w1/desktop/ws"
		hdr := http.Header{"Cookie": {sessionCookie + "=full-alice"}}
		c, _, err := websocket.Dial(context.Background(), wsURL, &websocket.DialOptions{HTTPClient: ts.client, HTTPHeader: hdr, Subprotocols: []string{"binary"}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
		// Handshake as noVNC does it, then a paste and a key press.
		greeting := make([]byte, 12)
		io.ReadFull(nc, greeting)
		nc.Write([]byte("RFB 003.008\n"))
		io.ReadFull(nc, greeting[:2])
		nc.Write([]byte{1})
		res := make([]byte, 4)
		io.ReadFull(nc, res)
		nc.Write([]byte{1})
		init := make([]byte, 24+2)
		io.ReadFull(nc, init)
		update := make([]byte, 20)
		if _, err := io.ReadFull(nc, update); err != nil {
			t.Fatalf("reading update: %v", err)
		}
		if !bytes.Equal(update[16:], []byte{1, 2, 3, 4}) {
			t.Errorf("first message after init = %v, want the framebuffer update (clipboard dropped)", update)
		}
		p := []byte{6, 0, 0, 0, 0, 0, 0, 5}
		nc.Write(append(p, "PASTE"...))
		nc.Write([]byte{4, 1, 0, 0, 0, 0, 0, 0x61})
		time.Sleep(100 * time.Millisecond)
		c.Close(websocket.StatusNormalClosure, "")
		<-vncDone
		if bytes.Contains(update, []byte("GUEST-SECRET")) {
			t.Error("guest clipboard reached the browser")
		}
		if gotPaste := bytes.Contains(got.Bytes(), []byte("PASTE")); gotPaste != paste {
			t.Errorf("paste allowed=%v but guest received paste=%v", paste, gotPaste)
		}
		if !bytes.Contains(got.Bytes(), []byte{4, 1, 0, 0, 0, 0, 0, 0x61}) {
			t.Error("key event did not reach the guest")
		}
		deadline := time.Now().Add(2 * time.Second)
		for {
			mu.Lock()
			n := len(closed)
			mu.Unlock()
			if n > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		if len(closed) != 1 || closed[0] != "w1 closed" {
			t.Errorf("desktop close audited as %v, want [w1 closed]", closed)
		}
		mu.Unlock()
	}
}

func TestDesktopSocketRefusals(t *testing.T) {
	f := baseFake()
	dialled := false
	f.OpenDesktopFn = func(_ context.Context, a model.Actor, id, _ string) (DesktopGrant, error) {
		if id != "w1" {
			return DesktopGrant{}, model.Errorf(model.CodeForbidden, "not your workstation")
		}
		return DesktopGrant{WorkstationID: id}, nil
	}
	f.CloseDesktopFn = func(context.Context, model.Actor, DesktopGrant, time.Duration, string) error { return nil }
	ts := newTestServer(t, f, dialerFunc(func(context.Context, string) (net.Conn, error) {
		dialled = true
		a, b := net.Pipe()
		go func() { io.Copy(io.Discard, b) }()
		return a, nil
	}))
	base := "wss" + strings.TrimPrefix(ts.URL, "https")
	tests := []struct {
		name, path, origin string
		want               int
	}{
		{"another's workstation", "/workstations/w2/desktop/ws", "", http.StatusForbidden},
		{"cross-origin page", "/workstations/w1/desktop/ws", "https://evil.example", http.StatusForbidden},
	}
	for _, tt := range tests {
		hdr := http.Header{"Cookie": {sessionCookie + "=full-alice"}}
		if tt.origin != "" {
			hdr.Set("Origin", tt.origin)
		}
		_, resp, err := websocket.Dial(context.Background(), base+tt.path, &websocket.DialOptions{HTTPClient: ts.client, HTTPHeader: hdr})
		if err == nil || resp == nil || resp.StatusCode != tt.want {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Errorf("%s: err %v status %d, want %d", tt.name, err, code, tt.want)
		}
		if tt.name == "another's workstation" && dialled {
			t.Error("console dialled for a refused session")
		}
	}
}

// TestDesktopEndsWithSession: logging out (or being disabled) elsewhere ends
// an open desktop within the check interval.
func TestDesktopEndsWithSession(t *testing.T) {
	f := baseFake()
	var mu sync.Mutex
	revoked := false
	auth := f.AuthenticateFn
	f.AuthenticateFn = func(ctx context.Context, tok string) (model.Session, model.User, error) {
		mu.Lock()
		defer mu.Unlock()
		if revoked {
			return model.Session{}, model.User{}, model.ErrUnauthenticated
		}
		return auth(ctx, tok)
	}
	f.OpenDesktopFn = func(_ context.Context, _ model.Actor, id, _ string) (DesktopGrant, error) {
		return DesktopGrant{WorkstationID: id}, nil
	}
	reasons := make(chan string, 1)
	f.CloseDesktopFn = func(_ context.Context, _ model.Actor, _ DesktopGrant, _ time.Duration, reason string) error {
		reasons <- reason
		return nil
	}
	var got bytes.Buffer
	vncDone := make(chan struct{})
	ts := newTestServerCfg(t, Config{DesktopSessionCheck: 50 * time.Millisecond}, f, dialerFunc(func(context.Context, string) (net.Conn, error) {
		a, b := net.Pipe()
		go fakeVNC(b, "x", &got, vncDone)
		return a, nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(ts.URL, "https")+"/workstations/w1/desktop/ws",
		&websocket.DialOptions{HTTPClient: ts.client, HTTPHeader: http.Header{"Cookie": {sessionCookie + "=full-alice"}}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	go func() {
		nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
		io.Copy(io.Discard, nc)
	}()
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	revoked = true
	mu.Unlock()
	select {
	case r := <-reasons:
		if r != "session ended" {
			t.Errorf("desktop closed with reason %q, want session ended", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("desktop stayed open after its login session ended")
	}
}
