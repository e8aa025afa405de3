package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
)

// DefaultURI is the system QEMU/KVM connection sded uses.
const DefaultURI = "qemu:///system"

// Options configure a Driver.
type Options struct {
	// URI is the libvirt connection URI; empty means DefaultURI.
	URI string
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
	// Scope partitions the host's sded domains between Drivers: Ensure
	// records it in the domain's metadata (and adds it to the labels), and
	// a Driver owns only the domains recorded with exactly its scope — an
	// unscoped Driver only unscoped ones. Give each sded cluster (e.g.
	// {"cluster": "<id>"}) and each test its own, so that no reconciler
	// garbage-collects another's domains on a shared libvirtd.
	Scope map[string]string
}

// Driver manages sded's libvirt domains and secrets over one connection that
// it re-opens when libvirtd restarts. It is safe for concurrent use.
type Driver struct {
	uri      string
	log      *slog.Logger
	scope    map[string]string
	scopeKey string

	mu     sync.Mutex
	conn   *libvirt.Connect
	cbID   int  // lifecycle callback on conn
	ever   bool // a connection was made before (a new one is a reconnect)
	closed bool // Close was called: no more reconnecting
	redial bool // a background reconnect loop is running

	subMu   sync.Mutex
	subs    map[int]chan Event
	nextSub int
}

var (
	eventLoopOnce sync.Once
	eventLoopErr  error
)

// startEventLoop installs libvirt's default event loop, once per process, and
// runs it on its own goroutine for the life of the process: lifecycle events
// and connection keep-alives need it.
func startEventLoop() error {
	eventLoopOnce.Do(func() {
		if eventLoopErr = libvirt.EventRegisterDefaultImpl(); eventLoopErr != nil {
			return
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					slog.Error("libvirt event loop", "err", lv(err))
				}
			}
		}()
	})
	return eventLoopErr
}

// New connects to libvirt. A libvirtd that cannot be reached gives an error
// wrapping ErrUnavailable that says what to install and start.
func New(ctx context.Context, o Options) (*Driver, error) {
	d := &Driver{uri: o.URI, log: o.Logger, subs: map[int]chan Event{}}
	if d.uri == "" {
		d.uri = DefaultURI
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.scope = make(map[string]string, len(o.Scope))
	for k, v := range o.Scope {
		if err := checkLabel(k, v); err != nil {
			return nil, fmt.Errorf("driver scope: %w", err)
		}
		d.scope[k] = v
	}
	d.scopeKey = scopeKey(d.scope)
	if err := startEventLoop(); err != nil {
		return nil, fmt.Errorf("starting libvirt event loop: %w", lv(err))
	}
	if _, err := d.connect(ctx); err != nil {
		return nil, err
	}
	d.warnKVMPermissions()
	return d, nil
}

// Close closes the libvirt connection and ends every event subscription.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	d.dropLocked()
	d.mu.Unlock()
	d.subMu.Lock()
	for id, ch := range d.subs {
		close(ch)
		delete(d.subs, id)
	}
	d.subMu.Unlock()
	return nil
}

// connect returns a live connection, opening a new one when there is none or
// the old one died (libvirtd restarted).
func (d *Driver) connect(ctx context.Context) (*libvirt.Connect, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("libvirt driver is closed: %w", ErrUnavailable)
	}
	if d.conn != nil {
		if alive, err := d.conn.IsAlive(); err == nil && alive {
			return d.conn, nil
		}
		d.log.Warn("libvirt connection lost; reconnecting", "uri", d.uri)
		d.dropLocked()
	}
	c, err := libvirt.NewConnect(d.uri)
	if err != nil {
		return nil, fmt.Errorf("connecting to libvirt at %s: %w: %w (is libvirtd running? install libvirt-daemon-system and qemu-system-x86, e.g. `make deps`, then start libvirtd)",
			d.uri, ErrUnavailable, lv(err))
	}
	// Keep-alives make a dead libvirtd show up as a dead connection.
	if err := c.SetKeepAlive(5, 3); err != nil {
		d.log.Warn("libvirt keep-alive not enabled", "err", lv(err))
	}
	id, err := c.DomainEventLifecycleRegister(nil, d.onLifecycle)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribing to libvirt domain events: %w", lv(err))
	}
	// When libvirtd goes away (restart, crash), reconnect in the background
	// so event subscribers hear EventReconnected without waiting for a call.
	if err := c.RegisterCloseCallback(func(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
		d.log.Warn("libvirt closed the connection", "reason", int(reason))
		go d.redialLoop()
	}); err != nil {
		d.log.Warn("libvirt close callback not registered", "err", lv(err))
	}
	reconnect := d.ever
	d.conn, d.cbID, d.ever = c, id, true
	if reconnect {
		// Events were lost while disconnected: tell subscribers to resync.
		d.publish(Event{Kind: EventReconnected})
	}
	return c, nil
}

// redialLoop reconnects with backoff until it succeeds or the Driver is
// closed; one runs at a time.
func (d *Driver) redialLoop() {
	d.mu.Lock()
	if d.redial || d.closed {
		d.mu.Unlock()
		return
	}
	d.redial = true
	d.mu.Unlock()
	defer func() { d.mu.Lock(); d.redial = false; d.mu.Unlock() }()
	wait := 500 * time.Millisecond
	for {
		_, err := d.connect(context.Background())
		if err == nil || errors.Is(err, ErrUnavailable) && d.isClosed() {
			return
		}
		d.log.Warn("reconnecting to libvirt", "err", err, "retry_in", wait)
		time.Sleep(wait)
		wait = min(2*wait, 30*time.Second)
	}
}

func (d *Driver) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// dropLocked forgets the connection; d.mu must be held.
func (d *Driver) dropLocked() {
	if d.conn == nil {
		return
	}
	_ = d.conn.UnregisterCloseCallback()
	_ = d.conn.DomainEventDeregister(d.cbID)
	_, _ = d.conn.Close()
	d.conn = nil
}

// do runs fn on a live connection, once more on a fresh connection if the
// first attempt failed because the connection died. Every fn is idempotent.
func (d *Driver) do(ctx context.Context, fn func(c *libvirt.Connect) error) error {
	for attempt := 0; ; attempt++ {
		c, err := d.connect(ctx)
		if err != nil {
			return err
		}
		err = fn(c)
		if err == nil || attempt > 0 {
			return err
		}
		if alive, aerr := c.IsAlive(); aerr == nil && alive {
			return err
		}
		d.log.Warn("libvirt call failed on a dead connection; retrying", "err", lv(err))
		d.mu.Lock()
		if d.conn == c {
			d.dropLocked()
		}
		d.mu.Unlock()
	}
}

// warnKVMPermissions logs when /dev/kvm exists but QEMU's user cannot open it:
// libvirt then re-probes QEMU's capabilities on nearly every call (seconds each).
func (d *Driver) warnKVMPermissions() {
	fi, err := os.Stat("/dev/kvm")
	if err != nil {
		return
	}
	if fi.Mode().Perm()&0o066 == 0 {
		d.log.Warn("/dev/kvm is accessible to root only: libvirt will re-probe QEMU on every call; run `chgrp kvm /dev/kvm && chmod 0660 /dev/kvm` (what udev does on a normal host)")
	}
}

// scoped returns s with the Driver's scope labels added; a spec that sets a
// scope label to another value is refused.
func (d *Driver) scoped(s Spec) (Spec, error) {
	if len(d.scope) == 0 {
		return s, nil
	}
	labels := make(map[string]string, len(s.Labels)+len(d.scope))
	for k, v := range s.Labels {
		labels[k] = v
	}
	for k, v := range d.scope {
		if old, ok := labels[k]; ok && old != v {
			return s, fmt.Errorf("spec %s: label %s=%q conflicts with the driver's scope (%q)", s.Name, k, old, v)
		}
		labels[k] = v
	}
	s.Labels = labels
	return s, nil
}
