#!/usr/bin/env bash
# Installs and starts everything sded's build, tests and demo need on a Debian 12
# host. Idempotent: safe to run again. Needs root (apt-get, libvirtd).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: must run as root (apt-get install, starting libvirtd); try: sudo make deps" >&2
	exit 1
fi

PKGS=(
	libvirt-daemon-system libvirt-dev libvirt-clients qemu-system-x86 qemu-utils
	iptables iproute2 cryptsetup busybox-static cpio gzip
	chromium ca-certificates openssl
	debootstrap lintian rpm systemd
)
# npm fetches the browser desktop client (noVNC) at build time; a host with
# Node.js from elsewhere keeps its own npm.
command -v npm >/dev/null || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Without udev (containers, CI) /dev/kvm stays root:root 0600; libvirt then
# re-probes QEMU's capabilities on nearly every call (about 50 s per start).
if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
	chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

# No systemd on CI or build hosts: start the daemons ourselves when absent.
if ! pgrep -x virtlogd >/dev/null; then virtlogd -d; fi
if ! pgrep -x libvirtd >/dev/null; then libvirtd -d; fi
for _ in $(seq 1 50); do
	[ -S /run/libvirt/libvirt-sock ] && break
	sleep 0.2
done
[ -S /run/libvirt/libvirt-sock ] || { echo "deps: libvirtd did not start" >&2; exit 1; }
# The browser desktop client, from its npm package (see ui/assets/fetch.sh).
bash "$(dirname "$0")/../../ui/assets/fetch.sh"
echo "deps: ok (libvirtd running)"
