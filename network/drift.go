package network

import "fmt"

// DriftKind classifies a difference between Config and the host.
type DriftKind string

// The kinds of drift Check reports. Set repairs every one of them.
const (
	DriftBridgeMissing DriftKind = "bridge-missing" // a configured bridge does not exist
	DriftBridgeDown    DriftKind = "bridge-down"    // it exists but is not up
	DriftBridgeStale   DriftKind = "bridge-stale"   // an sded bridge no longer configured
	DriftAddress       DriftKind = "address"        // gateway address missing or extra address present
	DriftSysctl        DriftKind = "sysctl"         // IPv6 enabled or ARP hardening undone on a project bridge
	DriftPort          DriftKind = "port"           // a port that is not a configured workstation is attached
	DriftChainMissing  DriftKind = "chain-missing"  // an sded chain is absent
	DriftChainChanged  DriftKind = "chain-changed"  // an sded chain's rules differ
	DriftChainStale    DriftKind = "chain-stale"    // an sded chain no longer configured
	DriftHook          DriftKind = "hook"           // the jump from INPUT/FORWARD is missing, moved or repeated
)

// Drift is one difference Check found. Object names the bridge, port or
// chain; Family is "ipv4", "ipv6" or "eb" for rule drift.
type Drift struct {
	Kind   DriftKind
	Family string
	Object string
	Detail string
}

func (d Drift) String() string {
	if d.Family != "" {
		return fmt.Sprintf("%s %s %s: %s", d.Kind, d.Family, d.Object, d.Detail)
	}
	return fmt.Sprintf("%s %s: %s", d.Kind, d.Object, d.Detail)
}
