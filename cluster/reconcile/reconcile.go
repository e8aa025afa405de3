package reconcile

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/sded/sded/cluster/model"
)

// Config wires a Reconciler.
type Config struct {
	NodeID   string
	Desired  Desired
	Reporter Reporter
	Networks Networks
	Volumes  Volumes
	Domains  Domains
	Logger   *slog.Logger
	// Interval between passes without a kick (default 5s): it bounds how long
	// drift made by hand survives.
	Interval time.Duration
	// Mine reports whether this node runs a workstation; nil means every one
	// (the single-node default).
	Mine func(model.Workstation) bool
	// AirlockPort is the TCP port of the airlock endpoint on every gateway.
	AirlockPort int
	// User maps a user ID to the login and display name for the cloud-init
	// seed; nil uses the ID.
	User func(ctx context.Context, userID string) (login, display string)
	// StopGrace is how long a guest asked to power off (ACPI) has before it
	// is forced off (default 30s). The wait does not hold up the pass: other
	// workstations are reconciled meanwhile.
	StopGrace time.Duration
}

// Reconciler makes this node's host match the desired state: networks, then
// storage, then domains. It is level-based: every pass looks at everything,
// so a missed kick or a crash costs nothing but time.
type Reconciler struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}
	// reported remembers the last observation sent per workstation so that
	// only changes go through raft, even before the replica catches up.
	reported map[string]sent
	// applied is the network configuration the last successful Set applied.
	applied []ProjectNetwork
	// stopping holds the domains asked to power off, with the time after
	// which they are forced off.
	stopping map[string]time.Time
}

// sent is an observation already proposed.
type sent struct {
	key string
	at  time.Time
}

// New returns a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Mine == nil {
		cfg.Mine = func(model.Workstation) bool { return true }
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), reported: map[string]sent{}, stopping: map[string]time.Time{}}
}

// Kick asks for a pass soon. It never blocks.
func (r *Reconciler) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	failures := 0
	for {
		if err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			failures++
			r.log.Warn("reconcile pass incomplete; retrying", slog.Any("err", err), slog.Int("failures", failures))
		} else {
			failures = 0
		}
		// After a failed pass, back off before the next one even if kicked:
		// a failing start emits libvirt events that would otherwise spin.
		if failures > 0 {
			wait := min(r.cfg.Interval, 250*time.Millisecond<<min(failures, 8))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-t.C:
		}
	}
}

// errKeyPending means a new project's data key has not been created yet (the
// leader creates it moments after the project).
var errKeyPending = errors.New("waiting for the project's data key")

// errShuttingDown means the guest was asked to power off and has time left.
var errShuttingDown = errors.New("shutting down")

// DomainName is the libvirt domain of a workstation.
func DomainName(workstationID string) string { return "sded-" + workstationID }

// The disks of a workstation, each with its own libvirt secret.
var diskRoles = []string{"disk", "data"}

// SharedTag is the virtiofs tag of the project's shared folder in guests.
const SharedTag = "sded-shared"

// SecretUUID is the libvirt secret of one disk of a workstation (role disk,
// or data): derived from the IDs so that a restarted node finds it
// again.
func SecretUUID(workstationID, role string) string {
	h := sha256.Sum256([]byte("sded-secret:" + workstationID + "/" + role))
	h[6] = h[6]&0x0f | 0x50 // version 5 layout
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Pass runs one full reconciliation and returns every error it met.
func (r *Reconciler) Pass(ctx context.Context) error {
	projects, err := r.cfg.Desired.Projects(ctx)
	if err != nil {
		return fmt.Errorf("reading projects: %w", err)
	}
	all, err := r.cfg.Desired.Workstations(ctx)
	if err != nil {
		return fmt.Errorf("reading workstations: %w", err)
	}
	byID := map[string]model.Project{}
	for _, p := range projects {
		byID[p.ID] = p
	}
	var errs []error
	if err := r.networks(ctx, projects, all); err != nil {
		errs = append(errs, err)
	}
	present, err := r.cfg.Domains.List(ctx)
	if err != nil {
		err = fmt.Errorf("listing domains: %w", err)
		// The hypervisor is unreachable: say so on every workstation that
		// should run but does not yet, instead of leaving it silently
		// pending. Running ones keep their status: their domains live on.
		for _, w := range all {
			p, ok := byID[w.ProjectID]
			if !r.cfg.Mine(w) || !ok || p.State != model.ProjectActive || w.Desired != model.DesiredRunning || w.Status.State == model.ObservedRunning {
				continue
			}
			if rerr := r.report(ctx, w, model.ObservedPending, "hypervisor unavailable: "+err.Error(), nil); rerr != nil {
				errs = append(errs, rerr)
			}
		}
		return errors.Join(append(errs, err)...)
	}
	known := map[string]bool{}
	// Projects with a workstation running here: their shared folders stay
	// unlocked; the others' are locked.
	running := map[string]bool{}
	for _, w := range all {
		if !r.cfg.Mine(w) {
			continue
		}
		known[DomainName(w.ID)] = true
		up, err := r.workstation(ctx, w, byID[w.ProjectID], present)
		if err != nil {
			errs = append(errs, fmt.Errorf("workstation %s: %w", w.ID, err))
		}
		if up {
			running[w.ProjectID] = true
		}
	}
	for _, p := range projects {
		if p.State == model.ProjectArchived || running[p.ID] {
			continue
		}
		if err := r.cfg.Volumes.LockShared(ctx, p.ID); err != nil {
			errs = append(errs, fmt.Errorf("locking the shared folder of project %s: %w", p.ID, err))
		}
	}
	// Domains sded owns whose workstation no longer exists: remove them.
	for name := range present {
		if !known[name] {
			r.log.Info("removing orphaned sded domain", slog.String("domain", name))
			if err := r.cfg.Domains.Delete(ctx, name); err != nil {
				errs = append(errs, fmt.Errorf("removing orphaned domain %s: %w", name, err))
			}
		}
	}
	for _, p := range projects {
		if p.State != model.ProjectArchived {
			continue
		}
		// During the retention period the key, and so the volumes, stay;
		// once the key is destroyed the volumes are unreadable: remove them.
		if _, err := r.cfg.Desired.ProjectKey(ctx, p.ID); !errors.Is(err, model.ErrNotFound) {
			continue
		}
		if err := r.cfg.Volumes.DeleteProject(ctx, p.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing volumes of archived project %s: %w", p.ID, err))
		}
	}
	return errors.Join(errs...)
}

// networks builds the network of every project that is not archived,
// records drift found on the host as audit events, and applies.
func (r *Reconciler) networks(ctx context.Context, projects []model.Project, ws []model.Workstation) error {
	var nets []ProjectNetwork
	for _, p := range projects {
		if p.State == model.ProjectArchived || p.Subnet == "" {
			continue
		}
		subnet, err := netip.ParsePrefix(p.Subnet)
		if err != nil {
			return fmt.Errorf("project %s has a bad subnet %q: %w", p.ID, p.Subnet, err)
		}
		n := ProjectNetwork{ProjectID: p.ID, Subnet: subnet, Gateway: subnet.Masked().Addr().Next(),
			Isolate: p.Network.IsolateWorkstations, Egress: p.Network.Egress}
		for _, w := range ws {
			if w.ProjectID != p.ID || w.IP == "" || w.Desired == model.DesiredDeleted {
				continue
			}
			ip, err := netip.ParseAddr(w.IP)
			if err != nil {
				return fmt.Errorf("workstation %s has a bad address %q: %w", w.ID, w.IP, err)
			}
			n.Leases = append(n.Leases, Lease{MAC: w.MAC, IP: ip, Hostname: w.Name})
		}
		sort.Slice(n.Leases, func(i, j int) bool { return n.Leases[i].IP.Less(n.Leases[j].IP) })
		nets = append(nets, n)
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].ProjectID < nets[j].ProjectID })
	// Drift is what differs from what this reconciler last applied (changes
	// of the desired state are not drift). After a start there is nothing
	// applied yet: then the host is compared with the desired state, so a
	// rebuild after a reboot is recorded as a repair.
	base := r.applied
	if base == nil {
		base = nets
	}
	drift, err := r.cfg.Networks.Drift(ctx, base)
	if err != nil {
		return fmt.Errorf("checking networks: %w", err)
	}
	if err := r.cfg.Networks.Set(ctx, nets); err != nil {
		r.applied = nil
		return fmt.Errorf("applying networks: %w", err)
	}
	r.applied = nets
	for _, d := range drift {
		r.log.Warn("repaired network drift", slog.String("drift", d))
		if err := r.cfg.Reporter.RecordRepair(ctx, "network", map[string]string{"drift": d}); err != nil {
			return fmt.Errorf("recording network repair: %w", err)
		}
	}
	return nil
}

// workstation drives one workstation towards its desired state and reports
// whether its domain runs (or may still run: a failed or pending stop) here.
func (r *Reconciler) workstation(ctx context.Context, w model.Workstation, p model.Project, present map[string]DomainState) (bool, error) {
	name := DomainName(w.ID)
	st, exists := present[name]
	switch {
	case w.Desired == model.DesiredDeleted:
		if err := r.teardown(ctx, w, st, exists); errors.Is(err, errShuttingDown) {
			return true, r.report(ctx, w, model.ObservedDeleting, r.shutdownNote(name), nil)
		} else if err != nil {
			return exists, r.report(ctx, w, model.ObservedFailed, err.Error(), err)
		}
		if err := r.cfg.Volumes.DeleteDisk(ctx, w.ID); err != nil {
			return false, r.report(ctx, w, model.ObservedFailed, "deleting disk: "+err.Error(), err)
		}
		return false, r.report(ctx, w, model.ObservedGone, "", nil)
	case w.Desired == model.DesiredStopped || p.State != model.ProjectActive:
		if err := r.teardown(ctx, w, st, exists); errors.Is(err, errShuttingDown) {
			return true, r.report(ctx, w, model.ObservedRunning, r.shutdownNote(name), nil)
		} else if err != nil {
			return exists, r.report(ctx, w, model.ObservedFailed, err.Error(), err)
		}
		reason := ""
		if p.State != model.ProjectActive && w.Desired == model.DesiredRunning {
			reason = "project is " + string(p.State)
		}
		return false, r.report(ctx, w, model.ObservedStopped, reason, nil)
	}
	if exists && st.Running {
		// Wanted running again if it was asked to power off: should the
		// guest go down anyway, the next pass starts it again.
		delete(r.stopping, name)
		// The note of a start (e.g. no shared folder) stays while it runs.
		reason := ""
		if w.Status.State == model.ObservedRunning && !strings.HasPrefix(w.Status.Reason, shutdownPrefix) {
			reason = w.Status.Reason
		}
		return true, r.report(ctx, w, model.ObservedRunning, reason, nil)
	}
	delete(r.stopping, name)
	note, err := r.start(ctx, w, p)
	if errors.Is(err, errKeyPending) {
		return false, r.report(ctx, w, model.ObservedPending, err.Error(), nil)
	} else if err != nil {
		return exists, r.report(ctx, w, model.ObservedFailed, err.Error(), err)
	}
	return true, r.report(ctx, w, model.ObservedRunning, note, nil)
}

// shutdownPrefix starts the status reason of a guest asked to power off.
const shutdownPrefix = "shutting down: "

// shutdownNote is the status reason of a domain asked to power off.
func (r *Reconciler) shutdownNote(name string) string {
	return shutdownPrefix + "the guest was asked to power off; it is forced off at " + r.stopping[name].UTC().Format("15:04:05") + " UTC"
}

// teardown stops the domain gracefully without waiting: the first call
// presses the guest's ACPI power button and returns errShuttingDown, as do
// later calls while the guest has time left (StopGrace); once the guest is
// off, or its time is up (then it is forced off), the domain is undefined
// and its secrets removed, leaving the disks.
func (r *Reconciler) teardown(ctx context.Context, w model.Workstation, st DomainState, exists bool) error {
	name := DomainName(w.ID)
	if exists {
		if st.Running {
			deadline, asked := r.stopping[name]
			switch {
			case !asked:
				if err := r.cfg.Domains.Shutdown(ctx, name); err != nil {
					r.log.Warn("asking the guest to power off failed; forcing it off", slog.String("domain", name), slog.Any("err", err))
					break
				}
				r.stopping[name] = time.Now().Add(r.cfg.StopGrace)
				r.log.Info("asked the guest to power off", slog.String("domain", name), slog.Duration("grace", r.cfg.StopGrace))
				return errShuttingDown
			case time.Now().Before(deadline):
				return errShuttingDown
			default:
				r.log.Warn("the guest did not power off in time; forcing it off", slog.String("domain", name))
			}
		}
		if err := r.cfg.Domains.Stop(ctx, name); err != nil {
			return fmt.Errorf("stopping domain: %w", err)
		}
		if err := r.cfg.Domains.Delete(ctx, name); err != nil {
			return fmt.Errorf("removing domain: %w", err)
		}
	}
	delete(r.stopping, name)
	for _, role := range diskRoles {
		if err := r.cfg.Domains.RemoveSecret(ctx, SecretUUID(w.ID, role)); err != nil {
			return fmt.Errorf("removing %s secret: %w", role, err)
		}
	}
	return nil
}

// start prepares storage and starts the domain. The note says what the
// workstation runs without (its project's shared folder, when this host
// cannot give one).
func (r *Reconciler) start(ctx context.Context, w model.Workstation, p model.Project) (note string, err error) {
	wrapped, err := r.cfg.Desired.ProjectKey(ctx, p.ID)
	if errors.Is(err, model.ErrNotFound) {
		return "", errKeyPending
	}
	if err != nil {
		return "", fmt.Errorf("reading project key: %w", err)
	}
	img, err := r.cfg.Desired.Image(ctx, w.ImageID)
	if err != nil {
		return "", fmt.Errorf("reading image %s: %w", w.ImageID, err)
	}
	vols, err := r.cfg.Volumes.EnsureProject(ctx, p.ID, wrapped)
	if err != nil {
		return "", fmt.Errorf("preparing project volumes: %w", err)
	}
	disk, err := r.cfg.Volumes.EnsureDisk(ctx, DiskSpec{WorkstationID: w.ID, ProjectID: p.ID, Image: img, SizeGiB: w.DiskGiB}, wrapped)
	if err != nil {
		return "", fmt.Errorf("preparing disk: %w", err)
	}
	subnet, err := netip.ParsePrefix(p.Subnet)
	if err != nil {
		return "", fmt.Errorf("project subnet %q: %w", p.Subnet, err)
	}
	ip, err := netip.ParseAddr(w.IP)
	if err != nil {
		return "", fmt.Errorf("workstation address %q: %w", w.IP, err)
	}
	gw := subnet.Masked().Addr().Next()
	login, display := w.OwnerID, w.OwnerID
	if r.cfg.User != nil {
		login, display = r.cfg.User(ctx, w.OwnerID)
	}
	seed, err := r.cfg.Volumes.Seed(ctx, SeedSpec{WorkstationID: w.ID, Hostname: w.Name, Username: login, DisplayName: display,
		IP: netip.PrefixFrom(ip, subnet.Bits()), Gateway: gw,
		AirlockURL: fmt.Sprintf("http://%s:%d/", gw, r.cfg.AirlockPort)})
	if err != nil {
		return "", fmt.Errorf("writing cloud-init seed: %w", err)
	}
	spec := DomainSpec{WorkstationID: w.ID, ProjectID: p.ID, Name: DomainName(w.ID), VCPU: w.VCPU, MemoryMiB: w.MemoryMiB,
		Image: img, Seed: seed, Bridge: r.cfg.Networks.Bridge(p.ID), MAC: w.MAC, IP: w.IP}
	if vols.SharedDir == "" {
		note = "running without the project's shared folder: " + vols.SharedUnavailable
		r.log.Warn("workstation starts without the project's shared folder", slog.String("workstation", w.ID),
			slog.String("project", p.ID), slog.String("reason", vols.SharedUnavailable))
	}
	spec.SharedDir = vols.SharedDir
	for i, v := range []Volume{disk, vols.Data} {
		role := diskRoles[i]
		uuid := SecretUUID(w.ID, role)
		if err := r.cfg.Domains.SetSecret(ctx, uuid, DomainName(w.ID)+"-"+role, v.Secret); err != nil {
			return "", fmt.Errorf("setting %s secret: %w", role, err)
		}
		spec.Disks = append(spec.Disks, DomainDisk{Path: v.Path, Serial: "sded-" + role, SecretUUID: uuid, ReadOnly: role == "data"})
	}
	if err := r.cfg.Domains.Ensure(ctx, spec); err != nil {
		return "", fmt.Errorf("starting domain: %w", err)
	}
	return note, nil
}

// report sends an observation through raft when it differs from the last
// one, and returns cause.
func (r *Reconciler) report(ctx context.Context, w model.Workstation, st model.ObservedState, reason string, cause error) error {
	// Reasons carry tool output (QEMU's errors span lines); the FSM refuses
	// control characters and invalid UTF-8 in audit details, which would
	// leave the status unreported.
	reason = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, reason)
	if len(reason) > 1000 {
		reason = strings.ToValidUTF8(reason[:1000], "")
	}
	key := string(st) + "\x00" + reason
	if w.Status.State == st && w.Status.Reason == reason {
		return cause
	}
	// Proposed a moment ago but not yet visible in the replica: do not send
	// it again; if it was lost, it is sent again after a while.
	if last, ok := r.reported[w.ID]; ok && last.key == key && time.Since(last.at) < 30*time.Second {
		return cause
	}
	if err := r.cfg.Reporter.ReportWorkstation(ctx, w.ID, st, reason); err != nil {
		return errors.Join(cause, fmt.Errorf("reporting status %s: %w", st, err))
	}
	r.reported[w.ID] = sent{key: key, at: time.Now()}
	if st == model.ObservedGone {
		delete(r.reported, w.ID)
	}
	return cause
}
