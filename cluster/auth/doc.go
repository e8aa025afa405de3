// Package auth holds sded's credential primitives: argon2id password hashes,
// RFC 6238 TOTP codes with an otpauth:// URI and QR code, single-use
// recovery codes, and random bearer tokens stored only as SHA-256 hashes.
// It keeps no state: replay protection and lockout live in the replicated
// state (cluster/fsm).
package auth
