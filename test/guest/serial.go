package guest

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// OpenSerial opens the pty of a domain's serial console (from `virsh
// ttyconsole DOMAIN`) for typing at the shell the test guest runs there.
// QEMU reads the pty only as fast as the guest's UART takes characters, so
// nothing typed is lost, unlike key events on the VNC console (QEMU's PS/2
// queue holds 16 scancodes and drops keys under TCG load). The pty is put in
// raw mode (no echo back into the guest, no line editing), and what the
// guest writes back is read and dropped, so it never fills the pty: the
// domain's serial log keeps it. Lines typed end with '\r'. The caller
// closes the file.
func OpenSerial(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening serial console %s: %w", path, err)
	}
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
	go io.Copy(io.Discard, f)
	// QEMU notices a reader on its pty within a second.
	time.Sleep(1500 * time.Millisecond)
	return f, nil
}
