package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
)

// Pool runs one Server per interface.
type Pool struct {
	log *slog.Logger

	mu      sync.Mutex
	servers map[string]*running
}

type running struct {
	s    *Server
	stop context.CancelFunc
	done chan struct{}
}

// NewPool returns an empty Pool.
func NewPool(log *slog.Logger) *Pool { return &Pool{log: log, servers: map[string]*running{}} }

// Set makes the running servers match cfgs: it updates leases in place,
// starts servers for new interfaces (call it from a thread in the network
// namespace of those interfaces), restarts a server whose interface was
// recreated, and stops the rest. Errors for one interface do not stop the
// others; they are joined.
func (p *Pool) Set(ctx context.Context, cfgs []Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	// One dump of the interfaces for all servers: net.InterfaceByName
	// dumps every interface on each call, which with hundreds of bridges
	// made Set quadratic.
	index := map[string]int{}
	if len(cfgs) > 0 {
		ifs, err := net.Interfaces()
		if err != nil {
			return fmt.Errorf("setting dhcp servers: listing interfaces: %w", err)
		}
		for _, ifi := range ifs {
			index[ifi.Name] = ifi.Index
		}
	}
	want := map[string]bool{}
	for _, c := range cfgs {
		want[c.Interface] = true
		if r, ok := p.servers[c.Interface]; ok {
			if i, ok := index[c.Interface]; ok && i == r.s.ifindex {
				if err := r.s.Update(c); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			p.stop(c.Interface)
		}
		i, ok := index[c.Interface]
		if !ok {
			errs = append(errs, fmt.Errorf("dhcp on %s: no such network interface", c.Interface))
			continue
		}
		s, err := listen(ctx, p.log, c, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{s: s, stop: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			if err := s.Serve(sctx); err != nil {
				p.log.Error("dhcp server stopped", "interface", c.Interface, "err", err)
			}
		}()
		p.servers[c.Interface] = r
	}
	for name := range p.servers {
		if !want[name] {
			p.stop(name)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("setting dhcp servers: %w", errors.Join(errs...))
	}
	return nil
}

func (p *Pool) stop(name string) {
	r := p.servers[name]
	r.stop()
	r.s.Close()
	<-r.done
	delete(p.servers, name)
}

// Close stops every server.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name := range p.servers {
		p.stop(name)
	}
}
