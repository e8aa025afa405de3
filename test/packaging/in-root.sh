#!/usr/bin/env bash
# Runs a command chrooted into a Debian root made by debian-root.sh, inside a
# private mount namespace, so every mount it makes (/proc, /dev, the shared apt
# archive cache) disappears when the command ends,
# whatever happens. It is for package installation and one-shot commands;
# sded itself runs in the root booted with systemd-nspawn (systemd_test.go).
#
# Usage: in-root.sh ROOT APT_ARCHIVES COMMAND [ARG...]
set -euo pipefail

root=${1:?usage: in-root.sh ROOT APT_ARCHIVES COMMAND...}
archives=${2:?usage: in-root.sh ROOT APT_ARCHIVES COMMAND...}
shift 2

if [ "${SDED_IN_ROOT_INNER:-}" != 1 ]; then
	SDED_IN_ROOT_INNER=1 exec unshare --mount --propagation private -- "$0" "$root" "$archives" "$@"
fi

mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$archives/partial" "$root/var/cache/apt/archives"
mount --bind "$archives" "$root/var/cache/apt/archives"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec chroot "$root" "$@"
