package cluster

import (
	"context"

	"github.com/sded/sded/cluster/model"
)

// The node's own access, for in-process components that act before or
// without a user (the reconciler, the airlock engine, the project gateways):
// reads of the local replica and audit events recorded as this node. They
// take no actor; never expose them to a user-facing route.

// AirlockRequest reads a request from the local replica.
func (s *Service) AirlockRequest(ctx context.Context, id string) (model.AirlockRequest, error) {
	return s.st.Airlock(id)
}

// ProjectAirlockRequests reads a project's requests from the local replica.
func (s *Service) ProjectAirlockRequests(ctx context.Context, projectID string) ([]model.AirlockRequest, error) {
	return s.st.AirlockRequests(projectID)
}

// ProjectWorkstations reads a project's workstations from the local replica.
func (s *Service) ProjectWorkstations(ctx context.Context, projectID string) ([]model.Workstation, error) {
	return s.st.Workstations(projectID)
}

// RecordSystemAudit records an audit-only event as this node.
func (s *Service) RecordSystemAudit(ctx context.Context, ev model.RecordAudit) error {
	return s.propose(ctx, model.CmdRecordAudit, s.system(), ev, nil)
}

// RecordRepair audits a repair of drift the reconciler found on the host.
func (s *Service) RecordRepair(ctx context.Context, object string, details map[string]string) error {
	return s.RecordSystemAudit(ctx, model.RecordAudit{Action: "network.drift_repaired", Object: object, Outcome: model.OutcomeSuccess, Details: details})
}

// Projects reads every project from the local replica (the reconciler's view).
func (s *Service) Projects(ctx context.Context) ([]model.Project, error) { return s.st.Projects() }

// Workstations reads every workstation from the local replica.
func (s *Service) Workstations(ctx context.Context) ([]model.Workstation, error) {
	return s.st.AllWorkstations()
}

// Image reads an image from the local replica.
func (s *Service) Image(ctx context.Context, id string) (model.Image, error) { return s.st.Image(id) }

// ProjectKey returns a project's wrapped data key; not_found once the
// project is archived and the key destroyed.
func (s *Service) ProjectKey(ctx context.Context, projectID string) ([]byte, error) {
	k, err := s.st.ProjectKey(projectID)
	return k.Wrapped, err
}
