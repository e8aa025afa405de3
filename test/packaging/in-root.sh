#!/usr/bin/env bash
# Runs a command chrooted into a Debian root made by debian-root.sh, inside a
# private mount namespace, so every mount it makes (/proc, /dev, the shared apt
# archive cache, libvirt's socket directory) disappears when the command ends,
# whatever happens.
#
# Usage: in-root.sh ROOT APT_ARCHIVES COMMAND [ARG...]
#   SDED_NETNS=1       run in a new network namespace with loopback up
#   SDED_BIND_LIBVIRT=1  bind-mount the host's /run/libvirt into the root
set -euo pipefail

root=${1:?usage: in-root.sh ROOT APT_ARCHIVES COMMAND...}
archives=${2:?usage: in-root.sh ROOT APT_ARCHIVES COMMAND...}
shift 2

if [ "${SDED_IN_ROOT_INNER:-}" != 1 ]; then
	net=()
	[ "${SDED_NETNS:-}" = 1 ] && net=(--net)
	SDED_IN_ROOT_INNER=1 exec unshare --mount --propagation private "${net[@]}" -- "$0" "$root" "$archives" "$@"
fi

mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$archives/partial" "$root/var/cache/apt/archives"
mount --bind "$archives" "$root/var/cache/apt/archives"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
if [ "${SDED_BIND_LIBVIRT:-}" = 1 ] && [ -d /run/libvirt ]; then
	mkdir -p "$root/run/libvirt"
	mount --bind /run/libvirt "$root/run/libvirt"
fi
if [ "${SDED_NETNS:-}" = 1 ]; then
	ip link set lo up
fi
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec chroot "$root" "$@"
