package e2e

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// keyboard types into a guest's console shell.
type keyboard interface {
	// Type types s; '\n' ends a line.
	Type(s string) error
	// Interrupt drops a half-typed line (Ctrl-C).
	Interrupt() error
	Close() error
}

// serialConsole types into the guest's serial console (ttyS0, where the
// test guest runs a shell beside the one on the VGA console). QEMU reads the
// pty only as fast as the guest's UART takes characters, so nothing typed is
// lost, unlike key events on the VNC console (QEMU's PS/2 queue holds 16
// scancodes). What the guest writes back is read and dropped here: the
// serial log keeps it.
type serialConsole struct {
	f *os.File
}

// dialSerial opens the pty of a domain's serial console.
func dialSerial(path string) (*serialConsole, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening serial console %s: %w", path, err)
	}
	// Raw: no echo back into the guest, no line editing, bytes as typed.
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("serial console %s: %w", path, err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("serial console %s: %w", path, err)
	}
	go io.Copy(io.Discard, f) // the guest's output must not fill the pty
	// QEMU notices a reader on its pty within a second.
	time.Sleep(1500 * time.Millisecond)
	return &serialConsole{f: f}, nil
}

func (s *serialConsole) Type(str string) error {
	for _, r := range str {
		if r != '\n' && (r < 0x20 || r >= 0x7f) {
			return fmt.Errorf("cannot type %q", r)
		}
	}
	_, err := s.f.WriteString(strings.ReplaceAll(str, "\n", "\r"))
	return err
}

func (s *serialConsole) Interrupt() error {
	_, err := s.f.Write([]byte{3, '\r'})
	time.Sleep(200 * time.Millisecond)
	return err
}

func (s *serialConsole) Close() error { return s.f.Close() }
