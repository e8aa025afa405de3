package disclosure

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
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

// parseValueAt is parseValue(data[start:end]), reading the eight bytes
// that end at end as one word when it can.
func parseValueAt(data []byte, start, end int) value {
	if n := end - start; n >= 1 && n <= 8 && end >= 8 {
		if v, ok := parse8(binary.LittleEndian.Uint64(data[end-8:]), n); ok {
			return v
		}
	}
	return parseValue(data[start:end])
}

// parseValueBefore is parseValue(data[start:end]), reading the eight bytes
// from start as one word when it can.
func parseValueBefore(data []byte, start, end int) value {
	if n := end - start; n >= 1 && n <= 8 && start+8 <= len(data) {
		if v, ok := parse8(binary.LittleEndian.Uint64(data[start:])<<(8*(8-n)&63), n); ok {
			return v
		}
	}
	return parseValue(data[start:end])
}

// parse8 is parsePlain of the n (1..8) bytes at the top of w (w's last n
// bytes in memory order), without a loop: the value is padded with '0' to
// eight bytes, its point taken out, and its digits combined in three
// multiplications. It reports false where parsePlain might not agree.
func parse8(w uint64, n int) (value, bool) {
	first := byte(w >> (8 * (8 - n) & 63))
	neg := first == '-'
	if neg || first == '+' {
		if n--; n == 0 {
			return value{}, false
		}
	}
	pad := uint64(1)<<(8*(8-n)&63) - 1 // the bytes below the value
	w = w&^pad | zeros8&pad
	frac, integer := 0, true
	if dots := zeroBytes(w ^ dots8); dots != 0 {
		d := bits.TrailingZeros64(dots) >> 3
		if d == 8-n || d == 7 { // "." first or last: not plain
			return value{}, false
		}
		below := uint64(1)<<(8*d&63) - 1
		w = w&^(below|0xff<<(8*d&63)) | (w&below)<<8 | '0'
		frac = 7 - d
		// A whole number when the digits after the point are zeros
		// (what f == math.Trunc(f) finds: below 1e8 and with at most seven
		// decimals, a fraction never rounds to a whole number).
		integer = (w^zeros8)&(^uint64(0)<<(8*(d+1)&63)) == 0
	}
	if w&0xf0f0f0f0f0f0f0f0|(w+0x0606060606060606)&0xf0f0f0f0f0f0f0f0>>4 != 0x3333333333333333 {
		return value{}, false // not all digits (or a second point)
	}
	w = (w & 0x0f0f0f0f0f0f0f0f) * 2561 >> 8
	w = (w & 0x00ff00ff00ff00ff) * 6553601 >> 16
	mant := (w & 0x0000ffff0000ffff) * 42949672960001 >> 32
	f := float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return value{f: f, integer: integer}, true
}

const (
	zeros8 = '0' * 0x0101010101010101
	dots8  = '.' * 0x0101010101010101
)
