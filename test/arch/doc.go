// Package arch holds repository tests: the import rules of ARCHITECTURE.md,
// a doc comment on every package and the fixed top-level layout.
package arch
