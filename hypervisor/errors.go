package hypervisor

import (
	"errors"

	"libvirt.org/go/libvirt"
)

var (
	// ErrNotFound means libvirt has no domain (or secret) of that name.
	ErrNotFound = errors.New("not found")
	// ErrNotOwned means the domain or secret exists but is not sded's: it
	// lacks the name prefix or sded's metadata. sded never touches it.
	ErrNotOwned = errors.New("not owned by sded")
	// ErrUnavailable means libvirtd cannot be reached.
	ErrUnavailable = errors.New("libvirt unavailable")
)

// virtError presents a libvirt error by its message (libvirt.Error's own text
// is a Go-syntax dump) and keeps it reachable with errors.As.
type virtError struct{ e libvirt.Error }

func (v virtError) Error() string { return v.e.Message }
func (v virtError) Unwrap() error { return v.e }

// lv turns a libvirt error into a readable one; other errors pass through.
func lv(err error) error {
	var e libvirt.Error
	if errors.As(err, &e) {
		return virtError{e}
	}
	return err
}

// isCode reports whether err is a libvirt error with code c.
func isCode(err error, c libvirt.ErrorNumber) bool {
	var e libvirt.Error
	return errors.As(err, &e) && e.Code == c
}
