// Package cluster runs the replicated state machine: a hashicorp/raft node over
// mutual TLS, bootstrap and join, proposing commands on the leader (forwarding
// from followers), and Service, the typed API the UI and CLI call.
package cluster
