package dhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Lease is one workstation's fixed address.
type Lease struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string // optional, sent as option 12
}

// Config is what one Server hands out on one interface.
type Config struct {
	Interface string       // the project bridge
	ServerIP  netip.Addr   // the gateway address on it
	Subnet    netip.Prefix // for the subnet mask option
	Leases    []Lease
	LeaseTime time.Duration // zero means one hour
}

// Validate checks that the server address and every lease lie in Subnet.
func (c Config) Validate() error {
	if c.Interface == "" {
		return errors.New("dhcp config: interface is empty")
	}
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() || !c.Subnet.Contains(c.ServerIP) {
		return fmt.Errorf("dhcp config %s: server %v must be an IPv4 address in %v", c.Interface, c.ServerIP, c.Subnet)
	}
	seen := map[string]bool{}
	for _, l := range c.Leases {
		if len(l.MAC) != 6 || !c.Subnet.Contains(l.IP) || l.IP == c.ServerIP || len(l.Hostname) > 63 {
			return fmt.Errorf("dhcp config %s: lease %v -> %v is invalid", c.Interface, l.MAC, l.IP)
		}
		if seen[l.MAC.String()] {
			return fmt.Errorf("dhcp config %s: MAC %v leased twice", c.Interface, l.MAC)
		}
		seen[l.MAC.String()] = true
	}
	return nil
}

// Server answers DHCP for one interface.
type Server struct {
	log     *slog.Logger
	conn    net.PacketConn
	ifindex int

	mu  sync.Mutex
	cfg Config
}

// Listen opens UDP port 67 bound to cfg.Interface in the calling thread's
// network namespace.
func Listen(ctx context.Context, log *slog.Logger, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("dhcp on %s: %w", cfg.Interface, err)
	}
	return listen(ctx, log, cfg, ifi.Index)
}

// listen is Listen for an interface whose index the caller looked up.
func listen(ctx context.Context, log *slog.Logger, cfg Config, ifindex int) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); serr != nil {
				return
			}
			serr = syscall.BindToDevice(int(fd), cfg.Interface)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:67")
	if err != nil {
		return nil, fmt.Errorf("dhcp on %s: listening: %w", cfg.Interface, err)
	}
	log.InfoContext(ctx, "dhcp server listening", "interface", cfg.Interface, "server", cfg.ServerIP, "leases", len(cfg.Leases))
	return &Server{log: log.With("interface", cfg.Interface), conn: conn, ifindex: ifindex, cfg: cfg}, nil
}

// Update replaces the leases (and other settings) without reopening.
func (s *Server) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	return nil
}

// Close stops the server.
func (s *Server) Close() error { return s.conn.Close() }

// Serve answers requests until ctx ends or the server is closed.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("dhcp on %s: reading: %w", s.cfg.Interface, err)
		}
		req, err := Parse(buf[:n])
		if err != nil {
			s.log.DebugContext(ctx, "ignoring malformed dhcp packet", "err", err)
			continue
		}
		s.mu.Lock()
		cfg := s.cfg
		s.mu.Unlock()
		reply, ok := Handle(cfg, req)
		if !ok {
			s.log.DebugContext(ctx, "ignoring dhcp request", "mac", req.CHAddr.String(), "type", req.Type())
			continue
		}
		dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 68}
		if req.CIAddr.IsValid() && !req.CIAddr.IsUnspecified() && reply.Type() == Ack {
			dst.IP = req.CIAddr.AsSlice()
		}
		if _, err := s.conn.WriteTo(reply.Marshal(), dst); err != nil {
			s.log.WarnContext(ctx, "sending dhcp reply failed", "mac", req.CHAddr.String(), "err", err)
			continue
		}
		s.log.InfoContext(ctx, "dhcp reply", "mac", req.CHAddr.String(), "ip", reply.YIAddr.String(), "type", reply.Type())
	}
}

// Handle computes the reply to req under cfg; ok is false when the server
// stays silent (unknown MAC, not a request, another server chosen, release).
func Handle(cfg Config, req Packet) (reply Packet, ok bool) {
	if req.Op != bootRequest || !req.GIAddr.IsUnspecified() && req.GIAddr.IsValid() {
		return Packet{}, false // relayed requests are never expected on a project bridge
	}
	var lease netip.Addr
	var hostname string
	for _, l := range cfg.Leases {
		if l.MAC.String() == req.CHAddr.String() {
			lease, hostname = l.IP, l.Hostname
		}
	}
	if !lease.IsValid() {
		return Packet{}, false
	}
	if sid, ok := optAddr(req, optServerID); ok && sid != cfg.ServerIP {
		return Packet{}, false
	}
	lt := cfg.LeaseTime
	if lt == 0 {
		lt = time.Hour
	}
	zero := netip.IPv4Unspecified()
	reply = Packet{Op: bootReply, XID: req.XID, Flags: req.Flags, CIAddr: zero, YIAddr: lease,
		SIAddr: zero, GIAddr: zero, CHAddr: req.CHAddr, Options: map[byte][]byte{}}
	mask := net.CIDRMask(cfg.Subnet.Bits(), 32)
	sid := cfg.ServerIP.As4()
	secs := func(d time.Duration) []byte { return binary.BigEndian.AppendUint32(nil, uint32(d/time.Second)) }
	full := func(t byte) {
		reply.Options[optMessageType] = []byte{t}
		reply.Options[optServerID] = sid[:]
		reply.Options[optSubnetMask] = mask
		reply.Options[optLeaseTime] = secs(lt)
		reply.Options[optRenewalTime] = secs(lt / 2)
		reply.Options[optRebindTime] = secs(lt * 7 / 8)
		if hostname != "" {
			reply.Options[optHostname] = []byte(hostname)
		}
	}
	switch req.Type() {
	case Discover:
		full(Offer)
	case Request:
		want, ok := optAddr(req, optRequestedIP)
		if !ok {
			want = req.CIAddr
		}
		if want != lease {
			reply.YIAddr = zero
			reply.Options[optMessageType] = []byte{Nak}
			reply.Options[optServerID] = sid[:]
			return reply, true
		}
		full(Ack)
	case Inform:
		full(Ack)
		reply.YIAddr = zero
		delete(reply.Options, optLeaseTime)
		delete(reply.Options, optRenewalTime)
		delete(reply.Options, optRebindTime)
	default:
		return Packet{}, false
	}
	return reply, true
}
