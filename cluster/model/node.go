package model

import "time"

// Node is a member of the cluster as the state records it.
type Node struct {
	ID        string    `json:"id"`
	Address   string    `json:"address"`
	Voter     bool      `json:"voter"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the node.
func (n Node) Validate() error {
	if err := checkID("id", n.ID); err != nil {
		return err
	}
	return checkText("address", n.Address, 256, true, false)
}

// PutNode records a node (system actor or admin).
type PutNode struct {
	Node Node `json:"node"`
}

// Validate checks the node.
func (p PutNode) Validate() error { return p.Node.Validate() }

// RemoveNode forgets a node.
type RemoveNode struct {
	ID string `json:"id"`
}

// Validate checks the ID.
func (p RemoveNode) Validate() error { return checkID("id", p.ID) }
