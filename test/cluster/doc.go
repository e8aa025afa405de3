// Package clustertest holds the multi-process fault tests and benchmarks of the
// replicated state: three real node processes (./node) on loopback addresses
// or in network namespaces the tests create, killed, partitioned and
// restarted while clients write and read.
package clustertest
