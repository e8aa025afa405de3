// Package ui serves the management web interface and JSON API: templ pages,
// sessions and TOTP login, CSRF protection and the desktop websocket proxy.
package ui
