// Package view holds the UI's templ components. Views take view models only
// (the plain structs of this package), never domain types, so the pages can
// be rendered and tested without a cluster.
package view
