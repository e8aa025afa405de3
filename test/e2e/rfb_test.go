package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// rfbKeyboard is the keyboard half of an RFB 3.8 client: it connects with
// security type None, as a shared client, and sends key events (X11
// keysyms). It never asks for screen updates; whatever the server sends is
// read and dropped so the connection never stalls.
type rfbKeyboard struct {
	conn net.Conn
	// Delay after each key press: QEMU's PS/2 keyboard queue holds only 16
	// bytes, drops what does not fit, and a busy TCG guest drains it slowly.
	Delay time.Duration
}

// dialRFB connects to a VNC unix socket and does the RFB 3.8 handshake.
func dialRFB(path string) (*rfbKeyboard, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connecting to VNC socket: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	k := &rfbKeyboard{conn: c, Delay: 10 * time.Millisecond}
	if err := k.handshake(bufio.NewReader(c)); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return k, nil
}

func (k *rfbKeyboard) handshake(r *bufio.Reader) error {
	var ver [12]byte
	if _, err := io.ReadFull(r, ver[:]); err != nil {
		return fmt.Errorf("reading RFB version: %w", err)
	}
	if !strings.HasPrefix(string(ver[:]), "RFB 003.") {
		return fmt.Errorf("not an RFB server: %q", ver)
	}
	if _, err := k.conn.Write([]byte("RFB 003.008\n")); err != nil {
		return err
	}
	n, err := r.ReadByte()
	if err != nil {
		return fmt.Errorf("reading security types: %w", err)
	}
	if n == 0 {
		var l [4]byte
		io.ReadFull(r, l[:])
		msg := make([]byte, min(binary.BigEndian.Uint32(l[:]), 4096))
		io.ReadFull(r, msg)
		return fmt.Errorf("server refused the connection: %s", msg)
	}
	types := make([]byte, n)
	if _, err := io.ReadFull(r, types); err != nil {
		return err
	}
	if !strings.ContainsRune(string(types), 1) {
		return fmt.Errorf("server offers security types %v, not None (1)", types)
	}
	if _, err := k.conn.Write([]byte{1}); err != nil {
		return err
	}
	var res [4]byte
	if _, err := io.ReadFull(r, res[:]); err != nil {
		return fmt.Errorf("reading security result: %w", err)
	}
	if binary.BigEndian.Uint32(res[:]) != 0 {
		return fmt.Errorf("security handshake failed (%v)", res)
	}
	if _, err := k.conn.Write([]byte{1}); err != nil { // ClientInit: shared
		return err
	}
	var init [24]byte
	if _, err := io.ReadFull(r, init[:]); err != nil {
		return fmt.Errorf("reading ServerInit: %w", err)
	}
	if _, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(init[20:]))); err != nil {
		return err
	}
	go io.Copy(io.Discard, r) // drop server messages until the connection closes
	return nil
}

// Close ends the session.
func (k *rfbKeyboard) Close() error { return k.conn.Close() }

// Keysyms the client uses besides printable ASCII (whose keysym is the
// character itself).
const (
	keyReturn = 0xff0d
	keyShiftL = 0xffe1
	keyCtrlL  = 0xffe3
)

// shifted holds the characters a US keyboard types with Shift.
const shifted = `~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ`

func (k *rfbKeyboard) key(sym uint32, down bool) error {
	msg := []byte{4, 0, 0, 0, 0, 0, 0, 0}
	if down {
		msg[1] = 1
	}
	binary.BigEndian.PutUint32(msg[4:], sym)
	_, err := k.conn.Write(msg)
	return err
}

func (k *rfbKeyboard) press(sym uint32, shift bool) error {
	if shift {
		if err := k.key(keyShiftL, true); err != nil {
			return err
		}
	}
	if err := k.key(sym, true); err != nil {
		return err
	}
	if err := k.key(sym, false); err != nil {
		return err
	}
	if shift {
		if err := k.key(keyShiftL, false); err != nil {
			return err
		}
	}
	time.Sleep(k.Delay)
	return nil
}

// Interrupt recovers the shell from a line typed with lost keys: it
// releases Shift and Ctrl (a lost release leaves a modifier held in the
// guest, turning everything after it into capitals or control characters),
// presses Ctrl-C (the shell drops a half-typed line or here-document) and
// releases the modifiers again, with pauses for the guest to drain its queue.
func (k *rfbKeyboard) Interrupt() error {
	release := func() error {
		time.Sleep(300 * time.Millisecond)
		for _, m := range []uint32{keyShiftL, keyCtrlL} {
			if err := k.key(m, false); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	if err := release(); err != nil {
		return err
	}
	for _, e := range []struct {
		sym  uint32
		down bool
	}{{keyCtrlL, true}, {'c', true}, {'c', false}, {keyCtrlL, false}} {
		if err := k.key(e.sym, e.down); err != nil {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
	return release()
}

// Type types s; '\n' presses Return. Only printable ASCII is accepted.
func (k *rfbKeyboard) Type(s string) error {
	for _, r := range s {
		switch {
		case r == '\n':
			if err := k.press(keyReturn, false); err != nil {
				return err
			}
		case r >= 0x20 && r < 0x7f:
			if err := k.press(uint32(r), strings.ContainsRune(shifted, r)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("cannot type %q", r)
		}
	}
	return nil
}
