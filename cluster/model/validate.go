package model

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on field sizes, enforced by Validate.
const (
	MaxIDLen          = 64
	MaxNameLen        = 128
	MaxTextLen        = 4096
	MaxSettingValue   = 64 << 10
	MaxDetailsEntries = 32
	MaxDetailLen      = 1024
)

var (
	idRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	slugRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	userRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,31}$`)
	keyRE  = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	hexRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidID reports whether s is an acceptable object ID: 1–64 characters of
// lower-case letters, digits, '-' and '_', starting with a letter or digit.
func ValidID(s string) bool { return idRE.MatchString(s) }

// ValidSHA256 reports whether s is a lower-case hex SHA-256 digest.
func ValidSHA256(s string) bool { return hexRE.MatchString(s) }

func checkID(field, s string) error {
	if !ValidID(s) {
		return FieldError(field, "must be 1-64 characters of a-z, 0-9, '-' or '_'")
	}
	return nil
}

func checkOptionalID(field, s string) error {
	if s == "" {
		return nil
	}
	return checkID(field, s)
}

// checkText accepts printable UTF-8 of at most max bytes, without control
// characters other than newline and tab when multiline is true.
func checkText(field, s string, max int, required, multiline bool) error {
	if required && strings.TrimSpace(s) == "" {
		return FieldError(field, "is required")
	}
	if len(s) > max {
		return FieldError(field, "is longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return FieldError(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) || r == '\u202e' || r == '\u202d' || r == '\u2066' || r == '\u2067' || r == '\u2068' || r == '\u2069' {
			return FieldError(field, "contains a control character")
		}
	}
	return nil
}

func checkName(field, s string) error { return checkText(field, s, MaxNameLen, true, false) }

func checkEmail(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 254 {
		return FieldError(field, "is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return FieldError(field, "is not a valid e-mail address")
	}
	return nil
}

func checkTime(field string, t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return FieldError(field, "is required")
		}
		return nil
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return FieldError(field, "is out of range")
	}
	return nil
}

// CheckDetails validates audit details: few, short, printable entries.
func CheckDetails(d map[string]string) error {
	if len(d) > MaxDetailsEntries {
		return FieldError("details", "has more than %d entries", MaxDetailsEntries)
	}
	for k, v := range d {
		if !keyRE.MatchString(k) {
			return FieldError("details", "key %q is not a valid key", k)
		}
		if err := checkText("details."+k, v, MaxDetailLen, false, false); err != nil {
			return err
		}
	}
	return nil
}
