// Package model is the domain of sded: projects, members, roles, users,
// workstations, images, nodes, airlock requests and audit events, their
// validation, the authorisation policy Can, the replicated command envelope and
// typed errors with codes. It imports only the standard library.
package model
