package fsm

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

func TestWorkstationAllocationAndQuota(t *testing.T) {
	h := newHarness(t)
	h.world()
	var w1, w2, w3 model.Workstation
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"), &w1)
	h.ok(model.CmdCreateWorkstation, user("cat"), ws("w2", "p1", "cat-1"), &w2)
	h.ok(model.CmdCreateWorkstation, user("eve"), ws("w3", "p2", "eve-1"), &w3)
	got := [][3]string{{w1.IP, w1.MAC, w1.OwnerID}, {w2.IP, w2.MAC, w2.OwnerID}, {w3.IP, w3.MAC, w3.OwnerID}}
	want := [][3]string{{"10.64.1.10", model.MACCandidate("w1", 0), "bob"}, {"10.64.1.11", model.MACCandidate("w2", 0), "cat"}, {"10.64.2.10", model.MACCandidate("w3", 0), "eve"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("allocation (-want +got):\n%s", d)
	}
	h.fail(model.CodeAlreadyExists, model.CmdCreateWorkstation, user("bob"), ws("w9", "p1", "bob-1"))
	h.fail(model.CodeAlreadyExists, model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "other"))
	h.fail(model.CodeNotFound, model.CmdCreateWorkstation, user("bob"), model.CreateWorkstation{ID: "w9", ProjectID: "p1", Name: "n", ImageID: "nope", Flavour: "s", VCPU: 1, MemoryMiB: 512, DiskGiB: 1})
	// Quota: 8 vCPU; 4 used; 6 more is too many.
	big := ws("w4", "p1", "big")
	big.VCPU = 6
	h.fail(model.CodeConflict, model.CmdCreateWorkstation, user("bob"), big)
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w4", "p1", "bob-2"))
	h.fail(model.CodeConflict, model.CmdCreateWorkstation, user("bob"), ws("w5", "p1", "bob-3")) // 3 workstations max
	// Other people's roles.
	h.fail(model.CodeForbidden, model.CmdCreateWorkstation, user("olly"), ws("w6", "p1", "olly"))
	h.fail(model.CodeForbidden, model.CmdCreateWorkstation, user("eve"), ws("w6", "p1", "eve"))
	h.fail(model.CodeForbidden, model.CmdCreateWorkstation, user("root"), ws("w6", "p1", "root"))
	// A researcher cannot act on another's workstation; the owner can.
	h.fail(model.CodeForbidden, model.CmdSetWorkstationRun, user("cat"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredStopped})
	h.fail(model.CodeForbidden, model.CmdDeleteWorkstation, user("cat"), model.DeleteWorkstation{ID: "w1"})
	h.fail(model.CodeForbidden, model.CmdSetWorkstationRun, user("eve"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredStopped})
	h.ok(model.CmdSetWorkstationRun, user("ann"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredStopped})
	// Quota cannot shrink below use.
	q := model.Quota{VCPU: 4, MemoryMiB: 16384, DiskGiB: 200, Workstations: 3}
	h.fail(model.CodeConflict, model.CmdUpdateProject, user("root"), model.UpdateProject{ID: "p1", Quota: &q})
	// Delete, then the reconciler reports gone: the address is free again.
	h.ok(model.CmdDeleteWorkstation, user("bob"), model.DeleteWorkstation{ID: "w1"})
	h.fail(model.CodeConflict, model.CmdSetWorkstationRun, user("bob"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredRunning})
	h.ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w1", State: model.ObservedGone})
	var w5 model.Workstation
	h.ok(model.CmdCreateWorkstation, user("cat"), ws("w5", "p1", "cat-2"), &w5)
	if w5.IP != "10.64.1.10" || w5.MAC != model.MACCandidate("w5", 0) {
		t.Errorf("reused address %s, MAC %s", w5.IP, w5.MAC)
	}
}

// MACs come from the workstation's ID; a candidate another workstation has
// is skipped for the next one, deterministically.
func TestMACsAreUnique(t *testing.T) {
	h := newHarness(t)
	h.world()
	var w1, w2 model.Workstation
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"), &w1)
	if w1.MAC != model.MACCandidate("w1", 0) {
		t.Fatalf("MAC %s, want the first candidate %s", w1.MAC, model.MACCandidate("w1", 0))
	}
	// Give w1 the MAC w2 would take first.
	if err := h.st.Update(func(tx *state.Tx) error {
		w1.MAC = model.MACCandidate("w2", 0)
		return tx.PutWorkstation(w1)
	}); err != nil {
		t.Fatal(err)
	}
	h.ok(model.CmdCreateWorkstation, user("cat"), ws("w2", "p1", "cat-1"), &w2)
	if w2.MAC != model.MACCandidate("w2", 1) {
		t.Fatalf("w2 got %s, want its second candidate %s (the first is w1's)", w2.MAC, model.MACCandidate("w2", 1))
	}
}

func TestReportOnlyOnChange(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"))
	h.ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w1", State: model.ObservedRunning})
	n := h.auditCount()
	h.ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w1", State: model.ObservedRunning})
	if h.auditCount() != n {
		t.Error("an unchanged report was audited")
	}
	h.ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w1", State: model.ObservedFailed, Reason: "disk full"})
	w, _ := h.st.Workstation("w1")
	if w.Status.State != model.ObservedFailed || w.Status.Reason != "disk full" || w.Status.Node != "node1" || h.lastAudit().Outcome != model.OutcomeFailure {
		t.Errorf("failed report: %+v %+v", w.Status, h.lastAudit())
	}
	h.fail(model.CodeForbidden, model.CmdReportWorkstation, user("bob"), model.ReportWorkstation{ID: "w1", State: model.ObservedRunning})
	// Gone while not being deleted just records the status.
	h.ok(model.CmdReportWorkstation, sys, model.ReportWorkstation{ID: "w1", State: model.ObservedGone})
	if _, err := h.st.Workstation("w1"); err != nil {
		t.Error("a workstation not being deleted was removed")
	}
}

func TestImages(t *testing.T) {
	h := newHarness(t)
	h.world()
	img := model.Image{ID: "img2", Name: "ubuntu", Format: model.FormatRaw, SHA256: sha("u"), Size: 10, Path: "/var/lib/sded/images/u.raw"}
	h.fail(model.CodeForbidden, model.CmdRegisterImage, user("ann"), model.RegisterImage{Image: img})
	var got model.Image
	h.ok(model.CmdRegisterImage, user("root"), model.RegisterImage{Image: img}, &got)
	if got.CreatedBy != "root" || !got.CreatedAt.Equal(h.now) {
		t.Errorf("image stamped %+v", got)
	}
	dup := img
	dup.ID = "img3"
	h.fail(model.CodeAlreadyExists, model.CmdRegisterImage, user("root"), model.RegisterImage{Image: dup})
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"))
	h.fail(model.CodeConflict, model.CmdDeleteImage, user("root"), model.DeleteImage{ID: "img1"})
	h.ok(model.CmdDeleteImage, user("root"), model.DeleteImage{ID: "img2"})
	h.fail(model.CodeNotFound, model.CmdDeleteImage, user("root"), model.DeleteImage{ID: "img2"})
}

func TestProjectLifecycle(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.ok(model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "bob-1"))
	h.ok(model.CmdPutProjectKey, sys, model.PutProjectKey{ProjectID: "p1", KEKID: "kek1", Wrapped: make([]byte, 60)})
	h.fail(model.CodeAlreadyExists, model.CmdPutProjectKey, sys, model.PutProjectKey{ProjectID: "p1", KEKID: "kek1", Wrapped: make([]byte, 60)})
	h.fail(model.CodeForbidden, model.CmdPutProjectKey, user("root"), model.PutProjectKey{ProjectID: "p1", KEKID: "kek1", Wrapped: make([]byte, 60)})
	// Owners manage members, not the project itself.
	h.fail(model.CodeForbidden, model.CmdSuspendProject, user("ann"), model.ProjectStateChange{ID: "p1"})
	h.ok(model.CmdSuspendProject, user("root"), model.ProjectStateChange{ID: "p1", Reason: "DSA review"})
	w, _ := h.st.Workstation("w1")
	if w.Desired != model.DesiredStopped {
		t.Errorf("suspension left workstation %s", w.Desired)
	}
	// Members are refused in a suspended project, whatever their role.
	h.fail(model.CodeForbidden, model.CmdSetWorkstationRun, user("bob"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredRunning})
	h.fail(model.CodeForbidden, model.CmdSetWorkstationRun, user("ann"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredRunning})
	h.fail(model.CodeForbidden, model.CmdAddMember, user("ann"), model.AddMember{ProjectID: "p1", UserID: "eve", Role: model.RoleResearcher})
	h.fail(model.CodeForbidden, model.CmdCreateAirlock, user("bob"), model.CreateAirlock{ID: "a1", ProjectID: "p1", Direction: model.AirlockExport, Title: "t", RequiredApprovals: 2})
	h.fail(model.CodeConflict, model.CmdSuspendProject, user("root"), model.ProjectStateChange{ID: "p1"})
	h.ok(model.CmdResumeProject, user("root"), model.ProjectStateChange{ID: "p1"})
	h.ok(model.CmdSetWorkstationRun, user("bob"), model.SetWorkstationRun{ID: "w1", Desired: model.DesiredRunning})
	// Expiry suspends at the given time and not before.
	var out map[string][]string
	h.ok(model.CmdExpireProjects, sys, model.ExpireProjects{At: h.now}, &out)
	if len(out["suspended"]) != 0 {
		t.Errorf("expired too early: %v", out)
	}
	h.fail(model.CodeForbidden, model.CmdExpireProjects, user("root"), model.ExpireProjects{At: h.now})
	h.now = t0.Add(366 * 24 * time.Hour)
	h.ok(model.CmdExpireProjects, sys, model.ExpireProjects{At: h.now}, &out)
	if d := cmp.Diff([]string{"p1", "p2"}, out["suspended"]); d != "" {
		t.Errorf("expired (-want +got):\n%s", d)
	}
	h.fail(model.CodeConflict, model.CmdResumeProject, user("root"), model.ProjectStateChange{ID: "p1"})
	exp := h.now.Add(30 * 24 * time.Hour)
	h.ok(model.CmdUpdateProject, user("root"), model.UpdateProject{ID: "p1", ExpiresAt: &exp})
	h.ok(model.CmdResumeProject, user("root"), model.ProjectStateChange{ID: "p1"})
	// Archive: workstations deleted, key destroyed, nothing more can change.
	h.ok(model.CmdArchiveProject, user("root"), model.ProjectStateChange{ID: "p1", Reason: "study closed"})
	if e := h.lastAudit(); e.Details["data_key_destroyed"] != "true" {
		t.Errorf("archive audit %+v", e)
	}
	if _, err := h.st.ProjectKey("p1"); model.CodeOf(err) != model.CodeNotFound {
		t.Error("archived project's key survived")
	}
	if w, _ := h.st.Workstation("w1"); w.Desired != model.DesiredDeleted {
		t.Errorf("archived project's workstation is %s", w.Desired)
	}
	h.fail(model.CodeConflict, model.CmdUpdateProject, user("root"), model.UpdateProject{ID: "p1", Name: new("x")})
	h.fail(model.CodeConflict, model.CmdAddMember, user("root"), model.AddMember{ProjectID: "p1", UserID: "eve", Role: model.RoleResearcher})
	h.fail(model.CodeConflict, model.CmdPutProjectKey, sys, model.PutProjectKey{ProjectID: "p1", KEKID: "kek1", Wrapped: make([]byte, 60)})
	h.fail(model.CodeConflict, model.CmdArchiveProject, user("root"), model.ProjectStateChange{ID: "p1"})
	h.fail(model.CodeConflict, model.CmdResumeProject, user("root"), model.ProjectStateChange{ID: "p1"})
}

func TestMembers(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.fail(model.CodeForbidden, model.CmdAddMember, user("bob"), model.AddMember{ProjectID: "p1", UserID: "eve", Role: model.RoleResearcher})
	h.fail(model.CodeAlreadyExists, model.CmdAddMember, user("ann"), model.AddMember{ProjectID: "p1", UserID: "bob", Role: model.RoleResearcher})
	h.fail(model.CodeNotFound, model.CmdAddMember, user("ann"), model.AddMember{ProjectID: "p1", UserID: "nobody", Role: model.RoleResearcher})
	h.ok(model.CmdAddMember, user("ann"), model.AddMember{ProjectID: "p1", UserID: "bob", Role: model.RoleOwner})
	h.ok(model.CmdRemoveMember, user("bob"), model.RemoveMember{ProjectID: "p1", UserID: "ann"})
	h.fail(model.CodeConflict, model.CmdRemoveMember, user("bob"), model.RemoveMember{ProjectID: "p1", UserID: "bob"})
	h.ok(model.CmdRemoveMember, user("root"), model.RemoveMember{ProjectID: "p1", UserID: "bob"})
	// Removed members lose access at once.
	h.fail(model.CodeForbidden, model.CmdCreateWorkstation, user("bob"), ws("w1", "p1", "x"))
	h.fail(model.CodeNotFound, model.CmdRemoveMember, user("root"), model.RemoveMember{ProjectID: "p1", UserID: "bob"})
}

func TestSettingsAndNodes(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.fail(model.CodeForbidden, model.CmdPutSetting, user("ann"), model.PutSetting{Key: "login.banner", Value: "x"})
	h.fail(model.CodeInvalid, model.CmdPutSetting, user("root"), model.PutSetting{Key: "../x", Value: "x"})
	h.ok(model.CmdPutNode, sys, model.PutNode{Node: model.Node{ID: "node1", Address: "10.0.0.1:7000", Voter: true}})
	n := h.auditCount()
	h.ok(model.CmdPutNode, sys, model.PutNode{Node: model.Node{ID: "node1", Address: "10.0.0.1:7000", Voter: true}})
	if h.auditCount() != n {
		t.Error("unchanged node was audited")
	}
	h.fail(model.CodeForbidden, model.CmdPutNode, user("ann"), model.PutNode{Node: model.Node{ID: "node2", Address: "x:1"}})
	h.ok(model.CmdRemoveNode, user("root"), model.RemoveNode{ID: "node1"})
	h.ok(model.CmdRecordAudit, user("bob"), model.RecordAudit{Action: "desktop.open", Object: "workstation/w1", ProjectID: "p1", Outcome: model.OutcomeSuccess})
	if e := h.lastAudit(); e.Action != "desktop.open" || e.Actor.UserID != "bob" {
		t.Errorf("audit record %+v", e)
	}
	h.fail(model.CodeInvalid, model.CmdRecordAudit, user("bob"), model.RecordAudit{Action: "project.archive", Outcome: model.OutcomeSuccess})
}

func TestSubnetPoolRecordedOnce(t *testing.T) {
	h := newHarness(t)
	h.ok(model.CmdCreateUser, sys, model.CreateUser{ID: "root", Username: "root", DisplayName: "Root", Admin: true})
	p1 := project("p1", "one", "root")
	p1.Pool = "192.168.0.0/16"
	var got model.Project
	h.ok(model.CmdCreateProject, user("root"), p1, &got)
	if got.Subnet != "192.168.1.0/24" {
		t.Errorf("first project subnet %s", got.Subnet)
	}
	// A node configured with another pool is refused; none given uses the recorded one.
	p2 := project("p2", "two", "root")
	p2.Pool = "10.64.0.0/10"
	h.fail(model.CodeConflict, model.CmdCreateProject, user("root"), p2)
	p2.Pool = ""
	h.ok(model.CmdCreateProject, user("root"), p2, &got)
	if got.Subnet != "192.168.2.0/24" {
		t.Errorf("second project subnet %s: the refused entry must not use up a number", got.Subnet)
	}
}

// TestArchiveRetention: with the retention setting, archiving keeps the data
// key until the periodic expiry command finds the period over; then the key
// is destroyed and that is audited.
func TestArchiveRetention(t *testing.T) {
	h := newHarness(t)
	h.world()
	h.ok(model.CmdPutProjectKey, sys, model.PutProjectKey{ProjectID: "p1", KEKID: "kek1", Wrapped: make([]byte, 60)})
	h.ok(model.CmdPutSetting, user("root"), model.PutSetting{Key: model.ArchiveRetentionSetting, Value: "72h"})
	h.ok(model.CmdArchiveProject, user("root"), model.ProjectStateChange{ID: "p1", Reason: "study closed"})
	if e := h.lastAudit(); e.Details["data_key_destroyed"] != "false" || e.Details["data_key_destroyed_after"] == "" {
		t.Errorf("archive audit %+v", e.Details)
	}
	if _, err := h.st.ProjectKey("p1"); err != nil {
		t.Fatalf("key destroyed before the retention period: %v", err)
	}
	var out map[string][]string
	archived := h.now
	h.now = archived.Add(71 * time.Hour)
	h.ok(model.CmdExpireProjects, sys, model.ExpireProjects{At: h.now}, &out)
	if len(out["keys_destroyed"]) != 0 {
		t.Errorf("destroyed early: %v", out)
	}
	h.now = archived.Add(73 * time.Hour)
	h.ok(model.CmdExpireProjects, sys, model.ExpireProjects{At: h.now}, &out)
	if d := cmp.Diff([]string{"p1"}, out["keys_destroyed"]); d != "" {
		t.Errorf("keys destroyed (-want +got):\n%s", d)
	}
	if _, err := h.st.ProjectKey("p1"); model.CodeOf(err) != model.CodeNotFound {
		t.Error("key survived its retention period")
	}
	if e := h.lastAudit(); e.Action != "project.key_destroyed" || e.ProjectID != "p1" {
		t.Errorf("shredding audit %+v", e)
	}
	// A bad setting value means no retention: the safe side for data.
	if model.ArchiveRetention("soon") != 0 || model.ArchiveRetention("-1h") != 0 || model.ArchiveRetention("24h") != 24*time.Hour {
		t.Error("ArchiveRetention parsing")
	}
}
