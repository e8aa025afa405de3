// Package storage holds volumes (base images, encrypted overlays, project data
// volumes), key wrapping, and the airlock's staged file stores and disclosure
// checks.
package storage
