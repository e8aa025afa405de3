#!/usr/bin/env bash
# Installs what the package tests need on a Debian 12 host: the package
# linters, rpm (for rpm -qp and elfdeps), debootstrap for the fresh Debian
# root, systemd's systemd-analyze and systemd-nspawn (to boot that root with
# systemd). Idempotent; needs root.
set -euo pipefail
PKGS=(lintian rpm rpmlint python3-magic debootstrap systemd systemd-container dpkg-dev fakeroot man-db cpio)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "packaging deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
