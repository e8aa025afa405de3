package ui

import (
	"context"
	"strings"
	"testing"

	"github.com/sded/sded/cluster/model"
)

// A researcher (not an admin) sees the other members' names on the project
// page, through MemberNames; without it, their user IDs.
func TestMemberNamesForMembers(t *testing.T) {
	var set []model.Schedule
	f := scheduleFake(&set)
	f.ListUsersFn = func(context.Context, model.Actor) ([]model.User, error) {
		return nil, model.Errorf(model.CodeForbidden, "admins only")
	}
	var asked []string
	f.MemberNamesFn = func(_ context.Context, a model.Actor, id string) (map[string]string, error) {
		asked = append(asked, a.UserID+"/"+id)
		return map[string]string{alice.ID: "Alice Researcher (alice)", bob.ID: "Bob Builder (bob)"}, nil
	}
	ts := newTestServer(t, f, nil)
	resp, body := ts.do(t, "GET", "/projects/p1", "full-bob", "", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "Alice Researcher (alice)") {
		t.Fatalf("status %d; the researcher does not see the owner's name", resp.StatusCode)
	}
	if len(asked) != 1 || asked[0] != bob.ID+"/p1" {
		t.Errorf("MemberNames asked %v, want once for bob on p1", asked)
	}
	f.MemberNamesFn = func(context.Context, model.Actor, string) (map[string]string, error) {
		return nil, model.Errorf(model.CodeForbidden, "no")
	}
	if _, body := ts.do(t, "GET", "/projects/p1", "full-bob", "", nil, ""); !strings.Contains(body, alice.ID) {
		t.Errorf("without names the page should show the user ID")
	}
}
