// Package network is the end-to-end test of project network isolation: a
// network namespace plays the host, sded's network Manager and DHCP servers
// run inside it, workstations are namespaces attached to the project bridges
// by veth pairs, and a further namespace plays the internet. The test probes
// what each workstation can and cannot reach and prints the probe matrix.
package network
