// Package gateway serves the airlock endpoint that workstations reach on
// their project's gateway address (http://GATEWAY:PORT/, the address in each
// guest's seed): a researcher creates an export request, uploads files and
// submits with curl or busybox wget from inside the workstation.
//
// A request is bound to the workstation and its researcher by the
// connection's source address alone, looked up among the workstations of the
// project whose listener it arrived on; the network layer's anti-spoofing
// rules guarantee that address. Nothing the guest says about who it is
// counts. A connection from an address that is no workstation of that
// project (another project's guest, the host, a stale lease) is refused and
// audited, as is any attempt on a request of another workstation.
//
// Responses are plain text by default and JSON when the client sends
// "Accept: application/json" or ?format=json. docs/airlock.md shows the
// guest-side commands.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// Engine is what the gateway needs of the airlock engine (*airlock.Engine).
type Engine interface {
	Create(ctx context.Context, actor model.Actor, p model.CreateAirlock) (model.AirlockRequest, error)
	AddFile(ctx context.Context, actor model.Actor, requestID, name string, body io.Reader, opt airlock.FileOptions) (model.AirlockRequest, error)
	Submit(ctx context.Context, actor model.Actor, s airlock.Submission) (model.AirlockRequest, error)
	Transition(ctx context.Context, actor model.Actor, requestID string, to model.AirlockState, reason string) (model.AirlockRequest, error)
}

// Directory reads the replicated state for the researcher
// (*cluster.Service implements it).
type Directory interface {
	Airlock(ctx context.Context, actor model.Actor, id string) (model.AirlockRequest, error)
	AirlockRequests(ctx context.Context, actor model.Actor, projectID string) ([]model.AirlockRequest, error)
}

// System is the node's own access: the workstations of a project (to bind a
// connection to one by its source address, before any user is known) and
// audit events recorded as the node. The daemon reads its local replica and
// proposes RecordAudit as the node.
type System interface {
	ProjectWorkstations(ctx context.Context, projectID string) ([]model.Workstation, error)
	RecordSystemAudit(ctx context.Context, ev model.RecordAudit) error
}

// Config configures a Gateway.
type Config struct {
	Engine    Engine
	Directory Directory
	System    System
	Logger    *slog.Logger
}

// Gateway runs one HTTP listener per project gateway address.
type Gateway struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners map[string]*listener // project ID →
}

type listener struct {
	addr netip.AddrPort
	srv  *http.Server
	done chan struct{}
}

// New returns a Gateway with no listeners.
func New(cfg Config) (*Gateway, error) {
	if cfg.Engine == nil || cfg.Directory == nil || cfg.System == nil {
		return nil, errors.New("gateway: missing engine, directory or system")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gateway{cfg: cfg, log: cfg.Logger, listeners: map[string]*listener{}}, nil
}

// Set makes the listeners match want (project ID → gateway address and
// port): new projects get a listener, gone or moved ones are shut down,
// unchanged ones keep serving. Call it after the network is applied (the
// addresses must exist). A listener that cannot start is reported; the
// others are still set.
func (g *Gateway) Set(ctx context.Context, want map[string]netip.AddrPort) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for id, l := range g.listeners {
		if a, ok := want[id]; !ok || a != l.addr {
			g.stop(ctx, id, l)
		}
	}
	for id, addr := range want {
		if _, ok := g.listeners[id]; ok {
			continue
		}
		if !addr.IsValid() || addr.Port() == 0 {
			errs = append(errs, fmt.Errorf("airlock gateway of project %s: invalid address %s", id, addr))
			continue
		}
		ln, err := net.Listen("tcp", addr.String())
		if err != nil {
			errs = append(errs, fmt.Errorf("airlock gateway of project %s: %w", id, err))
			continue
		}
		l := &listener{addr: addr, done: make(chan struct{}), srv: &http.Server{
			Handler:           g.Handler(id),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		}}
		g.listeners[id] = l
		go func() {
			defer close(l.done)
			if err := l.srv.Serve(newLimitListener(ln, maxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("airlock gateway stopped", slog.String("project", id), slog.Any("err", err))
			}
		}()
		g.log.Info("airlock gateway listening", slog.String("project", id), slog.String("addr", addr.String()))
	}
	return errors.Join(errs...)
}

// stop shuts a listener down, letting uploads in flight finish for a while.
func (g *Gateway) stop(ctx context.Context, id string, l *listener) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(sctx); err != nil {
		l.srv.Close()
	}
	<-l.done
	delete(g.listeners, id)
	g.log.Info("airlock gateway stopped", slog.String("project", id), slog.String("addr", l.addr.String()))
}

// Addrs returns the addresses being served, by project.
func (g *Gateway) Addrs() map[string]netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]netip.AddrPort, len(g.listeners))
	for id, l := range g.listeners {
		out[id] = l.addr
	}
	return out
}

// Close stops every listener.
func (g *Gateway) Close() error {
	return g.Set(context.Background(), nil)
}
