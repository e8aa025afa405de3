package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"

	"rsc.io/qr"
)

// TOTP parameters (RFC 6238 defaults, which every authenticator app
// supports): HMAC-SHA1, 6 digits, 30-second steps, a 160-bit secret.
const (
	TOTPPeriod    = 30 * time.Second
	TOTPDigits    = 6
	TOTPSecretLen = 20
	// TOTPWindow accepts the previous and next step too (clock skew).
	TOTPWindow = 1
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random secret, base32 without padding.
func NewTOTPSecret() (string, error) {
	b := make([]byte, TOTPSecretLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random secret: %w", err)
	}
	return b32.EncodeToString(b), nil
}

// TOTPStep is the time step t falls in.
func TOTPStep(t time.Time) uint64 { return uint64(t.Unix()) / uint64(TOTPPeriod/time.Second) }

// hotp is RFC 4226's HOTP value with the given number of digits.
func hotp(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for i := 0; i < digits; i++ {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

func decodeSecret(secret string) ([]byte, error) {
	key, err := b32.DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil || len(key) < 10 {
		return nil, fmt.Errorf("malformed TOTP secret")
	}
	return key, nil
}

// TOTPCode returns the code of secret at step.
func TOTPCode(secret string, step uint64) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return hotp(key, step, TOTPDigits), nil
}

// VerifyTOTP checks code against secret at now, accepting steps within
// ±TOTPWindow that are after lastStep (the last step this user already used:
// a code cannot be replayed). It returns the matched step, which the caller
// must record (model.CmdUseTOTPStep) before treating the login as done.
func VerifyTOTP(secret, code string, now time.Time, lastStep uint64) (uint64, bool) {
	key, err := decodeSecret(secret)
	if err != nil || len(code) != TOTPDigits {
		return 0, false
	}
	cur := TOTPStep(now)
	for d := -TOTPWindow; d <= TOTPWindow; d++ {
		step := uint64(int64(cur) + int64(d))
		if step <= lastStep {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hotp(key, step, TOTPDigits)), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// TOTPURI is the otpauth:// URI authenticator apps import.
func TOTPURI(issuer, account, secret string) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(TOTPDigits))
	q.Set("period", fmt.Sprint(int(TOTPPeriod/time.Second)))
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// QRPNG renders uri as a QR code PNG.
func QRPNG(uri string) ([]byte, error) {
	c, err := qr.Encode(uri, qr.M)
	if err != nil {
		return nil, fmt.Errorf("encoding QR code: %w", err)
	}
	c.Scale = 6
	return c.PNG(), nil
}
