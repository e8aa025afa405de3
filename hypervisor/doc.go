// Package hypervisor drives libvirt for sded: it renders a Spec into domain XML
// (through libvirtxml), and its Driver defines, starts, stops, deletes and lists
// the domains sded owns, streams their lifecycle events, sets the ephemeral
// private secrets that unlock their LUKS disks, and finds their VNC console
// socket and serial log. It knows nothing of projects: ownership is marked by
// the "sded-" name prefix plus sded's metadata element (with free-form labels
// the caller chooses), and the Driver never touches a domain without both.
package hypervisor
