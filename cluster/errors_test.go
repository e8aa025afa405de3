package cluster

import (
	"github.com/sded/sded/cluster/model"
)

type errorCase struct {
	name  string
	setup []model.Command // proposed on the leader first
	cmd   func() model.Command
	code  model.ErrorCode
}

// errorCases are commands the FSM refuses, each with the code that must
// survive forwarding from a follower.
func errorCases() []errorCase {
	return []errorCase{
		{
			name:  "forbidden",
			setup: []model.Command{createUser("bob", false, adminActor)},
			cmd:   func() model.Command { return putSetting("banner", "x", model.Actor{UserID: "bob"}) },
			code:  model.CodeForbidden,
		},
		{
			name: "already_exists",
			cmd:  func() model.Command { return createUser("admin", false, adminActor) },
			code: model.CodeAlreadyExists,
		},
		{
			name: "invalid payload",
			cmd:  func() model.Command { return putSetting("Bad Key!", "x", adminActor) },
			code: model.CodeInvalid,
		},
	}
}
