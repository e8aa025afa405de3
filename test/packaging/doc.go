// Package packaging tests sded's packages as a sysadmin meets them: it builds
// the .deb and .rpm with packaging/build.sh (nfpm), lints them with lintian and
// rpmlint, checks their file lists and the systemd unit's hardening score, and
// installs, upgrades, removes and purges the .deb with its dependencies in a
// fresh Debian 12 root made with debootstrap (cached under .cache/packaging).
//
// The tests need root (chroot, namespaces) and install the tools they use
// (test/packaging/deps.sh); outside CI they skip when that is impossible.
package packaging
