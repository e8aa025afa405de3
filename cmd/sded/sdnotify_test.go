package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// listenNotify opens a real datagram socket like the one systemd passes in
// $NOTIFY_SOCKET and returns it with the value to put in the variable.
func listenNotify(t *testing.T, abstract bool) (*net.UnixConn, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify.sock")
	env := name
	if abstract {
		env = fmt.Sprintf("@sded-test-notify-%d-%d", os.Getpid(), time.Now().UnixNano())
		name = "\x00" + env[1:]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listening on notify socket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, env
}

func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("reading notification: %v", err)
	}
	return string(buf[:n])
}

func TestSdNotifySends(t *testing.T) {
	for _, tc := range []struct {
		name     string
		abstract bool
		states   []string
	}{
		{"path socket", false, []string{"READY=1", "STOPPING=1"}},
		{"abstract socket", true, []string{"READY=1\nSTATUS=serving on 127.0.0.1:8443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, env := listenNotify(t, tc.abstract)
			t.Setenv("NOTIFY_SOCKET", env)
			var got []string
			for _, s := range tc.states {
				sent, err := sdNotify(s)
				if err != nil || !sent {
					t.Fatalf("sdNotify(%q) = %v, %v; want true, nil", s, sent, err)
				}
				got = append(got, readDatagram(t, conn))
			}
			if diff := cmp.Diff(tc.states, got); diff != "" {
				t.Errorf("datagrams received (-want +got):\n%s", diff)
			}
		})
	}
}

// Outside systemd (no $NOTIFY_SOCKET) sdNotify does nothing and is not an error.
func TestSdNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	sent, err := sdNotify("READY=1")
	if sent || err != nil {
		t.Fatalf("sdNotify without NOTIFY_SOCKET = %v, %v; want false, nil", sent, err)
	}
}

// Bad input: each case is reported as an error naming the problem, nothing is sent.
func TestSdNotifyErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env, state, want string
	}{
		{"relative path", "run/notify", "READY=1", "neither an absolute path"},
		{"missing socket", filepath.Join(dir, "absent.sock"), "READY=1", "no such file"},
		{"regular file", regular, "READY=1", "connection refused"},
		{"empty state", filepath.Join(dir, "absent.sock"), "", "empty state"},
		{"NUL in state", filepath.Join(dir, "absent.sock"), "READY=1\x00", "NUL byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tc.env)
			sent, err := sdNotify(tc.state)
			if sent || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("sdNotify(%q) with NOTIFY_SOCKET=%q = %v, %v; want false and an error containing %q", tc.state, tc.env, sent, err, tc.want)
			}
		})
	}
}
