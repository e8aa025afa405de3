package network

import (
	"errors"
	"fmt"
	"net/netip"
)

var (
	// ErrPoolExhausted means no free subnet of the requested size is left.
	ErrPoolExhausted = errors.New("address pool exhausted")
	// ErrPoolOverlap means the existing allocations are inconsistent with the
	// pool: one overlaps another or lies partly outside the pool.
	ErrPoolOverlap = errors.New("address pool overlap")
)

// AllocateSubnet returns the lowest subnet of length bits inside pool that
// overlaps none of existing. It is a pure function: the caller stores the
// result (in replicated state) and passes it back in existing next time.
// Existing subnets outside the pool are ignored; ones that overlap each other
// or straddle the pool's edge are reported as ErrPoolOverlap.
func AllocateSubnet(pool netip.Prefix, bits int, existing []netip.Prefix) (netip.Prefix, error) {
	if !pool.IsValid() || !pool.Addr().Is4() || pool != pool.Masked() {
		return netip.Prefix{}, fmt.Errorf("allocating subnet: pool %v must be a masked IPv4 prefix", pool)
	}
	if bits < pool.Bits() || bits > 29 {
		return netip.Prefix{}, fmt.Errorf("allocating subnet: size /%d must be between /%d and /29", bits, pool.Bits())
	}
	var inPool []netip.Prefix
	for i, e := range existing {
		if !e.IsValid() || !e.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("allocating subnet: existing subnet %v is not IPv4: %w", e, ErrPoolOverlap)
		}
		for _, o := range existing[:i] {
			if o.Overlaps(e) {
				return netip.Prefix{}, fmt.Errorf("allocating subnet: existing subnets %v and %v overlap: %w", o, e, ErrPoolOverlap)
			}
		}
		if !e.Overlaps(pool) {
			continue
		}
		if e.Bits() < pool.Bits() {
			return netip.Prefix{}, fmt.Errorf("allocating subnet: existing subnet %v contains the whole pool %v: %w", e, pool, ErrPoolOverlap)
		}
		inPool = append(inPool, e)
	}
	step := uint64(1) << (32 - bits)
	n := uint64(1) << (bits - pool.Bits())
	base := addrUint(pool.Addr())
	for i := uint64(0); i < n; i++ {
		cand := netip.PrefixFrom(uintAddr(uint32(base+i*step)), bits)
		free := true
		for _, e := range inPool {
			if e.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("allocating a /%d from %v (%d in use): %w", bits, pool, len(inPool), ErrPoolExhausted)
}

func addrUint(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

func uintAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
