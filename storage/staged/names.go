package staged

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadName means a file name was refused. sded never rewrites a name into
// something "safe": the uploader must rename the file.
var ErrBadName = errors.New("file name refused")

// MaxNameBytes is the longest file name accepted (ext4's limit).
const MaxNameBytes = 255

// CheckName accepts a plain file name (no directories) that is safe to show to
// a reviewer and to create on any file system. It refuses: empty, "." and
// "..", anything with / or \ (path traversal, absolute paths), names over
// MaxNameBytes, invalid UTF-8, NUL and other control characters, format
// characters (bidi overrides and isolates, zero-width characters, BOM, soft
// hyphen), line/paragraph separators and non-ASCII spaces, private-use and
// unassigned code points, names that are not in Unicode normalisation form C
// (see nfcSuspect), a leading '-' or '.', a trailing '.' or space, and the
// characters < > : " | ? * that Windows or shells treat specially.
func CheckName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrBadName, name, why) }
	switch {
	case name == "":
		return bad("empty")
	case name == "." || name == "..":
		return bad("is a directory reference")
	case len(name) > MaxNameBytes:
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameBytes))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.ContainsAny(name, `/\`):
		return bad("contains a path separator (directories and absolute paths are not allowed)")
	case strings.HasPrefix(name, "-"):
		return bad("starts with '-'")
	case strings.HasPrefix(name, "."):
		return bad("starts with '.' (hidden file)")
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return bad("ends with '.' or a space")
	}
	if i := strings.IndexAny(name, `<>:"|?*`); i >= 0 {
		return bad(fmt.Sprintf("contains %q", name[i]))
	}
	for _, r := range name {
		switch {
		case r == 0:
			return bad("contains NUL")
		case unicode.Is(unicode.Cc, r):
			return bad(fmt.Sprintf("contains control character U+%04X", r))
		case isBidi(r):
			return bad(fmt.Sprintf("contains bidirectional control U+%04X", r))
		case unicode.Is(unicode.Cf, r):
			return bad(fmt.Sprintf("contains invisible format character U+%04X (zero-width, BOM, ...)", r))
		case unicode.In(r, unicode.Zl, unicode.Zp) || (unicode.Is(unicode.Zs, r) && r != ' '):
			return bad(fmt.Sprintf("contains unusual space or separator U+%04X", r))
		case unicode.Is(unicode.Co, r):
			return bad(fmt.Sprintf("contains private-use character U+%04X", r))
		case r == utf8.RuneError:
			return bad("contains U+FFFD")
		case !assigned(r):
			return bad(fmt.Sprintf("contains unassigned code point U+%04X", r))
		case nfcSuspect(r):
			return bad(fmt.Sprintf("not in Unicode normalisation form C (U+%04X); save the name composed (NFC)", r))
		}
	}
	return nil
}

func isBidi(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

func assigned(r rune) bool {
	if cn, ok := unicode.Categories["Cn"]; ok {
		return !unicode.Is(cn, r)
	}
	for _, t := range unicode.GraphicRanges {
		if unicode.Is(t, r) {
			return true
		}
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// nfcSuspect reports code points that never occur in NFC text or that
// usually mean a decomposed (NFD) name, as macOS writes them: combining
// diacritical marks (U+0300..U+036F and the extended/supplement blocks),
// conjoining Hangul jamo, and the canonical singletons NFC always replaces
// (Kelvin, Ångström and Ohm signs, Greek tonos variants, CJK compatibility
// ideographs). This is a conservative approximation of the NFC quick check
// without x/text's tables: it may refuse a rare valid NFC name with a
// combining mark that has no precomposed form, never the reverse for
// Latin, Greek, Cyrillic and Hangul names.
func nfcSuspect(r rune) bool {
	switch {
	case r >= 0x0300 && r <= 0x036F, r >= 0x1AB0 && r <= 0x1AFF, r >= 0x1DC0 && r <= 0x1DFF,
		r >= 0x20D0 && r <= 0x20FF, r >= 0xFE20 && r <= 0xFE2F:
		return true
	case r >= 0x1100 && r <= 0x11FF:
		return true
	case r >= 0xF900 && r <= 0xFAFF, r >= 0x2F800 && r <= 0x2FA1F:
		return true
	}
	switch r {
	case 0x0340, 0x0341, 0x0343, 0x0344, 0x0374, 0x037E, 0x0387, 0x212A, 0x212B, 0x2126, 0x2329, 0x232A,
		0x1F71, 0x1F73, 0x1F75, 0x1F77, 0x1F79, 0x1F7B, 0x1F7D, 0x1FBB, 0x1FBE, 0x1FC9, 0x1FCB, 0x1FD3,
		0x1FDB, 0x1FE3, 0x1FEB, 0x1FEE, 0x1FEF, 0x1FF9, 0x1FFB, 0x1FFD:
		return true
	}
	return false
}

// DefaultBlockedExtensions are refused in both directions: executables,
// scripts and installers that have no place in a research data flow.
var DefaultBlockedExtensions = []string{
	"exe", "dll", "so", "dylib", "com", "scr", "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "wsf", "hta",
	"msi", "msp", "jar", "apk", "app", "deb", "rpm", "lnk", "reg", "cpl", "iso", "img", "vhd", "vmdk", "qcow2",
}

// blockedExt returns the blocked extension of name, if any. Every dot-separated
// suffix is checked, so "data.exe.csv" and "data.csv.exe" are both refused.
func blockedExt(name string, blocked map[string]bool) (string, bool) {
	parts := strings.Split(strings.ToLower(name), ".")
	for _, p := range parts[1:] {
		if blocked[p] {
			return p, true
		}
	}
	return "", false
}
