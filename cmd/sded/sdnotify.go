package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// sdNotify sends state (for example "READY=1" or "STOPPING=1") to the service
// manager over the datagram socket named by $NOTIFY_SOCKET, as sd_notify(3)
// does. It reports false and no error when the variable is unset, which is the
// case whenever sded does not run under a Type=notify systemd unit. Paths
// starting with "@" name Linux abstract sockets.
func sdNotify(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	if state == "" || strings.ContainsRune(state, 0) {
		return false, errors.New("notifying systemd: empty state or NUL byte in state")
	}
	name := addr
	switch {
	case strings.HasPrefix(addr, "@"):
		name = "\x00" + addr[1:]
	case strings.HasPrefix(addr, "/"):
	default:
		return false, fmt.Errorf("notifying systemd: NOTIFY_SOCKET=%q is neither an absolute path nor an abstract socket (@name)", addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("notifying systemd at %q: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("notifying systemd at %q: %w", addr, err)
	}
	return true, nil
}
