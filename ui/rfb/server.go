package rfb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// serverLoop parses server-to-browser messages and forwards all but clipboard
// text, which it always drops. Output is buffered and flushed whenever the
// server has nothing more buffered.
func (s *session) serverLoop() error {
	w := bufio.NewWriterSize(s.cw, bufferSize)
	for {
		t, err := s.sr.ReadByte()
		if err != nil {
			return err
		}
		switch t {
		case msgFramebufferUpdate:
			err = s.framebufferUpdate(w)
		case msgSetColourMapEntries:
			var h [5]byte
			if err = s.readServer(h[:]); err == nil {
				w.WriteByte(t)
				w.Write(h[:])
				err = s.copyServer(w, 6*int64(binary.BigEndian.Uint16(h[3:5])))
			}
		case msgBell:
			err = w.WriteByte(t)
		case msgServerCutText:
			var h [7]byte
			if err = s.readServer(h[:]); err == nil {
				n := int64(int32(binary.BigEndian.Uint32(h[3:7])))
				if n < 0 {
					n = -n
				}
				s.droppedServerCut.Add(1)
				_, err = io.CopyN(io.Discard, s.sr, n)
			}
		default:
			return fmt.Errorf("unsupported server message type %d", t)
		}
		if err != nil {
			return fmt.Errorf("server message %d: %w", t, err)
		}
		if s.sr.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("writing to client: %w", err)
			}
		}
	}
}

func (s *session) readServer(p []byte) error {
	_, err := io.ReadFull(s.sr, p)
	return err
}

func (s *session) copyServer(w io.Writer, n int64) error {
	_, err := io.CopyN(w, s.sr, n)
	return err
}

// framebufferUpdate frames every rectangle of a FramebufferUpdate.
func (s *session) framebufferUpdate(w *bufio.Writer) error {
	var h [3]byte
	if err := s.readServer(h[:]); err != nil {
		return err
	}
	w.WriteByte(msgFramebufferUpdate)
	w.Write(h[:])
	n := int(binary.BigEndian.Uint16(h[1:3]))
	bpp := int64(s.bpp.Load())
	for range n {
		var r [12]byte
		if err := s.readServer(r[:]); err != nil {
			return err
		}
		w.Write(r[:])
		rw, rh := int64(binary.BigEndian.Uint16(r[4:6])), int64(binary.BigEndian.Uint16(r[6:8]))
		enc := int32(binary.BigEndian.Uint32(r[8:12]))
		var err error
		switch enc {
		case encRaw:
			err = s.copyServer(w, rw*rh*bpp)
		case encCopyRect:
			err = s.copyServer(w, 4)
		case encRRE:
			var c [4]byte
			if err = s.readServer(c[:]); err == nil {
				w.Write(c[:])
				err = s.copyServer(w, bpp+int64(binary.BigEndian.Uint32(c[:]))*(bpp+8))
			}
		case encHextile:
			err = s.hextile(w, rw, rh, bpp)
		case encZRLE:
			var c [4]byte
			if err = s.readServer(c[:]); err == nil {
				w.Write(c[:])
				err = s.copyServer(w, int64(binary.BigEndian.Uint32(c[:])))
			}
		case encCursor:
			err = s.copyServer(w, rw*rh*bpp+(rw+7)/8*rh)
		case encExtendedDesktopSize:
			var c [4]byte
			if err = s.readServer(c[:]); err == nil {
				w.Write(c[:])
				err = s.copyServer(w, 16*int64(c[0]))
			}
		case encDesktopName:
			var c [4]byte
			if err = s.readServer(c[:]); err == nil {
				l := binary.BigEndian.Uint32(c[:])
				if l > maxName {
					return fmt.Errorf("desktop name of %d bytes exceeds %d", l, maxName)
				}
				w.Write(c[:])
				err = s.copyServer(w, int64(l))
			}
		case encDesktopSize, encQEMUExtendedKey:
		case encLastRect:
			return nil
		default:
			return fmt.Errorf("rectangle with unnegotiated encoding %d", enc)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// hextile frames a Hextile rectangle tile by tile.
func (s *session) hextile(w *bufio.Writer, rw, rh, bpp int64) error {
	for y := int64(0); y < rh; y += 16 {
		th := min(16, rh-y)
		for x := int64(0); x < rw; x += 16 {
			tw := min(16, rw-x)
			mask, err := s.sr.ReadByte()
			if err != nil {
				return err
			}
			w.WriteByte(mask)
			if mask&1 != 0 { // raw tile
				if err := s.copyServer(w, tw*th*bpp); err != nil {
					return err
				}
				continue
			}
			var n int64
			if mask&2 != 0 { // background specified
				n += bpp
			}
			if mask&4 != 0 { // foreground specified
				n += bpp
			}
			if err := s.copyServer(w, n); err != nil {
				return err
			}
			if mask&8 != 0 { // any subrects
				c, err := s.sr.ReadByte()
				if err != nil {
					return err
				}
				w.WriteByte(c)
				per := int64(2)
				if mask&16 != 0 { // subrects coloured
					per += bpp
				}
				if err := s.copyServer(w, int64(c)*per); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
