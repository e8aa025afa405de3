// Package e2e holds sded's end-to-end tests: the real daemon binary
// (`sded serve`), driven through its command line like an operator would,
// running real workstations (libvirt, QEMU under TCG, sded's test guest) that
// the tests drive through the VNC desktop like a researcher would.
//
// Every test gives sded a private host of its own: a network namespace
// (bridges, iptables chains, DHCP, listeners) with its own libvirtd and
// virtlogd in a mount namespace (private /run/libvirt, /var/lib/libvirt,
// /var/cache/libvirt and a copy of /etc/libvirt). So the daemon under test
// cannot disturb the machine's own network, its libvirtd, a running `make
// demo` or other tests, and a test may kill and restart "its" libvirtd. The
// simulated internet is one more namespace, routed from sded's host.
//
// The tests need root, libvirtd's programs, qemu-img and the test guest
// (`make guest`); they skip with a reason without them, and fail in CI.
package e2e
