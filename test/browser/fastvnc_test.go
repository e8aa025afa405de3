package browser

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// startFastVNC serves RFB 3.8 on a unix socket from memory: every
// FramebufferUpdateRequest gets one full-screen Raw rectangle of w×h 32-bit
// pixels, so a benchmark through it measures the transport, not a VNC
// server's encoder. It returns the socket path.
func startFastVNC(t testing.TB, w, h uint16) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fast.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	update := []byte{0, 0, 0, 1, 0, 0, 0, 0}
	update = binary.BigEndian.AppendUint16(update, w)
	update = binary.BigEndian.AppendUint16(update, h)
	update = append(update, 0, 0, 0, 0)
	pixels := make([]byte, int(w)*int(h)*4)
	for i := range pixels {
		pixels[i] = byte(i * 7)
	}
	update = append(update, pixels...)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFastVNC(c, w, h, update)
		}
	}()
	return sock
}

func serveFastVNC(c net.Conn, w, h uint16, update []byte) {
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("RFB 003.008\n\x01\x01"))
	hello := make([]byte, 13)
	if _, err := io.ReadFull(r, hello); err != nil {
		return
	}
	c.Write([]byte{0, 0, 0, 0})
	r.ReadByte() // shared
	init := binary.BigEndian.AppendUint16(nil, w)
	init = binary.BigEndian.AppendUint16(init, h)
	init = append(init, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0)
	init = binary.BigEndian.AppendUint32(init, 4)
	c.Write(append(init, "fast"...))
	for {
		t, err := r.ReadByte()
		if err != nil {
			return
		}
		switch t {
		case 0: // SetPixelFormat
			io.CopyN(io.Discard, r, 19)
		case 2: // SetEncodings
			var hd [3]byte
			io.ReadFull(r, hd[:])
			io.CopyN(io.Discard, r, 4*int64(binary.BigEndian.Uint16(hd[1:])))
		case 3: // FramebufferUpdateRequest
			io.CopyN(io.Discard, r, 9)
			if _, err := c.Write(update); err != nil {
				return
			}
		case 4:
			io.CopyN(io.Discard, r, 7)
		case 5:
			io.CopyN(io.Discard, r, 5)
		default:
			return
		}
	}
}
