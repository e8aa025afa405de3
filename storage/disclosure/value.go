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
	if v, ok := parsePlain(b); ok {
		return v
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return value{missing: true}
	}
	if v, ok := parsePlain(b); ok {
		return v
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

// parsePlain parses [-+]digits[.digits] of at most 15 characters, exactly.
func parsePlain(b []byte) (value, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 15 {
		return value{}, false
	}
	var mant uint64
	i := 0
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + uint64(c)
	}
	if i == 0 {
		return value{}, false
	}
	frac := 0
	if i < len(b) {
		if b[i] != '.' || i == len(b)-1 {
			return value{}, false
		}
		for j := i + 1; j < len(b); j++ {
			c := b[j] - '0'
			if c > 9 {
				return value{}, false
			}
			mant = mant*10 + uint64(c)
			frac++
		}
	}
	f := float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return value{f: f, integer: frac == 0 || f == math.Trunc(f)}, true
}
