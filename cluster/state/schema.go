package state

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket names.
var (
	bMeta           = []byte("meta")
	bSettings       = []byte("settings")
	bUsers          = []byte("users")
	bUsersByName    = []byte("users_by_name")
	bSessions       = []byte("sessions")
	bSessionsByUser = []byte("sessions_by_user")
	bTokens         = []byte("tokens")
	bTokensByHash   = []byte("tokens_by_hash")
	bProjects       = []byte("projects")
	bProjectsBySlug = []byte("projects_by_slug")
	bMembers        = []byte("members")
	bMembersByUser  = []byte("members_by_user")
	bProjectKeys    = []byte("project_keys")
	bImages         = []byte("images")
	bWorkstations   = []byte("workstations")
	bWSByProject    = []byte("workstations_by_project")
	bNodes          = []byte("nodes")
	bAirlock        = []byte("airlock")
	bAirlockByProj  = []byte("airlock_by_project")
	bAudit          = []byte("audit")
	bRequests       = []byte("requests")
	bRequestsOrder  = []byte("requests_order")
)

// Keys in the meta bucket.
var (
	kSchemaVersion     = []byte("schema_version")
	kAppliedIndex      = []byte("applied_index")
	kProjectNumber     = []byte("project_number")
	kWorkstationNumber = []byte("workstation_number")
	kRequestCount      = []byte("request_count")
	kAuditHead         = []byte("audit_head")
	kSubnetPool        = []byte("subnet_pool")
)

// v1Buckets is the schema as version 1 created it.
var v1Buckets = [][]byte{bMeta, bSettings, bUsers, bUsersByName, bSessions, bSessionsByUser, bTokens, bTokensByHash,
	bProjects, bProjectsBySlug, bMembers, bProjectKeys, bImages, bWorkstations, bWSByProject, bNodes, bAirlock,
	bAirlockByProj, bAudit, bRequests, bRequestsOrder}

// migration moves the schema from version-1 to version.
type migration struct {
	version uint64
	name    string
	up      func(tx *bolt.Tx) error
}

// migrations, in order. Never edit a released one; append.
var migrations = []migration{
	{version: 2, name: "index members by user", up: migrateMembersByUser},
}

// SchemaVersion is the version this binary writes.
var SchemaVersion = migrations[len(migrations)-1].version

func createV1(tx *bolt.Tx) error {
	for _, b := range v1Buckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("creating bucket %s: %w", b, err)
		}
	}
	return tx.Bucket(bMeta).Put(kSchemaVersion, u64(1))
}

func migrateMembersByUser(tx *bolt.Tx) error {
	idx, err := tx.CreateBucketIfNotExists(bMembersByUser)
	if err != nil {
		return err
	}
	return tx.Bucket(bMembers).ForEach(func(k, v []byte) error {
		m, err := decode[memberRow](v)
		if err != nil {
			return fmt.Errorf("member %q: %w", k, err)
		}
		return idx.Put(key(m.UserID, m.ProjectID), []byte(m.Role))
	})
}

// memberRow is the part of model.Member the v2 migration needs; migrations
// decode their own row types so later model changes cannot break them.
type memberRow struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
	Role      string `json:"role"`
}

// migrate brings tx's schema to SchemaVersion.
func migrate(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	v := readU64(meta.Get(kSchemaVersion))
	if v == 0 {
		return fmt.Errorf("meta bucket has no schema version")
	}
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this sded supports (%d): upgrade sded", v, SchemaVersion)
	}
	for _, m := range migrations {
		if m.version <= v {
			continue
		}
		if err := m.up(tx); err != nil {
			return fmt.Errorf("migrating to schema %d (%s): %w", m.version, m.name, err)
		}
		if err := meta.Put(kSchemaVersion, u64(m.version)); err != nil {
			return err
		}
	}
	return nil
}

// key joins parts with NUL.
func key(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
