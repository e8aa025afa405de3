package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Token prefixes make leaked tokens recognisable (and greppable by secret
// scanners).
const (
	SessionPrefix  = "sdeds_"
	APITokenPrefix = "sdedt_"
)

// NewToken returns a random 256-bit bearer token with prefix and the hex
// SHA-256 under which it is stored. The raw token is shown once and never
// stored.
func NewToken(prefix string) (raw, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("reading random token: %w", err)
	}
	raw = prefix + base64.RawURLEncoding.EncodeToString(b)
	return raw, HashToken(raw), nil
}

// HashToken is the hex SHA-256 of a token (or session ID). Tokens are
// random, so no salt or slow hash is needed.
func HashToken(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(h[:])
}

// RecoveryCodeCount is how many recovery codes a user gets.
const RecoveryCodeCount = 10

var recoveryAlphabet = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// NewRecoveryCodes returns n single-use codes like "k7wq-mz3p-9xrt" and their
// hashes (HashRecoveryCode) to store.
func NewRecoveryCodes(n int) (codes, hashes []string, err error) {
	for i := 0; i < n; i++ {
		b := make([]byte, 8) // 12 base32 characters: 60 random bits
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("reading random code: %w", err)
		}
		s := recoveryAlphabet.EncodeToString(b)[:12]
		code := s[:4] + "-" + s[4:8] + "-" + s[8:12]
		codes = append(codes, code)
		hashes = append(hashes, HashRecoveryCode(code))
	}
	return codes, hashes, nil
}

// HashRecoveryCode normalises a typed code (case, spaces, dashes) and
// returns its hex SHA-256.
func HashRecoveryCode(code string) string {
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	return HashToken("recovery:" + c)
}
