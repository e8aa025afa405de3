package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// DefaultArgon2 is argon2id with 64 MiB of memory (RFC 9106's second
// recommended option's memory), 2 passes and 2 lanes, a 16-byte salt and a
// 32-byte hash; above OWASP's minimum (19 MiB, t=2). It costs ~0.3 s per hash
// on a busy 2-core test VM (BenchmarkHashPassword), less on a server, which
// bounds online guessing together with the lockout and makes offline
// guessing of a stolen state file expensive. Stored hashes carry their parameters, so raising these
// later only affects new hashes (Verify reports when a rehash is due).
var DefaultArgon2 = Argon2Params{MemoryKiB: 64 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}

// Password length bounds, in bytes (after UTF-8 encoding).
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// ErrMismatch is returned by VerifyPassword for a wrong password.
var ErrMismatch = errors.New("password does not match")

// CheckPassword enforces the password rules: 12-1024 bytes of valid UTF-8.
func CheckPassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("password must be at most %d bytes", MaxPasswordLen)
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8")
	}
	return nil
}

// HashPassword returns the argon2id PHC string of pw:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash> (unpadded base64).
func HashPassword(pw string, p Argon2Params) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// parsePHC reads an argon2id PHC string, refusing implausible parameters
// (a hostile hash must not make Verify allocate gigabytes).
func parsePHC(phc string) (Argon2Params, []byte, []byte, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Argon2Params{}, nil, nil, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Argon2Params{}, nil, nil, errors.New("unsupported argon2 version")
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("malformed argon2 parameters")
	}
	if p.MemoryKiB < 8*1024 || p.MemoryKiB > 1024*1024 || p.Time < 1 || p.Time > 20 || p.Threads < 1 || p.Threads > 16 {
		return p, nil, nil, errors.New("argon2 parameters out of range")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errors.New("malformed salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("malformed hash")
	}
	p.SaltLen, p.KeyLen = len(salt), uint32(len(key))
	return p, salt, key, nil
}

// VerifyPassword checks pw against a PHC hash in constant time. It returns
// ErrMismatch for a wrong password, another error for a malformed hash, and
// rehash=true when the hash's parameters are weaker than want.
func VerifyPassword(pw, phc string, want Argon2Params) (rehash bool, err error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, ErrMismatch
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	return p.MemoryKiB < want.MemoryKiB || p.Time < want.Time || p.KeyLen < want.KeyLen, nil
}
