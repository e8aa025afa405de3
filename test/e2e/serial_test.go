package e2e

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sded/sded/test/guest"
)

// keyboard types into a guest's console shell.
type keyboard interface {
	// Type types s; '\n' ends a line.
	Type(s string) error
	// Interrupt drops a half-typed line (Ctrl-C).
	Interrupt() error
	Close() error
}

// serialConsole types into the guest's serial console (guest.OpenSerial:
// lossless, unlike VNC key events).
type serialConsole struct {
	f *os.File
}

// dialSerial opens the pty of a domain's serial console.
func dialSerial(path string) (*serialConsole, error) {
	f, err := guest.OpenSerial(path)
	if err != nil {
		return nil, err
	}
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
