// Package fsm is the raft.FSM over the bbolt state: one transaction per log
// entry that skips applied indexes, re-checks invariants and policy, mutates,
// appends the audit event and stores the applied index.
package fsm
