// Package state is the bbolt schema of the replicated store, its migrations and
// typed read helpers that copy values out of transactions.
package state
