package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
)

// Members see each other's names; someone outside the project sees nothing.
func TestMemberNames(t *testing.T) {
	s := newScheduleEnv(t, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	ctx := context.Background()
	got, err := s.svc.MemberNames(ctx, s.bob, s.proj.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.HasSuffix(got[s.ann.UserID], "(ann)") || !strings.HasSuffix(got[s.bob.UserID], "(bob)") {
		t.Fatalf("bob sees %v", got)
	}
	admin, err := s.svc.MemberNames(ctx, s.admin, s.proj.ID)
	if err != nil || !cmp.Equal(admin, got) {
		t.Fatalf("admin sees %v, %v", admin, err)
	}
	eve := s.user(t, "eve")
	_, err = s.svc.MemberNames(ctx, eve, s.proj.ID)
	wantCode(t, err, model.CodeForbidden)
	_, err = s.svc.MemberNames(ctx, s.bob, "nope")
	wantCode(t, err, model.CodeNotFound)
}
