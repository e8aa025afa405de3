// Package reconcile is the per-node controller that makes the machine match the
// replicated desired state: networks, then storage, then domains.
package reconcile
