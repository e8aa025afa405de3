package auth

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// fast keeps tests quick; DefaultArgon2 is exercised once and benchmarked.
var fast = Argon2Params{MemoryKiB: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Errorf("PHC string %q", h)
	}
	h2, _ := HashPassword("correct horse battery", fast)
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if rehash, err := VerifyPassword("correct horse battery", h, fast); err != nil || rehash {
		t.Errorf("Verify = %v, %v", rehash, err)
	}
	if rehash, err := VerifyPassword("correct horse battery", h, DefaultArgon2); err != nil || !rehash {
		t.Errorf("weaker hash not flagged for rehash: %v %v", rehash, err)
	}
	for _, pw := range []string{"correct horse batterY", "", strings.Repeat("x", MaxPasswordLen+1)} {
		if _, err := VerifyPassword(pw, h, fast); !errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%.10q) = %v, want mismatch", pw, err)
		}
	}
}

func TestPasswordDefaultParams(t *testing.T) {
	h, err := HashPassword("a long enough password", DefaultArgon2)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("%q %v", h, err)
	}
	if _, err := VerifyPassword("a long enough password", h, DefaultArgon2); err != nil {
		t.Error(err)
	}
}

func TestPasswordBadInput(t *testing.T) {
	for _, pw := range []string{"short", strings.Repeat("x", MaxPasswordLen+1), "valid length\xff\xfe"} {
		if _, err := HashPassword(pw, fast); err == nil {
			t.Errorf("HashPassword(%.12q) accepted", pw)
		}
	}
	good, _ := HashPassword("correct horse battery", fast)
	parts := strings.Split(good, "$")
	for name, phc := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuu",
		"argon2i":      strings.Replace(good, "argon2id", "argon2i", 1),
		"version":      strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":  "$argon2id$v=19$m=4194304,t=1,p=1$" + parts[4] + "$" + parts[5],
		"huge time":    "$argon2id$v=19$m=8192,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"bad salt":     "$argon2id$v=19$m=8192,t=1,p=1$!!$" + parts[5],
		"short hash":   "$argon2id$v=19$m=8192,t=1,p=1$" + parts[4] + "$AAAA",
		"extra fields": good + "$x",
	} {
		if _, err := VerifyPassword("correct horse battery", phc, fast); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("%s: Verify = %v, want a malformed-hash error", name, err)
		}
	}
}

// TestTOTPRFC6238 checks the RFC 6238 appendix B SHA-1 vectors.
func TestTOTPRFC6238(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}} {
		if got := hotp(key, TOTPStep(time.Unix(v.unix, 0)), 8); got != v.code {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.code)
		}
	}
	secret := b32.EncodeToString(key)
	if c, _ := TOTPCode(secret, TOTPStep(time.Unix(59, 0))); c != "287082" {
		t.Errorf("6-digit code %s", c)
	}
}

func TestTOTPVerifyWindowAndReplay(t *testing.T) {
	secret, err := NewTOTPSecret()
	if err != nil || len(secret) != 32 {
		t.Fatalf("secret %q %v", secret, err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 15, 0, time.UTC)
	step := TOTPStep(now)
	code := func(s uint64) string { c, _ := TOTPCode(secret, s); return c }
	tests := []struct {
		name     string
		code     string
		lastStep uint64
		ok       bool
		step     uint64
	}{
		{"current", code(step), 0, true, step},
		{"previous step", code(step - 1), 0, true, step - 1},
		{"next step", code(step + 1), 0, true, step + 1},
		{"two steps old", code(step - 2), 0, false, 0},
		{"two steps ahead", code(step + 2), 0, false, 0},
		{"replayed", code(step), step, false, 0},
		{"older than last used", code(step - 1), step, false, 0},
		{"newer than last used", code(step + 1), step, true, step + 1},
		{"wrong length", code(step)[:5], 0, false, 0},
		{"letters", "abcdef", 0, false, 0},
		{"empty", "", 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := VerifyTOTP(secret, tt.code, now, tt.lastStep)
			if ok != tt.ok || s != tt.step {
				t.Errorf("VerifyTOTP = %d, %v; want %d, %v", s, ok, tt.step, tt.ok)
			}
		})
	}
	if _, ok := VerifyTOTP("not base32!", "123456", now, 0); ok {
		t.Error("malformed secret verified")
	}
}

func TestTOTPURIAndQR(t *testing.T) {
	uri := TOTPURI("sded Hospital", "ann@example.org", "JBSWY3DPEHPK3PXP")
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("%q: %v", uri, err)
	}
	if u.Path != "/sded Hospital:ann@example.org" || u.Query().Get("secret") != "JBSWY3DPEHPK3PXP" || u.Query().Get("issuer") != "sded Hospital" || u.Query().Get("digits") != "6" {
		t.Errorf("URI %q", uri)
	}
	png, err := QRPNG(uri)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("QR PNG: %v (%d bytes)", err, len(png))
	}
}

func TestTokensAndRecoveryCodes(t *testing.T) {
	raw, hash, err := NewToken(APITokenPrefix)
	if err != nil || !strings.HasPrefix(raw, APITokenPrefix) || len(raw) != len(APITokenPrefix)+43 || HashToken(raw) != hash || len(hash) != 64 {
		t.Fatalf("NewToken = %q %q %v", raw, hash, err)
	}
	raw2, _, _ := NewToken(APITokenPrefix)
	if raw == raw2 {
		t.Error("two tokens are equal")
	}
	codes, hashes, err := NewRecoveryCodes(RecoveryCodeCount)
	if err != nil || len(codes) != 10 || len(hashes) != 10 {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 14 || c[4] != '-' || c[9] != '-' || seen[c] {
			t.Errorf("code %q", c)
		}
		seen[c] = true
		typed := strings.ToUpper(strings.ReplaceAll(c, "-", " "))
		if HashRecoveryCode(typed) != hashes[i] {
			t.Errorf("typed %q does not match its hash", typed)
		}
	}
	if HashRecoveryCode(codes[0]) == HashToken(codes[0]) {
		t.Error("recovery code hash is not domain-separated")
	}
}

// BenchmarkHashPassword prints sded's HashPassword beside a raw
// argon2.IDKey with the same parameters, as a ratio (the overhead of salt,
// encoding and checks), and the absolute cost that bounds login rate.
func BenchmarkHashPassword(b *testing.B) {
	const n = 5
	salt := make([]byte, 16)
	argon2.IDKey([]byte("warm up"), salt, DefaultArgon2.Time, DefaultArgon2.MemoryKiB, DefaultArgon2.Threads, DefaultArgon2.KeyLen)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := HashPassword("a long enough password", DefaultArgon2); err != nil {
			b.Fatal(err)
		}
	}
	sded := time.Since(start) / n
	start = time.Now()
	for i := 0; i < n; i++ {
		argon2.IDKey([]byte("a long enough password"), salt, DefaultArgon2.Time, DefaultArgon2.MemoryKiB, DefaultArgon2.Threads, DefaultArgon2.KeyLen)
	}
	raw := time.Since(start) / n
	b.ReportMetric(float64(sded.Milliseconds()), "sded-ms/hash")
	b.ReportMetric(float64(raw.Milliseconds()), "raw-ms/hash")
	b.ReportMetric(float64(sded)/float64(raw), "sded/raw")
	b.Logf("argon2id m=64MiB t=2 p=2: sded %v, raw argon2.IDKey %v, ratio %.2f", sded, raw, float64(sded)/float64(raw))
}
