package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// ErrNotRunning means the domain exists but has no live console.
var ErrNotRunning = errors.New("domain not running")

// liveXML returns an owned domain's parsed XML (live when running).
func (d *Driver) liveXML(ctx context.Context, name string) (*libvirtxml.Domain, bool, error) {
	var x libvirtxml.Domain
	var active bool
	err := d.do(ctx, func(c *libvirt.Connect) error {
		dom, err := d.lookupOwned(c, name)
		if err != nil {
			return err
		}
		defer dom.Free()
		active, _ = dom.IsActive()
		s, err := dom.GetXMLDesc(0)
		if err != nil {
			return fmt.Errorf("reading XML of domain %s: %w", name, lv(err))
		}
		return x.Unmarshal(s)
	})
	return &x, active, err
}

// ConsolePath returns the unix socket of the running domain's VNC console.
func (d *Driver) ConsolePath(ctx context.Context, name string) (string, error) {
	x, active, err := d.liveXML(ctx, name)
	if err != nil {
		return "", err
	}
	if !active {
		return "", fmt.Errorf("console of domain %s: %w", name, ErrNotRunning)
	}
	if x.Devices != nil {
		for _, g := range x.Devices.Graphics {
			if g.VNC != nil && g.VNC.Socket != "" {
				return g.VNC.Socket, nil
			}
		}
	}
	return "", fmt.Errorf("console of domain %s: no VNC socket in its XML", name)
}

// SerialLogPath returns the file the domain's serial console is logged to.
func (d *Driver) SerialLogPath(ctx context.Context, name string) (string, error) {
	x, _, err := d.liveXML(ctx, name)
	if err != nil {
		return "", err
	}
	if x.Devices != nil {
		for _, s := range x.Devices.Serials {
			if s.Log != nil && s.Log.File != "" {
				return s.Log.File, nil
			}
		}
	}
	return "", fmt.Errorf("serial log of domain %s: none in its XML", name)
}

// ReadSerial returns up to the last max bytes of the domain's serial log.
func (d *Driver) ReadSerial(ctx context.Context, name string, max int64) ([]byte, error) {
	p, err := d.SerialLogPath(ctx, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading serial log of domain %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(fi.Size()-max, io.SeekStart); err != nil {
			return nil, fmt.Errorf("reading serial log of domain %s: %w", name, err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return nil, fmt.Errorf("reading serial log of domain %s: %w", name, err)
	}
	return b, nil
}

// OpenConsole connects to the running domain's VNC console socket; the
// caller speaks RFB over it (the UI's desktop websocket proxies it) and
// closes it.
func (d *Driver) OpenConsole(ctx context.Context, name string) (net.Conn, error) {
	p, err := d.ConsolePath(ctx, name)
	if err != nil {
		return nil, err
	}
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "unix", p)
	if err != nil {
		return nil, fmt.Errorf("opening console of domain %s: %w", name, err)
	}
	return c, nil
}
