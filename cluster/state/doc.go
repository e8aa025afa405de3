// Package state is the bbolt schema of the replicated store, its migrations and
// typed read helpers that copy values out of transactions.
//
// Every value is JSON of a cluster/model type; every secondary index holds
// only IDs. Composite keys join their parts with a NUL byte, which IDs cannot
// contain. The schema (version 2):
//
//	meta/
//	    schema_version        uint64 big-endian
//	    applied_index         uint64 big-endian: last raft index applied
//	    project_number        uint32 counter: decides a project's subnet
//	    workstation_number    uint32 counter: decides a workstation's MAC
//	    request_count         uint64: entries in requests/
//	    audit_head            last audit seq (8 bytes) + its hash: detects a cut-off tail
//	    subnet_pool           the project address pool, recorded with the first project
//	settings/                 key → model.Setting
//	users/                    id → model.User
//	users_by_name/            username → id
//	sessions/                 sha256(token) hex → model.Session
//	sessions_by_user/         userID NUL hash → ""
//	tokens/                   id → model.APIToken
//	tokens_by_hash/           sha256(token) hex → id
//	projects/                 id → model.Project
//	projects_by_slug/         slug → id
//	members/                  projectID NUL userID → model.Member
//	members_by_user/          userID NUL projectID → role          (added in v2)
//	project_keys/             projectID → model.ProjectKey
//	images/                   id → model.Image
//	workstations/             id → model.Workstation
//	workstations_by_project/  projectID NUL id → ""
//	nodes/                    id → model.Node
//	airlock/                  id → model.AirlockRequest
//	airlock_by_project/       projectID NUL id → ""
//	audit/                    seq uint64 big-endian → model.AuditEvent (hash-chained)
//	requests/                 request ID → fsm result JSON (idempotency)
//	requests_order/           raft index uint64 big-endian → request ID (evicts the oldest)
//
// Commits are not fsynced: the raft log holds every applied entry durably,
// and a file the machine went down with is moved aside and rebuilt by raft
// (see unsynced.go for the invariant). Close fsyncs.
//
// Open refuses a file that bbolt cannot read, that fails bbolt's consistency
// check, that is not an sded state file, or whose schema is newer than this
// binary; older schemas are migrated in one transaction.
package state
