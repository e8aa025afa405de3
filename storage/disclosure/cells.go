package disclosure

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// cellTable maps cell keys to cells: an open-addressed hash table looked up
// with the key's bytes (no string conversion, no allocation), at most half
// full. A key of 8 to 32 bytes is read as four overlapping words that cover
// it, which both hash it and compare it. The hash is seeded per table
// (wyhash-style mixing, as Go's own maps use without AES), so crafted keys
// cannot force collisions.
type cellTable struct {
	slots []cellSlot
	n     int
	seed  uint64
}

type cellSlot struct {
	h uint64
	c *mcell
}

func newCellTable() *cellTable {
	return &cellTable{slots: make([]cellSlot, 64), seed: rand.Uint64()}
}

const (
	hk1 = 0xa0761d6478bd642f
	hk2 = 0xe7037ed1a0b428db
	hk3 = 0x8ebc6af09c88c6e3
)

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// keyWords reads a key of 8 to 32 bytes as four words covering all of it;
// two keys of the same length are equal when their words are. (Words, not
// an array: Go keeps arrays in memory, and the copies stall the loads.)
func keyWords(k []byte) (w0, w1, w2, w3 uint64) {
	n := len(k)
	return binary.LittleEndian.Uint64(k),
		binary.LittleEndian.Uint64(k[min(8, n-8):]),
		binary.LittleEndian.Uint64(k[max(n-16, 0):]),
		binary.LittleEndian.Uint64(k[n-8:])
}

func hashWords(w0, w1, w2, w3 uint64, n int, seed uint64) uint64 {
	return mix(mix(w0^hk1, w3^seed)^uint64(n), mix(w1^hk2, w2^seed^hk3))
}

// hashKey hashes a key of any length with seed.
func hashKey(b []byte, seed uint64) uint64 {
	n := len(b)
	if n >= 8 && n <= 32 {
		w0, w1, w2, w3 := keyWords(b)
		return hashWords(w0, w1, w2, w3, n, seed)
	}
	var a, c uint64
	switch {
	case n > 32:
		for p := b; len(p) > 16; p = p[16:] {
			seed = mix(binary.LittleEndian.Uint64(p)^hk1, binary.LittleEndian.Uint64(p[8:])^seed)
		}
		a, c = binary.LittleEndian.Uint64(b[n-16:]), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		a = uint64(binary.LittleEndian.Uint32(b))<<32 | uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n > 0:
		a = uint64(b[0])<<16 | uint64(b[n>>1])<<8 | uint64(b[n-1])
	}
	return mix(hk3^uint64(n), mix(a^hk1, c^seed^hk2))
}

// find returns the cell with key k, or nil.
func (t *cellTable) find(k []byte) *mcell {
	mask := uint64(len(t.slots) - 1)
	if n := len(k); n >= 8 && n <= 32 {
		w0, w1, w2, w3 := keyWords(k)
		h := hashWords(w0, w1, w2, w3, n, t.seed)
		for i := h & mask; ; i = (i + 1) & mask {
			s := &t.slots[i]
			if s.c == nil {
				return nil
			}
			if c := s.c; s.h == h && c.w0 == w0 && c.w1 == w1 && c.w2 == w2 && c.w3 == w3 && len(c.key) == n {
				return s.c
			}
		}
	}
	h := hashKey(k, t.seed)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.c == nil {
			return nil
		}
		if s.h == h && s.c.key == string(k) {
			return s.c
		}
	}
}

// insert adds c, whose key must not be in the table.
func (t *cellTable) insert(c *mcell) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]cellSlot, 2*len(old))
		for _, s := range old {
			if s.c != nil {
				t.place(s)
			}
		}
	}
	k := []byte(c.key)
	if n := len(k); n >= 8 && n <= 32 {
		c.w0, c.w1, c.w2, c.w3 = keyWords(k)
	}
	t.place(cellSlot{h: hashKey(k, t.seed), c: c})
	t.n++
}

func (t *cellTable) place(s cellSlot) {
	mask := uint64(len(t.slots) - 1)
	i := s.h & mask
	for t.slots[i].c != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// len is the number of cells.
func (t *cellTable) len() int { return t.n }

// each calls f for every cell, in no particular order.
func (t *cellTable) each(f func(*mcell)) {
	for _, s := range t.slots {
		if s.c != nil {
			f(s.c)
		}
	}
}
