#!/usr/bin/env bash
# Makes (once) a minimal Debian 12 root with debootstrap and keeps it as a tar
# file under the cache directory, so package tests can unpack a fresh root in
# seconds instead of bootstrapping each run.
#
# Usage: debian-root.sh CACHE_DIR        prints the path of the tarball
# The mirror is the one this host's apt sources use (deb.debian.org).
set -euo pipefail

cache=${1:?usage: debian-root.sh CACHE_DIR}
mirror=${SDED_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${SDED_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
tarball="$cache/debian12-minbase.tar"

mkdir -p "$cache"
if [ -s "$tarball" ]; then
	echo "$tarball"
	exit 0
fi

work=$(mktemp -d "$cache/bootstrap.XXXXXX")
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT

# minbase: essential packages and apt only; the package's own dependencies are
# what the test installs on top, through apt, as an admin would.
debootstrap --variant=minbase --include=ca-certificates bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 30 "$work/debootstrap.log" >&2
	echo "debian-root: debootstrap failed (mirror $mirror)" >&2
	exit 1
}
cat >"$work/root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
# Never start services inside the test root.
printf '#!/bin/sh\nexit 101\n' >"$work/root/usr/sbin/policy-rc.d"
chmod 0755 "$work/root/usr/sbin/policy-rc.d"
# Keep downloaded .debs (the test bind-mounts a shared archive cache there).
rm -f "$work/root/etc/apt/apt.conf.d/docker-clean"
echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' >"$work/root/etc/apt/apt.conf.d/10keep-debs"
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages

tar -C "$work/root" -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
echo "$tarball"
