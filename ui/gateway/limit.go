package gateway

import (
	"net"
	"sync"
)

// maxConns bounds the open connections of one project's listener, so a
// guest cannot exhaust the host's file descriptors or goroutines.
const maxConns = 64

// limitListener accepts at most n connections at once; Accept waits for a
// slot (like golang.org/x/net/netutil.LimitListener).
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func newLimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
