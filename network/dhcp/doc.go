// Package dhcp is a small DHCPv4 server that hands workstations their fixed
// addresses. One Server runs per project bridge, bound to that interface
// (SO_BINDTODEVICE) on UDP port 67; it answers only clients whose MAC has a
// lease in its Config and ignores everyone else. Replies carry the address,
// subnet mask, lease time and server identifier, and deliberately no router
// and no DNS server: nothing is routed out of a project network.
//
// Pool runs one Server per interface declaratively (Set with the full list),
// restarting a server whose interface was recreated.
package dhcp
