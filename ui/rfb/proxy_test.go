package rfb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// msg builds protocol messages from bytes, uint16s, int32s and strings.
func msg(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		case uint16:
			b = binary.BigEndian.AppendUint16(b, v)
		case int32:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic("msg: unsupported part")
		}
	}
	return b
}

var (
	pixel32     = msg(32, 24, 0, 1, uint16(255), uint16(255), uint16(255), 16, 8, 0, 0, 0, 0)
	serverHello = msg(version38, 1, secNone)
	serverInit  = msg(uint16(4), uint16(2), pixel32, int32(4), "test")
	clientHello = msg(version38, secNone, 1) // version, chosen security, shared
	helloToCli  = msg(version38, 1, secNone, int32(0), serverInit)
)

// guestMessages is what a guest's VNC server sends after the handshake:
// screen updates in every framed encoding, interleaved with clipboard text.
func guestMessages() (all, withoutClipboard []byte) {
	secret := "SECRET-FROM-GUEST"
	cut := msg(msgServerCutText, 0, 0, 0, int32(len(secret)), secret)
	extCut := msg(msgServerCutText, 0, 0, 0, int32(-int32(len(secret)+4)), int32(1), secret)
	hextile := msg(uint16(0), uint16(0), uint16(18), uint16(2), int32(encHextile),
		1, bytes.Repeat([]byte{7}, 16*2*4), // raw tile 16x2
		2|4|8|16, bytes.Repeat([]byte{1}, 8), 1, bytes.Repeat([]byte{2}, 6)) // 2x2 tile, bg, fg, one coloured subrect
	update := msg(msgFramebufferUpdate, 0, uint16(7),
		uint16(0), uint16(0), uint16(2), uint16(2), int32(encRaw), bytes.Repeat([]byte{9}, 16),
		uint16(0), uint16(0), uint16(1), uint16(1), int32(encCopyRect), uint16(1), uint16(1),
		uint16(0), uint16(0), uint16(2), uint16(2), int32(encRRE), int32(1), bytes.Repeat([]byte{3}, 4+12),
		hextile,
		uint16(0), uint16(0), uint16(4), uint16(2), int32(encZRLE), int32(5), "zzzzz",
		uint16(0), uint16(0), uint16(9), uint16(1), int32(encCursor), bytes.Repeat([]byte{4}, 9*4+2),
		uint16(0), uint16(0), uint16(8), uint16(8), int32(encDesktopSize))
	lastRect := msg(msgFramebufferUpdate, 0, uint16(0xffff),
		uint16(0), uint16(0), uint16(4), uint16(2), int32(encExtendedDesktopSize), 1, 0, 0, 0, bytes.Repeat([]byte{5}, 16),
		uint16(0), uint16(0), uint16(0), uint16(0), int32(encLastRect))
	colour := msg(msgSetColourMapEntries, 0, uint16(0), uint16(1), uint16(1), uint16(2), uint16(3))
	bell := msg(msgBell)
	all = msg(cut, update, extCut, lastRect, colour, cut, bell)
	withoutClipboard = msg(update, lastRect, colour, bell)
	return all, withoutClipboard
}

// run proxies between two in-memory connections; the server side writes
// serverOut then closes, and the client side writes clientOut then waits for
// the server to finish. It returns what each side received after the
// handshake and the proxy's result.
func run(t *testing.T, p Policy, serverOut, clientOut []byte) (toClient, toServer []byte, st Stats, err error) {
	t.Helper()
	cl, cp := net.Pipe()
	sp, sv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, err = Proxy(context.Background(), cp, sp, p)
	}()
	serverGot := make(chan []byte)
	go func() {
		sv.Write(serverOut)
		b, _ := io.ReadAll(sv)
		serverGot <- b
	}()
	clientGot := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(cl)
		clientGot <- b
	}()
	cl.Write(clientOut)
	time.Sleep(50 * time.Millisecond) // let the client's messages pass before the server hangs up
	sv.Close()
	toServer = <-serverGot
	toClient = <-clientGot
	<-done
	return toClient, toServer, st, err
}

func TestGuestClipboardNeverReachesBrowser(t *testing.T) {
	all, want := guestMessages()
	for _, paste := range []bool{false, true} {
		got, _, st, err := run(t, Policy{AllowPaste: paste}, msg(serverHello, int32(0), serverInit, all), clientHello)
		if err != nil {
			t.Fatalf("paste=%v: Proxy: %v", paste, err)
		}
		if bytes.Contains(got, []byte("SECRET")) {
			t.Fatalf("paste=%v: guest clipboard text reached the browser", paste)
		}
		if diff := cmp.Diff(msg(helloToCli, want), got); diff != "" {
			t.Errorf("paste=%v: browser received (-want +got):\n%s", paste, diff)
		}
		if st.DroppedServerCutText != 3 {
			t.Errorf("paste=%v: dropped %d guest clipboard messages, want 3", paste, st.DroppedServerCutText)
		}
	}
}

func TestPasteInFollowsPolicy(t *testing.T) {
	encodings := msg(msgSetEncodings, 0, uint16(4), int32(encRaw), int32(EncExtendedClipboard), int32(7) /* tight */, int32(encZRLE))
	stripped := msg(msgSetEncodings, 0, uint16(2), int32(encRaw), int32(encZRLE))
	key := msg(msgKeyEvent, 1, 0, 0, int32(0x61))
	paste := msg(msgClientCutText, 0, 0, 0, int32(5), "hello")
	extPaste := msg(msgClientCutText, 0, 0, 0, int32(-8), int32(1), "abcd")
	pointer := msg(msgPointerEvent, 0, uint16(1), uint16(2))
	qemuKey := msg(msgQEMUClient, 0, uint16(1), int32(0x61), int32(30))
	in := msg(encodings, key, paste, extPaste, pointer, qemuKey)
	tests := []struct {
		name      string
		policy    Policy
		want      []byte
		forwarded int
		dropped   int
	}{
		{"tier denies paste", Policy{}, msg(stripped, key, pointer, qemuKey), 0, 2},
		{"tier allows paste, never extended", Policy{AllowPaste: true}, msg(stripped, key, paste, pointer, qemuKey), 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, st, err := run(t, tt.policy, msg(serverHello, int32(0), serverInit), msg(clientHello, in))
			if err != nil {
				t.Fatalf("Proxy: %v", err)
			}
			if diff := cmp.Diff(msg(version38, secNone, 1, tt.want), got); diff != "" {
				t.Errorf("server received (-want +got):\n%s", diff)
			}
			if st.ForwardedClientCutText != tt.forwarded || st.DroppedClientCutText != tt.dropped || st.StrippedEncodings != 2 {
				t.Errorf("stats = %+v, want forwarded %d dropped %d stripped 2", st, tt.forwarded, tt.dropped)
			}
		})
	}
}

// TestBadInput says what the proxy does with each kind of malformed or
// unexpected input: it ends the session with an error naming the problem and
// forwards nothing it has not parsed.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		server []byte
		client []byte
		err    string
		// notToClient must not appear in what the browser received.
		notToClient string
	}{
		{name: "old server version", server: []byte("RFB 003.003\n"), err: "unsupported server version"},
		{name: "garbage server version", server: []byte("HTTP/1.1 200"), err: "unsupported server version"},
		{name: "old client version", server: serverHello, client: []byte("RFB 003.007\n"), err: "unsupported client version"},
		{name: "only unsupported security", server: msg(version38, 1, 19), client: msg(version38), err: "no supported security type"},
		{name: "client picks unoffered security", server: serverHello, client: msg(version38, 19), err: "not offered"},
		{name: "auth failure relayed", server: msg(serverHello, int32(1), int32(3), "bad"), client: clientHello[:13], err: `authentication failed: "bad"`},
		{name: "unknown server message", server: msg(serverHello, int32(0), serverInit, 77, "SECRET"), client: clientHello, err: "unsupported server message type 77", notToClient: "SECRET"},
		{name: "unnegotiated encoding", server: msg(serverHello, int32(0), serverInit, msgFramebufferUpdate, 0, uint16(1), uint16(0), uint16(0), uint16(1), uint16(1), int32(7), "SECRET"), client: clientHello, err: "unnegotiated encoding 7", notToClient: "SECRET"},
		{name: "unknown client message", server: msg(serverHello, int32(0), serverInit), client: msg(clientHello, 99), err: "unsupported client message type 99"},
		{name: "oversized paste", policy: Policy{AllowPaste: true, MaxCutText: 4}, server: msg(serverHello, int32(0), serverInit), client: msg(clientHello, msgClientCutText, 0, 0, 0, int32(5), "hello"), err: "exceeds 4"},
		{name: "bad pixel format", server: msg(serverHello, int32(0), serverInit), client: msg(clientHello, msgSetPixelFormat, 0, 0, 0, 24, bytes.Repeat([]byte{0}, 15)), err: "unsupported bits per pixel 24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _, err := run(t, tt.policy, tt.server, tt.client)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Proxy error = %v, want it to contain %q", err, tt.err)
			}
			if tt.notToClient != "" && bytes.Contains(got, []byte(tt.notToClient)) {
				t.Errorf("browser received unparsed bytes %q", tt.notToClient)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	cl, cp := net.Pipe()
	sp, sv := net.Pipe()
	go io.Copy(io.Discard, cl)
	go io.Copy(io.Discard, sv)
	go sv.Write(msg(serverHello, int32(0), serverInit))
	go cl.Write(clientHello)
	start := time.Now()
	_, err := Proxy(context.Background(), cp, sp, Policy{IdleTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrIdle) {
		t.Fatalf("Proxy error = %v, want ErrIdle", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("idle session ended after %v", d)
	}
}

func TestContextCancelEndsSession(t *testing.T) {
	cl, cp := net.Pipe()
	sp, sv := net.Pipe()
	go io.Copy(io.Discard, cl)
	go io.Copy(io.Discard, sv)
	go sv.Write(msg(serverHello, int32(0), serverInit))
	go cl.Write(clientHello)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Proxy(ctx, cp, sp, Policy{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Proxy error = %v, want deadline exceeded", err)
	}
}
