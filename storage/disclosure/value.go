package disclosure

import (
	"bytes"
	"math"
	"strconv"
)

// value is a parsed cell value.
type value struct {
	f          float64
	missing    bool
	nonNumeric bool
	integer    bool
}

var missingMarkers = [][]byte{[]byte("NA"), []byte("N/A"), []byte("NaN"), []byte("nan"), []byte("null"), []byte("NULL"), []byte("."), []byte("na")}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseValue parses a number quickly: plain decimals ("-12", "3.25") without
// allocating, anything else through strconv. Surrounding spaces are allowed.
func parseValue(b []byte) value {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return value{missing: true}
	}
	neg := false
	s := b
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	var mant uint64
	digits, frac := 0, -1
	ok := len(s) > 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0 && i > 0:
			frac = 0
		default:
			ok = false
		}
		if !ok {
			break
		}
	}
	if ok && digits > 0 && digits <= 15 && frac != 0 {
		f := float64(mant)
		if frac > 0 {
			f /= pow10[frac]
		}
		if neg {
			f = -f
		}
		return value{f: f, integer: frac < 0 || f == math.Trunc(f)}
	}
	for _, m := range missingMarkers {
		if bytes.Equal(b, m) {
			return value{missing: true}
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		return value{nonNumeric: true}
	}
	if math.IsNaN(f) {
		return value{missing: true}
	}
	return value{f: f, integer: f == math.Trunc(f)}
}
