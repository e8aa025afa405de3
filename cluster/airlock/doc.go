// Package airlock is the engine of the airlock, the only way data enters or
// leaves a project ("safe data, safe outputs").
//
// Import: an admin or data manager opens an import request, uploads files
// (streamed into the project's encrypted staged store, size-limited, the
// SHA-256 of each recorded in replicated state), optionally pseudonymising
// named CSV columns with the project's key on the way in. Someone other than
// the uploader approves; the engine then rebuilds the project's read-only data
// volume from every released import and releases the request.
//
// Export: from a workstation (through package ui/gateway) a researcher opens
// an export request, uploads files and submits with the context of the work
// and the disclosure controls applied. Submitting runs the automatic
// disclosure checks (CSV tables by the project tier's rules; anything else
// needs a human) and stores the machine-readable record on the request.
// Independent output checkers vote per file; when every file has the
// required approvals the engine releases the request and the requester may
// fetch each file through a signed link that expires. Every file view and
// download is audited.
//
// The engine imports only the domain model: it declares the small
// interfaces it needs (ports.go) — the cluster Service, a staged file store,
// the project keys, a disclosure checker, a pseudonymiser and a data-volume
// builder — and cmd/sded adapts the concrete types. The replicated state
// remains the authority on who may do what and which transitions are legal;
// the engine adds the storage steps around the state changes and never
// stores a file the state did not accept.
package airlock
