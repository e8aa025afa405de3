package staged

import (
	"crypto/sha256"
	"hash"
)

// asyncHash computes SHA-256 on another goroutine so hashing overlaps with
// encryption. Write copies p, so callers may reuse it at once; Sum must be
// called exactly once to end the goroutine.
type asyncHash struct {
	ch   chan []byte
	free chan []byte
	done chan []byte
}

func newAsyncHash() *asyncHash {
	a := &asyncHash{ch: make(chan []byte, 4), free: make(chan []byte, 8), done: make(chan []byte)}
	go func() {
		var h hash.Hash = sha256.New()
		for b := range a.ch {
			h.Write(b)
			select {
			case a.free <- b[:0]:
			default:
			}
		}
		a.done <- h.Sum(nil)
	}()
	return a
}

func (a *asyncHash) Write(p []byte) (int, error) {
	var b []byte
	select {
	case b = <-a.free:
	default:
	}
	a.ch <- append(b[:0], p...)
	return len(p), nil
}

// Sum ends the hash and returns it.
func (a *asyncHash) Sum() []byte {
	close(a.ch)
	return <-a.done
}
