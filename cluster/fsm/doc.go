// Package fsm is the raft.FSM over the bbolt state: one transaction per log
// entry that skips applied indexes, re-checks invariants and policy, mutates,
// appends the audit event and stores the applied index.
//
// # One entry, one outcome
//
// Apply handles a log entry in one of three ways, always consuming its index:
//
//   - index ≤ the applied index stored in the state: skipped (the entry was
//     applied before a restart; the state is persistent).
//   - success: one bbolt transaction mutates the state, appends the audit
//     event(s) with outcome success (or the outcome the command records, for
//     login failures and audit-only records), stores the request ID's result
//     and the applied index. If the audit write fails, the transaction fails
//     and nothing of the change remains.
//   - refusal (malformed, invalid, forbidden, conflicting, ...): that
//     transaction is rolled back, and a second transaction on the same index
//     appends one audit event with outcome denied (forbidden or
//     unauthenticated) or failure (anything else), stores the result and the
//     applied index. A refused command thus leaves exactly one audit record
//     and no other trace; retrying the same request ID returns the same error.
//
// Only domain errors (*model.Error) are outcomes. They are deterministic: they
// depend only on the state and the entry, so every replica reaches the same
// one. Any other error (bbolt I/O, a state value that no longer decodes) means
// this replica cannot apply the log like the others; Apply panics rather than
// let the replica diverge, and the node refuses to run until fixed.
//
// # Batching
//
// NewBatching wraps the FSM as a raft.BatchingFSM: runs of entries that
// apply share one transaction (one fsync), with the same per-entry outcomes,
// audit events and contents as above; a refusal still gets a transaction of
// its own. It is opt-in, for write throughput (see BenchmarkApplyBatch).
//
// Apply never reads the clock, random numbers or anything but the state and
// the entry: Command.Time is "now". MACs, IPs and project subnets are
// allocated from counters in the state.
package fsm
