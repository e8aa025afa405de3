package model

import (
	"fmt"
	"strings"
	"testing"
)

// expectations restates the policy independently of the table in policy.go:
// for each action, whether the object belongs to a project, and for each
// principal two letters: may act on its own object, may act on someone
// else's object (y/n), in an active project. In a suspended or archived
// project every member is refused; admins and the system are unaffected,
// except adminOwn grants (admin-created airlock requests), which need an
// active project too.
var expectations = map[Action]struct {
	project bool
	want    string // admin owner researcher checker dm outsider system
}{
	ActSettingRead:         {false, "yy yy yy yy yy yy yy"},
	ActSettingWrite:        {false, "yy nn nn nn nn nn nn"},
	ActUserRead:            {false, "yy yn yn yn yn yn yy"},
	ActUserList:            {false, "yy nn nn nn nn nn nn"},
	ActUserCreate:          {false, "yy nn nn nn nn nn nn"},
	ActUserUpdate:          {false, "yy nn nn nn nn nn nn"},
	ActUserDisable:         {false, "yy nn nn nn nn nn nn"},
	ActUserSetPassword:     {false, "yy yn yn yn yn yn nn"},
	ActUserEnrolTOTP:       {false, "yn yn yn yn yn yn nn"},
	ActTokenManage:         {false, "yy yn yn yn yn yn nn"},
	ActSessionManage:       {false, "nn nn nn nn nn nn yy"},
	ActSessionEnd:          {false, "yy yn yn yn yn yn yy"},
	ActLoginRecord:         {false, "nn nn nn nn nn nn yy"},
	ActImageRead:           {false, "yy yy yy yy yy yy yy"},
	ActImageManage:         {false, "yy nn nn nn nn nn nn"},
	ActProjectRead:         {true, "yy yy yy yy yy nn yy"},
	ActProjectCreate:       {false, "yy nn nn nn nn nn nn"},
	ActProjectUpdate:       {true, "yy nn nn nn nn nn nn"},
	ActProjectLifecycle:    {true, "yy nn nn nn nn nn nn"},
	ActProjectExpire:       {false, "nn nn nn nn nn nn yy"},
	ActProjectKey:          {true, "nn nn nn nn nn nn yy"},
	ActProjectSchedule:     {true, "yy yy nn nn nn nn nn"},
	ActScheduleEnforce:     {false, "nn nn nn nn nn nn yy"},
	ActMemberRead:          {true, "yy yy yy yy yy nn yy"},
	ActMemberManage:        {true, "yy yy nn nn nn nn nn"},
	ActNodeManage:          {false, "yy nn nn nn nn nn yy"},
	ActAuditRead:           {false, "yy nn nn nn nn nn nn"},
	ActAuditRecord:         {false, "yy yy yy yy yy yy yy"},
	ActWorkstationCreate:   {true, "nn yy yy nn nn nn nn"},
	ActWorkstationRead:     {true, "yy yy yn nn nn nn yy"},
	ActWorkstationOperate:  {true, "nn yy yn nn nn nn nn"},
	ActWorkstationDelete:   {true, "nn yy yn nn nn nn nn"},
	ActWorkstationConnect:  {true, "nn yy yn nn nn nn nn"},
	ActWorkstationReport:   {true, "nn nn nn nn nn nn yy"},
	ActAirlockCreateImport: {true, "yy nn nn nn yy nn nn"},
	ActAirlockCreateExport: {true, "nn yy yy nn nn nn nn"},
	ActAirlockRead:         {true, "yn yy yn yy yy nn yy"},
	ActAirlockEdit:         {true, "yn yy yn nn yn nn nn"},
	ActAirlockComment:      {true, "yn yy yn yy yy nn nn"},
	ActAirlockReviewImport: {true, "nn ny nn ny ny nn nn"},
	ActAirlockReviewExport: {true, "nn nn nn ny nn nn nn"},
	ActAirlockFileView:     {true, "yn yy yn yy yy nn nn"},
	ActAirlockDownload:     {true, "yn yn yn nn yn nn nn"},
	ActAirlockSystem:       {true, "nn nn nn nn nn nn yy"},
	ActAirlockRevoke:       {true, "yy nn nn ny nn nn nn"},
}

func TestPolicyMatrix(t *testing.T) {
	const proj = "p1"
	principals := []struct {
		name string
		p    Principal
	}{
		{"admin", Principal{UserID: "admin", Admin: true}},
		{"owner", Principal{UserID: "owner", Roles: map[string]MemberRole{proj: RoleOwner}}},
		{"researcher", Principal{UserID: "researcher", Roles: map[string]MemberRole{proj: RoleResearcher}}},
		{"checker", Principal{UserID: "checker", Roles: map[string]MemberRole{proj: RoleOutputChecker}}},
		{"dm", Principal{UserID: "dm", Roles: map[string]MemberRole{proj: RoleDataManager}}},
		{"outsider", Principal{UserID: "outsider", Roles: map[string]MemberRole{"other": RoleOwner}}},
		{"system", Principal{NodeID: "node1"}},
	}
	if len(expectations) != len(Actions()) {
		for _, a := range Actions() {
			if _, ok := expectations[a]; !ok {
				t.Errorf("action %s has no expectation row", a)
			}
		}
		t.Fatalf("%d expectation rows for %d actions", len(expectations), len(Actions()))
	}
	for _, a := range Actions() {
		exp := expectations[a]
		cols := strings.Fields(exp.want)
		if len(cols) != len(principals) {
			t.Fatalf("%s: bad expectation %q", a, exp.want)
		}
		for i, pr := range principals {
			for j, own := range []bool{true, false} {
				for _, st := range []ProjectState{ProjectActive, ProjectSuspended, ProjectArchived} {
					if !exp.project && st != ProjectActive {
						continue
					}
					obj := Object{Kind: KindWorkstation, ID: "x", OwnerID: "somebody-else"}
					if own {
						obj.OwnerID = pr.p.UserID
					}
					if exp.project {
						obj.ProjectID, obj.ProjectState = proj, st
					}
					want := cols[i][j] == 'y'
					if st != ProjectActive && want && !(pr.name == "system" || (pr.name == "admin" && policy[a].admin)) {
						want = false // members (and adminOwn) are refused outside an active project
					}
					err := Can(pr.p, a, obj)
					if got := err == nil; got != want {
						t.Errorf("Can(%s, %s, own=%v, project %s) = %v, want allowed=%v", pr.name, a, own, st, err, want)
					}
					if err != nil && CodeOf(err) != CodeForbidden {
						t.Errorf("Can(%s, %s) error code %s, want forbidden", pr.name, a, CodeOf(err))
					}
				}
			}
		}
	}
}

func TestPolicyEdges(t *testing.T) {
	active := Object{Kind: KindWorkstation, ProjectID: "p1", ProjectState: ProjectActive, OwnerID: "u1"}
	tests := []struct {
		name string
		p    Principal
		a    Action
		o    Object
		code ErrorCode
	}{
		{"anonymous is unauthenticated", Principal{}, ActImageRead, Object{Kind: KindImage}, CodeUnauthenticated},
		{"unknown action denied", Principal{UserID: "a", Admin: true}, Action("rm -rf"), Object{}, CodeForbidden},
		{"token without scope denied", Principal{UserID: "a", Admin: true, Token: true, Scopes: []Action{ActImageRead}}, ActUserCreate, Object{Kind: KindUser}, CodeForbidden},
		{"token with scope allowed", Principal{UserID: "a", Admin: true, Token: true, Scopes: []Action{ActUserCreate}}, ActUserCreate, Object{Kind: KindUser}, ""},
		{"token with * allowed", Principal{UserID: "a", Admin: true, Token: true, Scopes: []Action{ScopeAll}}, ActUserCreate, Object{Kind: KindUser}, ""},
		{"token never widens", Principal{UserID: "u2", Token: true, Scopes: []Action{ScopeAll}}, ActUserCreate, Object{Kind: KindUser}, CodeForbidden},
		{"role in another project does not count", Principal{UserID: "u1", Roles: map[string]MemberRole{"p2": RoleOwner}}, ActWorkstationOperate, active, CodeForbidden},
		{"unknown project state refused", Principal{UserID: "u1", Roles: map[string]MemberRole{"p1": RoleOwner}}, ActWorkstationOperate, Object{ProjectID: "p1", OwnerID: "u1"}, CodeForbidden},
		{"own grant with empty owner refused", Principal{UserID: "u1", Roles: map[string]MemberRole{"p1": RoleResearcher}}, ActWorkstationOperate, Object{ProjectID: "p1", ProjectState: ProjectActive}, CodeForbidden},
		{"self grant needs owner", Principal{UserID: "u1"}, ActUserSetPassword, Object{Kind: KindUser}, CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Can(tt.p, tt.a, tt.o)
			if CodeOf(err) != tt.code {
				t.Errorf("Can = %v, want code %q", err, tt.code)
			}
		})
	}
}

func ExampleCan() {
	researcher := Principal{UserID: "ann", Roles: map[string]MemberRole{"p1": RoleResearcher}}
	other := Object{Kind: KindWorkstation, ID: "w2", ProjectID: "p1", ProjectState: ProjectActive, OwnerID: "bob"}
	fmt.Println(Can(researcher, ActWorkstationOperate, other))
	// Output: role researcher may workstation.operate only what they created
}
