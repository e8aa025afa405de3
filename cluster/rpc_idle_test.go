package cluster

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A pooled connection whose peer has closed it is recognised before a
// request is sent on it (so a propose is never sent twice on a retry).
func TestIdleAlive(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.StartTLS()
	defer ts.Close()
	conn, err := tls.Dial("tcp", ts.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	if !idleAlive(conn) {
		t.Fatal("an open idle connection looks stale")
	}
	ts.CloseClientConnections()
	deadline := time.Now().Add(5 * time.Second)
	for idleAlive(conn) {
		if time.Now().After(deadline) {
			t.Fatal("a connection the peer closed still looks alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
