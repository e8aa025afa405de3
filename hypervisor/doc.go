// Package hypervisor drives libvirt: domain XML from a Spec, define, start,
// stop, delete and list sded-owned domains, console streams and secrets. It knows
// nothing of projects.
package hypervisor
