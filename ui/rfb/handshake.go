package rfb

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// handshake relays the RFB 3.8 handshake: versions, security (None or VNC
// authentication only), ClientInit and ServerInit, recording the pixel format.
func (s *session) handshake() error {
	var ver [12]byte
	if _, err := io.ReadFull(s.sr, ver[:]); err != nil {
		return fmt.Errorf("reading server version: %w", err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(ver[:]), "RFB %03d.%03d\n", &major, &minor); err != nil || major != 3 || minor < 8 {
		return fmt.Errorf("unsupported server version %q: need RFB 3.8", ver[:])
	}
	if _, err := io.WriteString(s.cw, version38); err != nil {
		return fmt.Errorf("writing version to client: %w", err)
	}
	if _, err := io.ReadFull(s.cr, ver[:]); err != nil {
		return fmt.Errorf("reading client version: %w", err)
	}
	if string(ver[:]) != version38 {
		return fmt.Errorf("unsupported client version %q: need RFB 3.8", ver[:])
	}
	if _, err := io.WriteString(s.sw, version38); err != nil {
		return fmt.Errorf("writing version to server: %w", err)
	}

	n, err := s.sr.ReadByte()
	if err != nil {
		return fmt.Errorf("reading security types: %w", err)
	}
	if n == 0 {
		reason, err := s.relayReason()
		if err != nil {
			return err
		}
		return fmt.Errorf("server refused connection: %q", reason)
	}
	types := make([]byte, n)
	if _, err := io.ReadFull(s.sr, types); err != nil {
		return fmt.Errorf("reading security types: %w", err)
	}
	var offer []byte
	for _, t := range types {
		if t == secNone || t == secVNCAuth {
			offer = append(offer, t)
		}
	}
	if len(offer) == 0 {
		const reason = "no supported security type"
		msg := []byte{0}
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(reason)))
		s.cw.Write(append(msg, reason...))
		return fmt.Errorf("server offers security types %v: %s", types, reason)
	}
	if _, err := s.cw.Write(append([]byte{byte(len(offer))}, offer...)); err != nil {
		return fmt.Errorf("writing security types: %w", err)
	}
	choice, err := s.cr.ReadByte()
	if err != nil {
		return fmt.Errorf("reading client security choice: %w", err)
	}
	if !slices.Contains(offer, choice) {
		return fmt.Errorf("client chose security type %d, not offered", choice)
	}
	if _, err := s.sw.Write([]byte{choice}); err != nil {
		return fmt.Errorf("writing security choice: %w", err)
	}
	if choice == secVNCAuth {
		if err := s.relay(s.sr, s.cw, 16, "challenge"); err != nil {
			return err
		}
		if err := s.relay(s.cr, s.sw, 16, "challenge response"); err != nil {
			return err
		}
	}
	var result [4]byte
	if _, err := io.ReadFull(s.sr, result[:]); err != nil {
		return fmt.Errorf("reading security result: %w", err)
	}
	if _, err := s.cw.Write(result[:]); err != nil {
		return fmt.Errorf("writing security result: %w", err)
	}
	if binary.BigEndian.Uint32(result[:]) != 0 {
		reason, err := s.relayReason()
		if err != nil {
			return err
		}
		return fmt.Errorf("authentication failed: %q", reason)
	}

	if err := s.relay(s.cr, s.sw, 1, "ClientInit"); err != nil {
		return err
	}
	var init [24]byte // width, height, pixel format (16), name length
	if _, err := io.ReadFull(s.sr, init[:]); err != nil {
		return fmt.Errorf("reading ServerInit: %w", err)
	}
	if err := s.setPixelFormat(init[4:20]); err != nil {
		return fmt.Errorf("ServerInit: %w", err)
	}
	nameLen := binary.BigEndian.Uint32(init[20:])
	if nameLen > maxName {
		return fmt.Errorf("ServerInit: desktop name of %d bytes exceeds %d", nameLen, maxName)
	}
	if _, err := s.cw.Write(init[:]); err != nil {
		return fmt.Errorf("writing ServerInit: %w", err)
	}
	return s.relay(s.sr, s.cw, int64(nameLen), "desktop name")
}

// relayReason relays a u32-length-prefixed failure reason from the server.
func (s *session) relayReason() (string, error) {
	var l [4]byte
	if _, err := io.ReadFull(s.sr, l[:]); err != nil {
		return "", fmt.Errorf("reading failure reason: %w", err)
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > maxReason {
		return "", fmt.Errorf("failure reason of %d bytes exceeds %d", n, maxReason)
	}
	reason := make([]byte, n)
	if _, err := io.ReadFull(s.sr, reason); err != nil {
		return "", fmt.Errorf("reading failure reason: %w", err)
	}
	s.cw.Write(append(l[:], reason...))
	return string(reason), nil
}

// relay copies exactly n bytes from r to w.
func (s *session) relay(r io.Reader, w io.Writer, n int64, what string) error {
	if _, err := io.CopyN(w, r, n); err != nil {
		return fmt.Errorf("relaying %s: %w", what, err)
	}
	return nil
}

// setPixelFormat records the bytes per pixel of a 16-byte pixel format.
func (s *session) setPixelFormat(pf []byte) error {
	switch bits := pf[0]; bits {
	case 8, 16, 32:
		s.bpp.Store(int32(bits / 8))
		return nil
	default:
		return fmt.Errorf("unsupported bits per pixel %d", bits)
	}
}
