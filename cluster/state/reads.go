package state

import (
	"time"

	"github.com/sded/sded/cluster/model"
)

// read runs one getter in a read transaction.
func read[T any](s *Store, fn func(tx *Tx) (T, error)) (T, error) {
	var v T
	err := s.View(func(tx *Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, err
}

// GetSetting returns a platform setting.
func (s *Store) GetSetting(key string) (model.Setting, error) {
	return read(s, func(tx *Tx) (model.Setting, error) { return tx.Setting(key) })
}

// Settings returns every setting.
func (s *Store) Settings() ([]model.Setting, error) { return read(s, (*Tx).Settings) }

// User returns a user (with secrets: redact before it leaves the service).
func (s *Store) User(id string) (model.User, error) {
	return read(s, func(tx *Tx) (model.User, error) { return tx.User(id) })
}

// UserByUsername returns the user with a username.
func (s *Store) UserByUsername(name string) (model.User, error) {
	return read(s, func(tx *Tx) (model.User, error) { return tx.UserByUsername(name) })
}

// Users returns every user.
func (s *Store) Users() ([]model.User, error) { return read(s, (*Tx).Users) }

// Session returns a session by token hash.
func (s *Store) Session(hash string) (model.Session, error) {
	return read(s, func(tx *Tx) (model.Session, error) { return tx.Session(hash) })
}

// APITokenByHash returns the token whose secret hashes to hash.
func (s *Store) APITokenByHash(hash string) (model.APIToken, error) {
	return read(s, func(tx *Tx) (model.APIToken, error) { return tx.APITokenByHash(hash) })
}

// Principal resolves an actor at now (see Tx.Principal).
func (s *Store) Principal(a model.Actor, now time.Time) (model.Principal, error) {
	return read(s, func(tx *Tx) (model.Principal, error) { return tx.Principal(a, now) })
}

// Project returns a project.
func (s *Store) Project(id string) (model.Project, error) {
	return read(s, func(tx *Tx) (model.Project, error) { return tx.Project(id) })
}

// ProjectBySlug returns the project with a slug.
func (s *Store) ProjectBySlug(slug string) (model.Project, error) {
	return read(s, func(tx *Tx) (model.Project, error) { return tx.ProjectBySlug(slug) })
}

// Projects returns every project.
func (s *Store) Projects() ([]model.Project, error) { return read(s, (*Tx).Projects) }

// Members returns a project's members.
func (s *Store) Members(projectID string) ([]model.Member, error) {
	return read(s, func(tx *Tx) ([]model.Member, error) { return tx.Members(projectID) })
}

// ProjectKey returns a project's wrapped data key.
func (s *Store) ProjectKey(projectID string) (model.ProjectKey, error) {
	return read(s, func(tx *Tx) (model.ProjectKey, error) { return tx.ProjectKey(projectID) })
}

// Image returns an image.
func (s *Store) Image(id string) (model.Image, error) {
	return read(s, func(tx *Tx) (model.Image, error) { return tx.Image(id) })
}

// Images returns every image.
func (s *Store) Images() ([]model.Image, error) { return read(s, (*Tx).Images) }

// Workstation returns a workstation.
func (s *Store) Workstation(id string) (model.Workstation, error) {
	return read(s, func(tx *Tx) (model.Workstation, error) { return tx.Workstation(id) })
}

// Workstations returns a project's workstations.
func (s *Store) Workstations(projectID string) ([]model.Workstation, error) {
	return read(s, func(tx *Tx) ([]model.Workstation, error) { return tx.Workstations(projectID) })
}

// AllWorkstations returns every workstation (the reconciler's view).
func (s *Store) AllWorkstations() ([]model.Workstation, error) { return read(s, (*Tx).AllWorkstations) }

// Nodes returns every node.
func (s *Store) Nodes() ([]model.Node, error) { return read(s, (*Tx).Nodes) }

// Airlock returns an airlock request.
func (s *Store) Airlock(id string) (model.AirlockRequest, error) {
	return read(s, func(tx *Tx) (model.AirlockRequest, error) { return tx.Airlock(id) })
}

// AirlockRequests returns a project's airlock requests.
func (s *Store) AirlockRequests(projectID string) ([]model.AirlockRequest, error) {
	return read(s, func(tx *Tx) ([]model.AirlockRequest, error) { return tx.AirlockRequests(projectID) })
}

// AuditEvents returns up to limit events from sequence from on.
func (s *Store) AuditEvents(from uint64, limit int) ([]model.AuditEvent, error) {
	return read(s, func(tx *Tx) ([]model.AuditEvent, error) { return tx.AuditEvents(from, limit) })
}
