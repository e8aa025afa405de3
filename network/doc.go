// Package network applies a declarative network configuration to the host:
// sded-owned bridges, addresses and iptables chains, diffing desired against
// applied state. It knows nothing of projects beyond the Config it is given.
package network
