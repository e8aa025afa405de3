package airlocktest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// typist types text into a guest's VGA console over its VNC socket (RFB
// 3.8, no authentication: libvirt's socket is root-only), as a researcher
// at the browser desktop would.
type typist struct{ c net.Conn }

func dialTypist(socket string) (*typist, error) {
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fail := func(err error) (*typist, error) { c.Close(); return nil, fmt.Errorf("rfb handshake: %w", err) }
	ver := make([]byte, 12)
	if _, err := io.ReadFull(c, ver); err != nil {
		return fail(err)
	}
	if _, err := c.Write([]byte("RFB 003.008\n")); err != nil {
		return fail(err)
	}
	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return fail(err)
	}
	types := make([]byte, n[0])
	if _, err := io.ReadFull(c, types); err != nil {
		return fail(err)
	}
	if !strings.ContainsRune(string(types), 1) {
		return fail(fmt.Errorf("server offers security types %v, not None", types))
	}
	if _, err := c.Write([]byte{1}); err != nil {
		return fail(err)
	}
	var res [4]byte
	if _, err := io.ReadFull(c, res[:]); err != nil || binary.BigEndian.Uint32(res[:]) != 0 {
		return fail(fmt.Errorf("security result %v %v", res, err))
	}
	if _, err := c.Write([]byte{1}); err != nil { // ClientInit: shared
		return fail(err)
	}
	init := make([]byte, 24)
	if _, err := io.ReadFull(c, init); err != nil {
		return fail(err)
	}
	name := make([]byte, binary.BigEndian.Uint32(init[20:]))
	if _, err := io.ReadFull(c, name); err != nil {
		return fail(err)
	}
	c.SetDeadline(time.Time{})
	return &typist{c: c}, nil
}

const (
	keyReturn = 0xff0d
	keyShift  = 0xffe1
)

// shifted are the US-layout characters typed with Shift.
const shifted = `~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ`

func (t *typist) key(sym uint32, down bool) error {
	b := []byte{4, 0, 0, 0, 0, 0, 0, 0}
	if down {
		b[1] = 1
	}
	binary.BigEndian.PutUint32(b[4:], sym)
	_, err := t.c.Write(b)
	return err
}

func (t *typist) press(sym uint32, shift bool) error {
	if shift {
		if err := t.key(keyShift, true); err != nil {
			return err
		}
	}
	if err := t.key(sym, true); err != nil {
		return err
	}
	if err := t.key(sym, false); err != nil {
		return err
	}
	if shift {
		if err := t.key(keyShift, false); err != nil {
			return err
		}
	}
	time.Sleep(15 * time.Millisecond) // the guest's keyboard buffer is small under TCG
	return nil
}

// line types s (printable ASCII) and Return.
func (t *typist) line(s string) error {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("cannot type %q", r)
		}
		if err := t.press(uint32(r), strings.ContainsRune(shifted, r)); err != nil {
			return err
		}
	}
	return t.press(keyReturn, false)
}

func (t *typist) Close() error { return t.c.Close() }
