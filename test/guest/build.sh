#!/usr/bin/env bash
# Builds sded's bootable test guest into DIR (default .cache/guest) from Debian
# packages only: a cloud kernel (vmlinuz), an initramfs with busybox and our
# init (initramfs.cpio.gz), and a small qcow2 base disk (base.qcow2, ext2
# labelled sded-base). Idempotent: it skips work when DIR is up to date with the
# sources (this script, init, probe-lib.sh) and the packages. See README.md.
set -euo pipefail

DIR=${1:-.cache/guest}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KPKG_META=${SDED_GUEST_KERNEL_META:-linux-image-cloud-amd64}
BB_PKG=busybox-static
# Modules the init loads (plus their dependencies, resolved with depmod).
MODULES=(virtio_pci virtio_net virtio_blk virtio_console vfat nls_cp437 nls_utf8 nls_ascii isofs button evdev virtiofs)

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

# Resolve the kernel package behind the cloud metapackage (e.g. linux-image-6.1.0-56-cloud-amd64).
resolve_kernel() { apt-cache depends "$KPKG_META" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
KPKG=$(resolve_kernel)
if [ -z "$KPKG" ] && [ "$(id -u)" -eq 0 ]; then
	echo "guest: $KPKG_META unknown to apt; running apt-get update"
	apt-get update -qq >/dev/null 2>&1 || true
	KPKG=$(resolve_kernel)
fi
if [ -z "$KPKG" ]; then
	echo "guest: cannot resolve $KPKG_META with apt-cache; run apt-get update (or make deps)" >&2
	exit 1
fi
KVER_PKG=$(apt-cache policy "$KPKG" | awk '/Candidate:/ {print $2}')
BB_VER=$(apt-cache policy "$BB_PKG" | awk '/Candidate:/ {print $2}')
SRC_SUM=$(cat "$HERE/build.sh" "$HERE/init" "$HERE/probe-lib.sh" "$HERE/udhcpc.sh" | sha256sum | cut -d' ' -f1)
STAMP="kernel=$KPKG@$KVER_PKG busybox=$BB_VER sources=$SRC_SUM"

if [ -f "$DIR/stamp" ] && [ "$(cat "$DIR/stamp")" = "$STAMP" ] &&
	[ -f "$DIR/vmlinuz" ] && [ -f "$DIR/initramfs.cpio.gz" ] && [ -f "$DIR/base.qcow2" ]; then
	echo "guest: up to date in $DIR"
	exit 0
fi

WORK=$(mktemp -d "$DIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

echo "guest: downloading $KPKG $BB_PKG"
mkdir debs
(cd debs && apt-get download -q "$KPKG" "$BB_PKG" >/dev/null 2>&1) || {
	echo "guest: apt-get download $KPKG $BB_PKG failed; check apt sources (apt-get update)" >&2
	exit 1
}
mkdir kpkg bbpkg
dpkg -x debs/linux-image-*.deb kpkg
dpkg -x debs/busybox-static_*.deb bbpkg
KVER=$(ls kpkg/lib/modules | head -n1)
BB=bbpkg/bin/busybox
[ -x "$BB" ] || { echo "guest: busybox-static has no bin/busybox" >&2; exit 1; }

# Module closure: depmod the full tree, then copy only what MODULES need.
"$BB" depmod -b kpkg "$KVER"
declare -A want=()
resolve() {
	local rel line dep
	rel=$(awk -F: -v m="/$1.ko" 'index($1, m) && substr($1, length($1)-length(m)+1) == m {print $1; exit}' "kpkg/lib/modules/$KVER/modules.dep")
	if [ -z "$rel" ]; then
		if grep -q "/$1.ko" "kpkg/lib/modules/$KVER/modules.builtin"; then return 0; fi
		echo "guest: module $1 not found in $KPKG" >&2
		exit 1
	fi
	want[$rel]=1
	line=$(grep "^$rel:" "kpkg/lib/modules/$KVER/modules.dep" | cut -d: -f2)
	for dep in $line; do want[$dep]=1; done
}
for m in "${MODULES[@]}"; do resolve "$m"; done

R=root
mkdir -p $R/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,seed,root,lib/sded,usr/bin,usr/sbin} "$R/lib/modules/$KVER"
for rel in "${!want[@]}"; do
	mkdir -p "$R/lib/modules/$KVER/$(dirname "$rel")"
	cp "kpkg/lib/modules/$KVER/$rel" "$R/lib/modules/$KVER/$rel"
done
cp "kpkg/lib/modules/$KVER"/modules.{builtin,builtin.modinfo,order} "$R/lib/modules/$KVER/"
"$BB" depmod -b "$R" "$KVER"

cp "$BB" $R/bin/busybox
for app in $("$BB" --list); do
	[ "$app" = busybox ] && continue
	ln -sf /bin/busybox "$R/bin/$app"
done
install -m 0755 "$HERE/init" $R/init
install -m 0644 "$HERE/probe-lib.sh" $R/lib/sded/probe-lib.sh
install -m 0755 "$HERE/udhcpc.sh" $R/lib/sded/udhcpc.sh
echo 'root:x:0:0:root:/root:/bin/sh' >$R/etc/passwd
echo 'root:x:0:' >$R/etc/group
echo "sded test guest ($KPKG, busybox $BB_VER)" >$R/etc/sded-guest-release
(cd $R && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9n >initramfs.cpio.gz

# Base disk: an empty ext2 filesystem labelled sded-base, as qcow2.
truncate -s 64M base.raw
"$BB" mke2fs -q -L sded-base base.raw >/dev/null 2>&1 || mke2fs -q -F -L sded-base base.raw
qemu-img convert -q -f raw -O qcow2 base.raw base.qcow2

cp "kpkg/boot/vmlinuz-$KVER" vmlinuz
chmod 0644 vmlinuz initramfs.cpio.gz base.qcow2
mv -f vmlinuz initramfs.cpio.gz base.qcow2 "$DIR/"
echo "$KVER" >"$DIR/kernel-version"
echo "$STAMP" >"$DIR/stamp"
echo "guest: built $DIR (kernel $KVER)"
