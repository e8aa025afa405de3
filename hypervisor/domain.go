package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// State is a domain's observed state.
type State string

// States, simplified from libvirt's.
const (
	StateRunning      State = "running"
	StatePaused       State = "paused"
	StateShuttingDown State = "shutting-down"
	StateStopped      State = "stopped"
	StateCrashed      State = "crashed"
	StateSuspended    State = "suspended"
	StateUnknown      State = "unknown"
)

// Info describes one sded-owned domain.
type Info struct {
	Name   string
	UUID   string
	State  State
	Labels map[string]string
	// Outdated is true when the running domain was started from an older
	// spec than the one defined now (a restart applies the new one).
	Outdated bool
}

// Ensure makes the domain described by s defined with s and running. A domain
// this call defines but cannot start is undefined again. It is idempotent: a running domain that matches is left alone; a defined one
// whose spec changed is redefined (a running one picks the change up at its
// next start, see Info.Outdated); a stopped one is started. Missing files
// (kernel, initrd, disks, seed) are reported before libvirt is touched. A
// domain of that name that sded does not own gives ErrNotOwned.
func (d *Driver) Ensure(ctx context.Context, s Spec) error {
	s, err := d.scoped(s)
	if err != nil {
		return err
	}
	domXML, err := domainXML(s, d.scopeKey)
	if err != nil {
		return err
	}
	if err := checkFiles(s); err != nil {
		return err
	}
	if err := prepareDirs(s); err != nil {
		return err
	}
	want := specHash(s)
	return d.do(ctx, func(c *libvirt.Connect) error {
		dom, err := c.LookupDomainByName(s.Name)
		created := false
		switch {
		case isCode(err, libvirt.ERR_NO_DOMAIN):
			dom, err = c.DomainDefineXML(domXML)
			if err != nil {
				return fmt.Errorf("defining domain %s: %w", s.Name, lv(err))
			}
			created = true
			d.log.Info("defined domain", "domain", s.Name)
		case err != nil:
			return fmt.Errorf("looking up domain %s: %w", s.Name, lv(err))
		default:
			if _, _, oerr := d.ownership(dom, s.Name, 0); oerr != nil {
				dom.Free()
				return oerr
			}
			hash := ""
			if persistent, _ := dom.IsPersistent(); persistent {
				_, hash, _ = d.ownership(dom, s.Name, libvirt.DOMAIN_AFFECT_CONFIG)
			}
			uuid, _ := dom.GetUUIDString()
			if uuid != s.UUID {
				dom.Free()
				return fmt.Errorf("ensuring domain %s: defined with uuid %s, spec has %s: delete it first", s.Name, uuid, s.UUID)
			}
			if hash != want {
				dom.Free()
				if dom, err = c.DomainDefineXML(domXML); err != nil {
					return fmt.Errorf("redefining domain %s: %w", s.Name, lv(err))
				}
				d.log.Info("redefined domain with a new spec", "domain", s.Name)
			}
		}
		defer dom.Free()
		if len(s.Shares) > 0 && d.local() {
			if active, _ := dom.IsActive(); !active {
				reapVirtiofsd(d.log, s.Name)
			}
		}
		err = start(ctx, dom, s.Name)
		if err == nil {
			return nil
		}
		if strings.Contains(err.Error(), "Permission denied") {
			if hint := accessHint(s); hint != "" {
				err = fmt.Errorf("%w (%s)", err, hint)
			}
		}
		if created {
			// Undo: a domain this call defined but could not start is
			// not left behind half-made.
			if uerr := dom.UndefineFlags(libvirt.DOMAIN_UNDEFINE_NVRAM); uerr != nil {
				d.log.Warn("undefining domain that failed to start", "domain", s.Name, "err", lv(uerr))
			}
		}
		return err
	})
}

// accessHint names the first directory above the spec's files that QEMU,
// which runs as its own user, cannot search, or returns "".
func accessHint(s Spec) string {
	paths := []string{s.Kernel, s.Initrd, s.Seed}
	for _, dk := range s.Disks {
		paths = append(paths, dk.Path)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				return fmt.Sprintf("QEMU runs as its own user and may not search %s, which holds %s: make it searchable (chmod o+x) or keep images elsewhere", d, p)
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return ""
}

// start brings a defined domain to running.
func start(ctx context.Context, dom *libvirt.Domain, name string) error {
	st, _, err := dom.GetState()
	if err != nil {
		return fmt.Errorf("reading state of domain %s: %w", name, lv(err))
	}
	switch st {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return nil
	case libvirt.DOMAIN_PAUSED:
		if err := dom.Resume(); err != nil {
			return fmt.Errorf("resuming domain %s: %w", name, lv(err))
		}
		return nil
	case libvirt.DOMAIN_SHUTDOWN:
		return fmt.Errorf("starting domain %s: it is shutting down; retry when it has stopped", name)
	case libvirt.DOMAIN_PMSUSPENDED:
		if err := dom.PMWakeup(0); err != nil {
			return fmt.Errorf("waking domain %s: %w", name, lv(err))
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := dom.Create(); err != nil {
		if isCode(err, libvirt.ERR_OPERATION_INVALID) && strings.Contains(err.Error(), "already running") {
			return nil
		}
		return fmt.Errorf("starting domain %s: %w", name, lv(err))
	}
	return nil
}

// checkFiles reports a missing or non-regular kernel, initrd, disk or seed.
func checkFiles(s Spec) error {
	check := func(what, p string) error {
		if p == "" {
			return nil
		}
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("domain %s: %s: %w", s.Name, what, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("domain %s: %s %s is not a regular file", s.Name, what, p)
		}
		return nil
	}
	errs := []error{check("kernel", s.Kernel), check("initrd", s.Initrd), check("seed", s.Seed)}
	for i, dk := range s.Disks {
		errs = append(errs, check(fmt.Sprintf("disk %d", i), dk.Path))
	}
	for i, sh := range s.Shares {
		if fi, err := os.Stat(sh.Dir); err != nil {
			errs = append(errs, fmt.Errorf("domain %s: share %d: %w", s.Name, i, err))
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("domain %s: share %d: %s is not a directory", s.Name, i, sh.Dir))
		}
	}
	return errors.Join(errs...)
}

// prepareDirs creates the serial log's directory (root only: virtlogd, which
// runs as root, writes the log) and an explicit VNC socket's directory, which
// QEMU, running as its own user, must be able to create the socket in: it is
// made 0700 and owned by that user.
func prepareDirs(s Spec) error {
	if err := os.MkdirAll(filepath.Dir(s.SerialLog), 0o700); err != nil {
		return fmt.Errorf("domain %s: creating serial log directory: %w", s.Name, err)
	}
	if s.VNCSocket == "" {
		return nil
	}
	dir := filepath.Dir(s.VNCSocket)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("domain %s: creating vnc socket directory: %w", s.Name, err)
	}
	for _, name := range []string{"libvirt-qemu", "qemu"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("domain %s: handing vnc socket directory %s to %s: %w", s.Name, dir, name, err)
		}
		return nil
	}
	return nil
}

// ownership checks that dom is sded's (name prefix and metadata) and returns
// its labels and spec hash, else ErrNotOwned. A domain recorded with another
// scope than the Driver's (including a scoped one seen by an unscoped Driver)
// is not owned either.
func (d *Driver) ownership(dom *libvirt.Domain, name string, impact libvirt.DomainModificationImpact) (map[string]string, string, error) {
	if !strings.HasPrefix(name, NamePrefix) {
		return nil, "", fmt.Errorf("domain %s: %w (name lacks %q)", name, ErrNotOwned, NamePrefix)
	}
	raw, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, MetadataNS, impact)
	if isCode(err, libvirt.ERR_NO_DOMAIN_METADATA) {
		return nil, "", fmt.Errorf("domain %s: %w (no sded metadata)", name, ErrNotOwned)
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading metadata of domain %s: %w", name, lv(err))
	}
	m, err := parseMetadata(raw)
	if err != nil {
		return nil, "", fmt.Errorf("domain %s: %w", name, err)
	}
	if m.scope != d.scopeKey {
		return nil, "", fmt.Errorf("domain %s: %w (it belongs to scope %q, this driver's is %q)", name, ErrNotOwned, m.scope, d.scopeKey)
	}
	return m.labels, m.hash, nil
}

// lookupOwned finds an sded-owned domain by name: ErrNotFound when there is
// none, ErrNotOwned when it is someone else's. The caller frees it.
func (d *Driver) lookupOwned(c *libvirt.Connect, name string) (*libvirt.Domain, error) {
	if !strings.HasPrefix(name, NamePrefix) {
		return nil, fmt.Errorf("domain %s: %w (name lacks %q)", name, ErrNotOwned, NamePrefix)
	}
	dom, err := c.LookupDomainByName(name)
	if isCode(err, libvirt.ERR_NO_DOMAIN) {
		return nil, fmt.Errorf("domain %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up domain %s: %w", name, lv(err))
	}
	if _, _, err := d.ownership(dom, name, 0); err != nil {
		dom.Free()
		return nil, err
	}
	return dom, nil
}

// Stop shuts the domain down through ACPI and waits up to graceful for it to
// stop, then forces it off. Stopping a stopped or missing domain is a no-op.
func (d *Driver) Stop(ctx context.Context, name string, graceful time.Duration) error {
	return d.onActive(ctx, name, func(dom *libvirt.Domain) error {
		if graceful > 0 {
			if err := dom.Shutdown(); err != nil && !isCode(err, libvirt.ERR_OPERATION_INVALID) {
				d.log.Warn("graceful shutdown request failed; forcing off", "domain", name, "err", lv(err))
			} else if waitInactive(ctx, dom, graceful) {
				d.log.Info("domain shut down", "domain", name)
				return nil
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := dom.Destroy(); err != nil && !isCode(err, libvirt.ERR_OPERATION_INVALID) {
			return fmt.Errorf("forcing domain %s off: %w", name, lv(err))
		}
		d.log.Info("domain forced off", "domain", name, "graceful", graceful)
		return nil
	})
}

// Shutdown asks the guest to power off (ACPI power button) and returns at
// once, without waiting for it (see Stop for a call that waits). A stopped
// or missing domain is fine.
func (d *Driver) Shutdown(ctx context.Context, name string) error {
	return d.onActive(ctx, name, func(dom *libvirt.Domain) error {
		if err := dom.Shutdown(); err != nil && !isCode(err, libvirt.ERR_OPERATION_INVALID) {
			return fmt.Errorf("asking domain %s to power off: %w", name, lv(err))
		}
		return nil
	})
}

// onActive runs fn on the owned domain name if it runs; a stopped or
// missing domain is left alone (nil).
func (d *Driver) onActive(ctx context.Context, name string, fn func(dom *libvirt.Domain) error) error {
	return d.do(ctx, func(c *libvirt.Connect) error {
		dom, err := d.lookupOwned(c, name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		defer dom.Free()
		if active, err := dom.IsActive(); err != nil || !active {
			return lv(err)
		}
		return fn(dom)
	})
}

// waitInactive polls until dom is inactive (true) or timeout/ctx (false).
func waitInactive(ctx context.Context, dom *libvirt.Domain, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if active, err := dom.IsActive(); err == nil && !active {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Delete forces the domain off and undefines it with its NVRAM, managed save
// and snapshot metadata, then removes its serial log. Disk images are not
// touched (they are storage's). Deleting a missing domain is a no-op.
func (d *Driver) Delete(ctx context.Context, name string) error {
	return d.do(ctx, func(c *libvirt.Connect) error {
		dom, err := d.lookupOwned(c, name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		defer dom.Free()
		var files []string
		if x, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE); err == nil {
			files = ownedFiles(x)
		}
		if active, _ := dom.IsActive(); active {
			if err := dom.Destroy(); err != nil && !isCode(err, libvirt.ERR_OPERATION_INVALID) {
				return fmt.Errorf("forcing domain %s off: %w", name, lv(err))
			}
		}
		flags := libvirt.DOMAIN_UNDEFINE_NVRAM | libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE |
			libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
		if err := dom.UndefineFlags(flags); err != nil && !isCode(err, libvirt.ERR_NO_DOMAIN) {
			return fmt.Errorf("undefining domain %s: %w", name, lv(err))
		}
		for _, f := range files {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				d.log.Warn("removing file of deleted domain", "domain", name, "file", f, "err", err)
			}
		}
		if d.local() {
			reapVirtiofsd(d.log, name)
		}
		d.log.Info("deleted domain", "domain", name)
		return nil
	})
}

// ownedFiles lists the files sded's domain XML makes libvirt create: serial
// logs and VNC sockets.
func ownedFiles(domXML string) []string {
	var x libvirtxml.Domain
	if err := x.Unmarshal(domXML); err != nil || x.Devices == nil {
		return nil
	}
	var files []string
	for _, s := range x.Devices.Serials {
		if s.Log != nil && s.Log.File != "" {
			files = append(files, s.Log.File)
		}
	}
	for _, g := range x.Devices.Graphics {
		if g.VNC != nil && g.VNC.Socket != "" {
			files = append(files, g.VNC.Socket)
		}
	}
	return files
}

// State returns the sded-owned domain's state: ErrNotFound if there is no
// such domain, ErrNotOwned if it is not sded's.
func (d *Driver) State(ctx context.Context, name string) (Info, error) {
	var info Info
	err := d.do(ctx, func(c *libvirt.Connect) error {
		dom, err := d.lookupOwned(c, name)
		if err != nil {
			return err
		}
		defer dom.Free()
		info, err = d.describe(dom, name)
		return err
	})
	return info, err
}

// List returns every sded-owned domain: named with NamePrefix and carrying
// sded's metadata. Other domains are skipped without being touched.
func (d *Driver) List(ctx context.Context) ([]Info, error) {
	var out []Info
	err := d.do(ctx, func(c *libvirt.Connect) error {
		out = out[:0]
		doms, err := c.ListAllDomains(0)
		if err != nil {
			return fmt.Errorf("listing domains: %w", lv(err))
		}
		var errs []error
		for i := range doms {
			dom := &doms[i]
			name, err := dom.GetName()
			if err == nil && strings.HasPrefix(name, NamePrefix) {
				info, err := d.describe(dom, name)
				switch {
				case errors.Is(err, ErrNotOwned):
				case isCode(err, libvirt.ERR_NO_DOMAIN): // vanished meanwhile
				case err != nil:
					errs = append(errs, err)
				default:
					out = append(out, info)
				}
			}
			dom.Free()
		}
		return errors.Join(errs...)
	})
	return out, err
}

// describe reads an owned domain's Info (ErrNotOwned if it is not sded's).
func (d *Driver) describe(dom *libvirt.Domain, name string) (Info, error) {
	labels, hash, err := d.ownership(dom, name, 0)
	if err != nil {
		return Info{}, err
	}
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return Info{}, fmt.Errorf("reading uuid of domain %s: %w", name, lv(err))
	}
	st, _, err := dom.GetState()
	if err != nil {
		return Info{}, fmt.Errorf("reading state of domain %s: %w", name, lv(err))
	}
	info := Info{Name: name, UUID: uuid, State: state(st), Labels: labels}
	if active, _ := dom.IsActive(); active {
		if persistent, _ := dom.IsPersistent(); persistent {
			if _, cfgHash, err := d.ownership(dom, name, libvirt.DOMAIN_AFFECT_CONFIG); err == nil {
				info.Outdated = cfgHash != hash
			}
		}
	}
	return info, nil
}

func state(s libvirt.DomainState) State {
	switch s {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return StateRunning
	case libvirt.DOMAIN_PAUSED:
		return StatePaused
	case libvirt.DOMAIN_SHUTDOWN:
		return StateShuttingDown
	case libvirt.DOMAIN_SHUTOFF:
		return StateStopped
	case libvirt.DOMAIN_CRASHED:
		return StateCrashed
	case libvirt.DOMAIN_PMSUSPENDED:
		return StateSuspended
	}
	return StateUnknown
}
