package rfb

import (
	"encoding/binary"
	"fmt"
	"io"
)

// clientLoop parses browser-to-server messages and forwards those the policy
// allows, each in one write.
func (s *session) clientLoop() error {
	buf := make([]byte, 0, 256)
	for {
		t, err := s.cr.ReadByte()
		if err != nil {
			return err
		}
		buf = append(buf[:0], t)
		switch t {
		case msgSetPixelFormat:
			if buf, err = s.readClient(buf, 19); err != nil {
				return err
			}
			if err := s.setPixelFormat(buf[4:20]); err != nil {
				return fmt.Errorf("SetPixelFormat: %w", err)
			}
		case msgSetEncodings:
			if buf, err = s.setEncodings(buf); err != nil {
				return err
			}
		case msgFramebufferUpdateReq:
			if buf, err = s.readClient(buf, 9); err != nil {
				return err
			}
		case msgKeyEvent:
			if buf, err = s.readClient(buf, 7); err != nil {
				return err
			}
			s.touch()
		case msgPointerEvent:
			if buf, err = s.readClient(buf, 5); err != nil {
				return err
			}
			s.touch()
		case msgClientCutText:
			if buf, err = s.clientCutText(buf); err != nil {
				return err
			}
			if buf == nil {
				buf = make([]byte, 0, 256)
				continue
			}
		case msgSetDesktopSize:
			if buf, err = s.readClient(buf, 7); err != nil {
				return err
			}
			if buf, err = s.readClient(buf, 16*int(buf[6])); err != nil {
				return err
			}
		case msgQEMUClient:
			if buf, err = s.readClient(buf, 1); err != nil {
				return err
			}
			if buf[1] != qemuExtendedKeyEventType {
				return fmt.Errorf("unsupported QEMU client message subtype %d", buf[1])
			}
			if buf, err = s.readClient(buf, 10); err != nil {
				return err
			}
			s.touch()
		default:
			return fmt.Errorf("unsupported client message type %d", t)
		}
		if _, err := s.sw.Write(buf); err != nil {
			return fmt.Errorf("writing to server: %w", err)
		}
	}
}

// readClient appends the next n bytes from the client to buf.
func (s *session) readClient(buf []byte, n int) ([]byte, error) {
	l := len(buf)
	buf = append(buf, make([]byte, n)...)
	if _, err := io.ReadFull(s.cr, buf[l:]); err != nil {
		return buf, fmt.Errorf("reading client message %d: %w", buf[0], err)
	}
	return buf, nil
}

// setEncodings reads a SetEncodings message and rewrites it without the
// encodings the proxy does not forward (the extended clipboard above all).
func (s *session) setEncodings(buf []byte) ([]byte, error) {
	buf, err := s.readClient(buf, 3)
	if err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint16(buf[2:4]))
	body := make([]byte, 4*n)
	if _, err := io.ReadFull(s.cr, body); err != nil {
		return buf, fmt.Errorf("reading SetEncodings: %w", err)
	}
	out := buf[:4]
	kept := 0
	for i := range n {
		e := int32(binary.BigEndian.Uint32(body[4*i:]))
		if !allowedEncoding(e) {
			s.stripped.Add(1)
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(e))
		kept++
	}
	binary.BigEndian.PutUint16(out[2:4], uint16(kept))
	return out, nil
}

// clientCutText reads a ClientCutText message. It returns the message to
// forward, or nil when the policy drops it.
func (s *session) clientCutText(buf []byte) ([]byte, error) {
	buf, err := s.readClient(buf, 7)
	if err != nil {
		return buf, err
	}
	l := int32(binary.BigEndian.Uint32(buf[4:8]))
	extended := l < 0
	n := int64(l)
	if extended {
		n = -n // extended clipboard format: never negotiated, never forwarded
	}
	if !s.policy.AllowPaste || extended {
		s.droppedClientCut.Add(1)
		if _, err := io.CopyN(io.Discard, s.cr, n); err != nil {
			return nil, fmt.Errorf("reading ClientCutText: %w", err)
		}
		return nil, nil
	}
	if n > int64(s.policy.MaxCutText) {
		return nil, fmt.Errorf("ClientCutText of %d bytes exceeds %d", n, s.policy.MaxCutText)
	}
	if buf, err = s.readClient(buf, int(n)); err != nil {
		return buf, err
	}
	s.forwardedClientCut.Add(1)
	return buf, nil
}
