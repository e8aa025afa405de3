package rfb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is what one desktop session may do.
type Policy struct {
	// AllowPaste forwards browser-to-guest clipboard text (ClientCutText).
	// Guest-to-browser clipboard text is never forwarded.
	AllowPaste bool
	// IdleTimeout ends the session when the browser sent no key or pointer
	// input for this long; zero disables it.
	IdleTimeout time.Duration
	// MaxCutText bounds one forwarded ClientCutText; zero means 1 MiB.
	MaxCutText int
}

// Stats says what a session did, for the audit record.
type Stats struct {
	DroppedServerCutText   int   // guest clipboard messages dropped
	DroppedClientCutText   int   // browser paste messages dropped
	ForwardedClientCutText int   // browser paste messages forwarded (tier allows)
	StrippedEncodings      int   // encodings removed from SetEncodings
	BytesToClient          int64 // bytes written to the browser side
	BytesToServer          int64 // bytes written to the VNC server
}

// ErrIdle ends a session whose browser sent no input for Policy.IdleTimeout.
var ErrIdle = errors.New("desktop idle timeout")

const (
	maxReason  = 4096
	maxName    = 4096
	defaultCut = 1 << 20
	bufferSize = 64 << 10
	version38  = "RFB 003.008\n"
)

// Proxy runs the RFB handshake between client (the browser) and server (the
// VNC server), then forwards messages both ways under policy until either side
// closes, ctx ends, the session idles out or a message cannot be parsed. It
// closes both connections before returning. A clean close by either peer
// returns a nil error.
func Proxy(ctx context.Context, client, server io.ReadWriteCloser, p Policy) (Stats, error) {
	if p.MaxCutText <= 0 {
		p.MaxCutText = defaultCut
	}
	s := &session{
		policy: p,
		cr:     bufio.NewReaderSize(client, bufferSize),
		sr:     bufio.NewReaderSize(server, bufferSize),
		cw:     &countWriter{w: client},
		sw:     &countWriter{w: server},
	}
	s.touch()
	closeBoth := sync.OnceFunc(func() {
		client.Close()
		server.Close()
	})
	defer closeBoth()

	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()

	if err := s.handshake(); err != nil {
		if ctx.Err() != nil {
			return s.stats(), ctx.Err()
		}
		return s.stats(), fmt.Errorf("rfb handshake: %w", err)
	}

	errc := make(chan error, 3)
	go func() { errc <- s.clientLoop() }()
	go func() { errc <- s.serverLoop() }()
	idleDone := make(chan struct{})
	defer close(idleDone)
	if p.IdleTimeout > 0 {
		go func() {
			tick := time.NewTicker(min(p.IdleTimeout/4, time.Second))
			defer tick.Stop()
			for {
				select {
				case <-idleDone:
					return
				case <-tick.C:
					if time.Since(time.Unix(0, s.lastInput.Load())) > p.IdleTimeout {
						errc <- ErrIdle
						return
					}
				}
			}
		}()
	}

	first := <-errc
	closeBoth()
	<-errc // the other loop ends once the connections are closed
	switch {
	case errors.Is(first, ErrIdle):
		<-errc
		return s.stats(), ErrIdle
	case ctx.Err() != nil:
		return s.stats(), ctx.Err()
	case peerClosed(first):
		return s.stats(), nil
	}
	return s.stats(), first
}

type session struct {
	policy Policy
	cr, sr *bufio.Reader
	cw, sw *countWriter

	bpp       atomic.Int32 // bytes per pixel of the current pixel format
	lastInput atomic.Int64 // unix nanoseconds of the last key/pointer event

	droppedServerCut, droppedClientCut, forwardedClientCut, stripped atomic.Int64
}

func (s *session) touch() { s.lastInput.Store(time.Now().UnixNano()) }

func (s *session) stats() Stats {
	return Stats{
		DroppedServerCutText:   int(s.droppedServerCut.Load()),
		DroppedClientCutText:   int(s.droppedClientCut.Load()),
		ForwardedClientCutText: int(s.forwardedClientCut.Load()),
		StrippedEncodings:      int(s.stripped.Load()),
		BytesToClient:          s.cw.n.Load(),
		BytesToServer:          s.sw.n.Load(),
	}
}

// countWriter counts bytes written through it.
type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// peerClosed reports whether err only says that a peer hung up.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
