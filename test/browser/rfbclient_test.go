package browser

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// rfbClient is the smallest RFB 3.8 client the benchmarks need: no
// authentication, 32-bit pixels, Raw encoding only.
type rfbClient struct {
	r    *bufio.Reader
	w    io.Writer
	W, H uint16
}

func newRFBClient(rw io.ReadWriter) (*rfbClient, error) {
	c := &rfbClient{r: bufio.NewReaderSize(rw, 256<<10), w: rw}
	var ver [12]byte
	if _, err := io.ReadFull(c.r, ver[:]); err != nil {
		return nil, fmt.Errorf("reading version: %w", err)
	}
	if _, err := c.w.Write([]byte("RFB 003.008\n")); err != nil {
		return nil, err
	}
	n, err := c.r.ReadByte()
	if err != nil || n == 0 {
		return nil, fmt.Errorf("reading security types: %v (n=%d)", err, n)
	}
	types := make([]byte, n)
	io.ReadFull(c.r, types)
	c.w.Write([]byte{1}) // None
	var res [4]byte
	if _, err := io.ReadFull(c.r, res[:]); err != nil || binary.BigEndian.Uint32(res[:]) != 0 {
		return nil, fmt.Errorf("security result %v: %v", res, err)
	}
	c.w.Write([]byte{1}) // shared
	var init [24]byte
	if _, err := io.ReadFull(c.r, init[:]); err != nil {
		return nil, fmt.Errorf("reading ServerInit: %w", err)
	}
	c.W, c.H = binary.BigEndian.Uint16(init[0:]), binary.BigEndian.Uint16(init[2:])
	if _, err := io.CopyN(io.Discard, c.r, int64(binary.BigEndian.Uint32(init[20:]))); err != nil {
		return nil, err
	}
	pf := []byte{0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}
	enc := []byte{2, 0, 0, 1, 0, 0, 0, 0} // SetEncodings: Raw
	if _, err := c.w.Write(append(pf, enc...)); err != nil {
		return nil, err
	}
	return c, nil
}

// frame requests a full, non-incremental update and reads it, returning the
// number of pixel bytes received.
func (c *rfbClient) frame() (int64, error) {
	req := []byte{3, 0, 0, 0, 0, 0}
	req = binary.BigEndian.AppendUint16(req, c.W)
	req = binary.BigEndian.AppendUint16(req, c.H)
	if _, err := c.w.Write(req); err != nil {
		return 0, err
	}
	for {
		t, err := c.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch t {
		case 0: // FramebufferUpdate
			var h [3]byte
			io.ReadFull(c.r, h[:])
			var total int64
			for range binary.BigEndian.Uint16(h[1:]) {
				var r [12]byte
				if _, err := io.ReadFull(c.r, r[:]); err != nil {
					return 0, err
				}
				w, hh := int64(binary.BigEndian.Uint16(r[4:])), int64(binary.BigEndian.Uint16(r[6:]))
				switch enc := int32(binary.BigEndian.Uint32(r[8:])); enc {
				case 0:
					n, err := io.CopyN(io.Discard, c.r, w*hh*4)
					total += n
					if err != nil {
						return total, err
					}
				case -223: // DesktopSize
					c.W, c.H = uint16(w), uint16(hh)
				default:
					return total, fmt.Errorf("unexpected encoding %d", enc)
				}
			}
			return total, nil
		case 2: // Bell
		case 3: // ServerCutText
			var h [7]byte
			io.ReadFull(c.r, h[:])
			io.CopyN(io.Discard, c.r, int64(binary.BigEndian.Uint32(h[3:])))
		default:
			return 0, fmt.Errorf("unexpected server message %d", t)
		}
	}
}
