package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
)

// host is a fake of everything the reconciler drives: it records calls and
// holds the "machine" state (domains, secrets, disks, networks).
type host struct {
	projects []model.Project
	ws       []model.Workstation
	keys     map[string][]byte
	domains  map[string]DomainState
	secrets  map[string][]byte
	disks    map[string]bool
	nets     []ProjectNetwork
	drift    []string
	reports  []string
	repairs  []string
	calls    []string
	failOn   map[string]error
	// noShare makes EnsureProject report the shared folder unavailable.
	noShare string
	locked  []string
	// ignoreACPI makes guests ignore the power button.
	ignoreACPI bool
	// driftAsked records how many networks each Drift call compared.
	driftAsked []int
}

func newHost() *host {
	return &host{keys: map[string][]byte{}, domains: map[string]DomainState{}, secrets: map[string][]byte{}, disks: map[string]bool{}, failOn: map[string]error{}}
}

func (h *host) call(name string) error {
	h.calls = append(h.calls, name)
	return h.failOn[name]
}

func (h *host) Projects(context.Context) ([]model.Project, error)         { return h.projects, nil }
func (h *host) Workstations(context.Context) ([]model.Workstation, error) { return h.ws, nil }
func (h *host) Image(_ context.Context, id string) (model.Image, error) {
	return model.Image{ID: id, Path: "/img/" + id, Format: model.FormatQCOW2}, nil
}
func (h *host) ProjectKey(_ context.Context, p string) ([]byte, error) {
	k, ok := h.keys[p]
	if !ok {
		return nil, model.Errorf(model.CodeNotFound, "no key for project %s", p)
	}
	return k, nil
}
func (h *host) ReportWorkstation(_ context.Context, id string, st model.ObservedState, reason string) error {
	h.reports = append(h.reports, fmt.Sprintf("%s=%s %s", id, st, reason))
	for i := range h.ws {
		if h.ws[i].ID == id {
			h.ws[i].Status = model.Observed{State: st, Reason: reason}
		}
	}
	return nil
}
func (h *host) RecordRepair(_ context.Context, obj string, d map[string]string) error {
	h.repairs = append(h.repairs, obj+": "+d["drift"])
	return nil
}
func (h *host) Set(_ context.Context, n []ProjectNetwork) error {
	if err := h.call("net.set"); err != nil {
		return err
	}
	h.nets = n
	h.drift = nil
	return nil
}
func (h *host) Drift(_ context.Context, n []ProjectNetwork) ([]string, error) {
	h.driftAsked = append(h.driftAsked, len(n))
	return h.drift, nil
}
func (h *host) Bridge(p string) string { return "sdbr-" + p }
func unwrap(p string, w []byte) ([]byte, error) {
	if string(w) != "wrapped-"+p {
		return nil, errors.New("wrong key")
	}
	return []byte("dek-" + p), nil
}
func (h *host) EnsureProject(_ context.Context, p string, w []byte) (ProjectVolumes, error) {
	k, err := unwrap(p, w)
	if err != nil {
		return ProjectVolumes{}, err
	}
	v := ProjectVolumes{SharedDir: "/v/" + p + "/shared", Data: Volume{"/v/" + p + "/data", append(k, 'd')}}
	if h.noShare != "" {
		v.SharedDir, v.SharedUnavailable = "", h.noShare
	}
	return v, h.call("vol.project")
}
func (h *host) LockShared(_ context.Context, p string) error {
	h.locked = append(h.locked, p)
	return h.call("vol.lockshared")
}
func (h *host) EnsureDisk(_ context.Context, d DiskSpec, w []byte) (Volume, error) {
	k, err := unwrap(d.ProjectID, w)
	if err != nil {
		return Volume{}, err
	}
	if err := h.call("vol.disk"); err != nil {
		return Volume{}, err
	}
	h.disks[d.WorkstationID] = true
	return Volume{"/v/" + d.WorkstationID, k}, nil
}
func (h *host) DeleteDisk(_ context.Context, id string) error {
	delete(h.disks, id)
	return h.call("vol.deletedisk")
}
func (h *host) DeleteProject(_ context.Context, p string) error {
	return h.call("vol.deleteproject:" + p)
}
func (h *host) Seed(_ context.Context, s SeedSpec) (string, error) {
	return "/v/" + s.WorkstationID + ".seed", h.call("vol.seed")
}
func (h *host) Ensure(_ context.Context, s DomainSpec) error {
	if err := h.call("dom.ensure"); err != nil {
		return err
	}
	for _, d := range s.Disks {
		if _, ok := h.secrets[d.SecretUUID]; !ok {
			return errors.New("secret not set before start")
		}
	}
	h.domains[s.Name] = DomainState{Running: true}
	return nil
}
func (h *host) Shutdown(_ context.Context, name string) error {
	if d, ok := h.domains[name]; ok && !h.ignoreACPI {
		d.Running = false // the guest powers off
		h.domains[name] = d
	}
	return h.call("dom.shutdown")
}
func (h *host) Stop(_ context.Context, name string) error {
	if d, ok := h.domains[name]; ok {
		d.Running = false
		h.domains[name] = d
	}
	return h.call("dom.stop")
}
func (h *host) Delete(_ context.Context, name string) error {
	delete(h.domains, name)
	return h.call("dom.delete")
}
func (h *host) List(context.Context) (map[string]DomainState, error) {
	out := map[string]DomainState{}
	for k, v := range h.domains {
		out[k] = v
	}
	return out, h.call("dom.list")
}
func (h *host) SetSecret(_ context.Context, uuid, _ string, v []byte) error {
	h.secrets[uuid] = v
	return h.call("secret.set")
}
func (h *host) RemoveSecret(_ context.Context, uuid string) error {
	delete(h.secrets, uuid)
	return h.call("secret.remove")
}

func newRec(h *host) *Reconciler {
	return New(Config{NodeID: "n1", Desired: h, Reporter: h, Networks: h, Volumes: h, Domains: h, AirlockPort: 8080})
}

func project(id string, st model.ProjectState) model.Project {
	return model.Project{ID: id, State: st, Subnet: "10.64.1.0/24"}
}

func ws(id, p string, d model.DesiredState) model.Workstation {
	return model.Workstation{ID: id, ProjectID: p, OwnerID: "u1", Name: id, ImageID: "img", VCPU: 1, MemoryMiB: 256, DiskGiB: 1,
		MAC: "52:54:00:00:00:01", IP: "10.64.1.10", Desired: d}
}

func TestStartRunsAndReportsOnce(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	r := newRec(h)
	for i := 0; i < 3; i++ {
		if err := r.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"w1=running "}, h.reports); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if !h.domains["sded-w1"].Running || string(h.secrets[SecretUUID("w1", "disk")]) != "dek-p1" || len(h.secrets) != 2 {
		t.Errorf("domain or secret missing: %v %v", h.domains, h.secrets)
	}
	if len(h.nets) != 1 || h.nets[0].Gateway.String() != "10.64.1.1" || len(h.nets[0].Leases) != 1 {
		t.Errorf("networks = %+v", h.nets)
	}
}

func TestStopRemovesDomainAndSecretKeepsDisk(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	r := newRec(h)
	_ = r.Pass(context.Background())
	h.ws[0].Desired = model.DesiredStopped
	// The first pass presses the power button; the guest powers off; the
	// next pass removes the domain.
	for range 2 {
		if err := r.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.domains) != 0 || len(h.secrets) != 0 || !h.disks["w1"] {
		t.Errorf("after stop: domains %v secrets %v disks %v", h.domains, h.secrets, h.disks)
	}
	if calls := strings.Join(h.calls, ","); !strings.Contains(calls, "dom.shutdown,") || !strings.Contains(calls, "dom.stop,dom.delete") {
		t.Errorf("stop was not graceful first: %s", calls)
	}
	h.ws[0].Desired = model.DesiredDeleted
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.disks) != 0 || h.reports[len(h.reports)-1] != "w1=gone " {
		t.Errorf("after delete: disks %v reports %v", h.disks, h.reports)
	}
}

func TestSuspendedProjectStopsWorkstations(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectSuspended)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	h.domains["sded-w1"] = DomainState{Running: true}
	r := newRec(h)
	for range 2 {
		if err := r.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.domains) != 0 || !strings.HasPrefix(h.reports[0], "w1=running shutting down: ") || h.reports[1] != "w1=stopped project is suspended" {
		t.Errorf("domains %v reports %v", h.domains, h.reports)
	}
}

// A guest that ignores the power button does not hold up the pass: the
// other workstations are reconciled meanwhile, and it is forced off once its
// time is up; wanted running again meanwhile, it is left running.
func TestGracefulStopDoesNotBlock(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	w2 := ws("w2", "p1", model.DesiredRunning)
	w2.IP, w2.MAC = "10.64.1.11", "52:54:00:00:00:02"
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredStopped), w2}
	h.domains["sded-w1"] = DomainState{Running: true}
	h.ignoreACPI = true
	r := New(Config{NodeID: "n1", Desired: h, Reporter: h, Networks: h, Volumes: h, Domains: h, StopGrace: 50 * time.Millisecond})
	ctx := context.Background()
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if !h.domains["sded-w1"].Running || !h.domains["sded-w2"].Running {
		t.Fatalf("after the first pass: %v; want w1 still running (asked to power off) and w2 started", h.domains)
	}
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Count(strings.Join(h.calls, ","), "dom.shutdown") != 1 || !h.domains["sded-w1"].Running {
		t.Fatalf("within the grace: calls %v, domains %v", h.calls, h.domains)
	}
	time.Sleep(60 * time.Millisecond)
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.domains["sded-w1"]; ok {
		t.Fatalf("after the grace: w1 still defined: %v", h.domains)
	}
	if got := h.reports[len(h.reports)-1]; got != "w1=stopped " {
		t.Errorf("last report %q, want w1 stopped", got)
	}

	// Asked to power off, then wanted running again: left running, and a
	// later stop presses the button again.
	h.ws[1].Desired = model.DesiredStopped
	_ = r.Pass(ctx)
	h.ws[1].Desired = model.DesiredRunning
	_ = r.Pass(ctx)
	if !h.domains["sded-w2"].Running || !strings.HasPrefix(h.reports[len(h.reports)-1], "w2=running") || strings.Contains(h.reports[len(h.reports)-1], "shutting down") {
		t.Fatalf("w2 wanted running again: domains %v, reports %v", h.domains, h.reports)
	}
	h.calls = nil
	h.ws[1].Desired = model.DesiredStopped
	_ = r.Pass(ctx)
	if !strings.Contains(strings.Join(h.calls, ","), "dom.shutdown") {
		t.Errorf("a second stop did not press the power button again: %v", h.calls)
	}
}

func TestFailuresAreReportedAndRetried(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	h.failOn["vol.disk"] = errors.New("no space left on device")
	r := newRec(h)
	err := r.Pass(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(h.reports[0], "w1=failed preparing disk: no space left on device") {
		t.Errorf("reports = %v", h.reports)
	}
	delete(h.failOn, "vol.disk")
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.reports[len(h.reports)-1] != "w1=running " {
		t.Errorf("retry did not converge: %v", h.reports)
	}
}

func TestHypervisorDownIsReportedOnWaitingWorkstations(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning), ws("w2", "p1", model.DesiredRunning)}
	h.ws[1].Status.State = model.ObservedRunning
	h.failOn["dom.list"] = errors.New("libvirt unavailable")
	r := newRec(h)
	if err := r.Pass(context.Background()); err == nil {
		t.Fatal("pass succeeded with the hypervisor down")
	}
	want := []string{"w1=pending hypervisor unavailable: listing domains: libvirt unavailable"}
	if diff := cmp.Diff(want, h.reports); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	delete(h.failOn, "dom.list")
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.reports[len(h.reports)-1]; got != "w1=running " {
		t.Errorf("after the hypervisor is back: last report %q, want w1=running", got)
	}
}

func TestReasonsWithoutControlCharacters(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	h.failOn["dom.ensure"] = errors.New("qemu: Failed to get \"write\" lock\nIs another process using the image?\t" + strings.Repeat("é", 600))
	r := newRec(h)
	_ = r.Pass(context.Background())
	got := h.ws[0].Status.Reason
	if strings.ContainsAny(got, "\n\t") || !utf8.ValidString(got) || len(got) > 1000 || !strings.Contains(got, "lock Is another process") {
		t.Errorf("reason %q: want one line of valid UTF-8, at most 1000 bytes", got)
	}
}

func TestArchivedKeyGoneMeansNoStart(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectArchived)}
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	if err := newRec(h).Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.nets) != 0 || !strings.Contains(strings.Join(h.calls, ","), "vol.deleteproject:p1") {
		t.Errorf("archived project: nets %v calls %v", h.nets, h.calls)
	}
}

func TestArchivedVolumesKeptWhileKeyRetained(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectArchived)}
	h.keys["p1"] = []byte("wrapped-p1")
	if err := newRec(h).Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(h.calls, ","), "vol.deleteproject") {
		t.Errorf("volumes removed during the retention period: %v", h.calls)
	}
}

func TestOrphanDomainsRemovedAndDriftAudited(t *testing.T) {
	h := newHost()
	h.domains["sded-old"] = DomainState{Running: true}
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.drift = []string{"bridge sdbr-p1 missing"}
	if err := newRec(h).Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.domains) != 0 {
		t.Errorf("orphan kept: %v", h.domains)
	}
	if diff := cmp.Diff([]string{"network: bridge sdbr-p1 missing"}, h.repairs); diff != "" {
		t.Errorf("repairs: %s", diff)
	}
}

func TestSecretUUIDStableAndValid(t *testing.T) {
	a, b := SecretUUID("w1", "disk"), SecretUUID("w1", "disk")
	if a != b || len(a) != 36 || a == SecretUUID("w2", "disk") || a == SecretUUID("w1", "data") || a[14] != '5' {
		t.Errorf("SecretUUID = %s", a)
	}
}

// Every running workstation of a project gets the project's shared folder;
// the folder is locked once none of them runs here.
func TestEveryWorkstationGetsTheSharedFolder(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive), project("p2", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	w2 := ws("w2", "p1", model.DesiredRunning)
	w2.IP, w2.MAC = "10.64.1.11", "52:54:00:00:00:02"
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning), w2}
	var specs []DomainSpec
	d := &specHost{host: h, specs: &specs}
	r := New(Config{NodeID: "n1", Desired: h, Reporter: h, Networks: h, Volumes: h, Domains: d})
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 {
		t.Fatalf("%d domains started, want 2", len(specs))
	}
	for _, sp := range specs {
		if sp.SharedDir != "/v/p1/shared" || len(sp.Disks) != 2 {
			t.Errorf("%s: shared folder %q, %d disks; want /v/p1/shared and 2 (disk, data)", sp.Name, sp.SharedDir, len(sp.Disks))
		}
	}
	if diff := cmp.Diff([]string{"p2"}, h.locked); diff != "" {
		t.Errorf("locked while running (-want +got): %s", diff)
	}
	h.locked = nil
	for i := range h.ws {
		h.ws[i].Desired = model.DesiredStopped
	}
	// Shutting down: still unlocked; once off: locked.
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"p2"}, h.locked); diff != "" {
		t.Errorf("locked while shutting down (-want +got): %s", diff)
	}
	h.locked = nil
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"p1", "p2"}, h.locked); diff != "" {
		t.Errorf("locked after stop (-want +got): %s", diff)
	}
}

// A host that cannot give an encrypted shared folder runs the workstation
// without one and says so in its status, for as long as it runs.
func TestNoSharedFolderIsReported(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	h.noShare = "the filesystem does not support encryption"
	var specs []DomainSpec
	r := New(Config{NodeID: "n1", Desired: h, Reporter: h, Networks: h, Volumes: h, Domains: &specHost{host: h, specs: &specs}})
	for range 2 {
		if err := r.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(specs) != 1 || specs[0].SharedDir != "" {
		t.Fatalf("specs = %+v", specs)
	}
	want := []string{"w1=running running without the project's shared folder: the filesystem does not support encryption"}
	if diff := cmp.Diff(want, h.reports); diff != "" {
		t.Errorf("reports (-want +got): %s", diff)
	}
}

func TestReasonsAreOneLine(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	h.keys["p1"] = []byte("wrapped-p1")
	h.ws = []model.Workstation{ws("w1", "p1", model.DesiredRunning)}
	h.failOn["dom.ensure"] = errors.New("qemu closed the monitor:\nIs another process using the image?")
	_ = newRec(h).Pass(context.Background())
	if len(h.reports) != 1 || strings.ContainsAny(h.reports[0], "\n\r") {
		t.Errorf("reports = %q", h.reports)
	}
}

// specHost records the specs the reconciler starts domains with.
type specHost struct {
	*host
	specs *[]DomainSpec
}

func (s *specHost) Ensure(ctx context.Context, d DomainSpec) error {
	*s.specs = append(*s.specs, d)
	return s.host.Ensure(ctx, d)
}

// A new project is a change of the desired state, not drift: Drift compares
// the host with what was applied before.
func TestDriftIsAgainstWhatWasApplied(t *testing.T) {
	h := newHost()
	h.projects = []model.Project{project("p1", model.ProjectActive)}
	r := newRec(h)
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	p2 := project("p2", model.ProjectActive)
	p2.Subnet = "10.64.2.0/24"
	h.projects = append(h.projects, p2)
	if err := r.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int{1, 1}, h.driftAsked); d != "" {
		t.Errorf("networks compared per pass (-want +got):\n%s", d)
	}
	if len(h.nets) != 2 {
		t.Errorf("applied %d networks", len(h.nets))
	}
}
