// Package cluster runs the replicated state machine: a hashicorp/raft node over
// mutual TLS, bootstrap and join, proposing commands on the leader (forwarding
// from followers), and Service, the typed API the UI and CLI call.
//
// # Files
//
// A node's data directory holds:
//
//	node-id                 the node ID (created on first start if not configured)
//	tls/ca.crt              the cluster CA certificate (ECDSA P-256)
//	tls/ca.key              the CA key: only on the node that ran `sded init`
//	tls/node.crt, node.key  this node's certificate, signed by the CA
//	raft/raft.db            raft log and stable store (raft-boltdb/v2, bbolt)
//	raft/snapshots/         FileSnapshotStore, three retained
//	join-tokens.json        hashes of join tokens (CA node only)
//
// All files are 0600 and directories 0700. A fresh data directory with no
// raft state bootstraps a one-node cluster, creating the CA if there is none.
//
// # One port, three protocols
//
// Raft, the cluster RPC and the join protocol share one TCP port (BindAddr).
// Every connection is TLS 1.3; after the handshake the client sends one byte:
// 'R' for raft, 'C' for the cluster RPC (forwarded proposals, read index,
// add/remove voter, status), 'J' for a join. 'R' and 'C' need a client
// certificate from the cluster CA; a certificate from another CA fails the
// handshake. Only 'J' is served without a client certificate, and it only
// signs a certificate request that carries a valid, unexpired, unused join
// token. Every refusal is logged and audited (access.denied, join.denied).
//
// Members trust each other fully (each holds the whole replicated state);
// the certificate is what makes a machine a member.
//
// # Joining
//
// On any member, CreateJoinToken returns "sdj1.<secret>.<CA fingerprint>".
// The new node connects to any member pinning that fingerprint (so it cannot
// be talked into joining another cluster), sends a certificate request with
// the token, receives its certificate, starts raft and asks to be added as a
// voter. Tokens are single use and expire (at most seven days). The CA key
// never leaves the node `sded init` ran on: tokens are stored (hashed) and
// certificates signed there, other members relay to it over the cluster RPC,
// so that node must be up to add nodes. Removing a node does not revoke its
// certificate, but a non-member may ask to be added only within an hour of
// its certificate's issue; after that it must join again with a new token.
//
// # Writes and reads
//
// Propose encodes a command and applies it on the leader, forwarding it from
// a follower. The FSM's *model.Error comes back in fsm.Result.Err whichever
// node applied it; transport failures are *model.Error code "unavailable".
// Propose retries across leader changes with the same request ID, which the
// FSM deduplicates. Reads come from the local Store; Barrier makes the next
// read linearizable (raft read index: leader confirms with a heartbeat round,
// this node waits until its FSM has applied the leader's commit index).
//
// # Durability and write throughput
//
// An entry is durable once a majority has fsynced it into its raft log
// (raft/raft.db); that is the only fsync on the write path. The FSM applies
// each batch raft commits in one bbolt transaction of the state file
// (fsm.Batching; Open wraps a plain *fsm.FSM in it), and the state file is
// not fsynced per commit: after a process crash the kernel still writes its
// pages, and after the machine went down (detected by a marker holding the
// boot ID, see cluster/state) the file is moved aside to state.db.unclean and
// rebuilt from the newest raft snapshot and the log after it, which always
// hold everything it did. Tested by TestPowerLossRebuildsState in test/cluster.
//
// # Timing
//
// DefaultTiming suits a LAN: heartbeat and election timeouts 400 ms, leader
// lease 200 ms. A dead leader is replaced in about one second (measured p99
// 1.5 s over 20 SIGKILLs, BenchmarkFailover in test/cluster).
//
// # Backup and restore (for administrators)
//
// Backup writes a consistent snapshot of the state (after a Barrier, so even
// on a follower it holds every write committed before it started) framed as
// "SDEDBAK\x01", a JSON header (node, index, term, size, time), the snapshot
// and a SHA-256 of header and snapshot. Restore checks length and checksum
// before it touches anything, then makes a new one-node cluster from the
// snapshot in an empty data directory (with a new CA unless one is present);
// the other nodes then join it with fresh data directories. A corrupt or
// truncated backup is refused with ErrBadBackup and changes nothing.
//
// A node whose raft log fails bbolt's consistency check or whose newest
// snapshot fails its checksum refuses to start (ErrCorrupt) and names the
// file: wipe its data directory and join it again, or restore from a backup.
package cluster
