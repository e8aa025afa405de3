# Helpers for probe scripts, sourced by the test guest's init before the seed's
# sded-probe.sh. Keep them POSIX sh (busybox ash).

# result KEY VALUE prints one machine-readable result line on the console.
result() { echo "SDED-PROBE-RESULT $1=$2"; }

# disk_by_serial SERIAL prints /dev/vdX for the virtio disk whose libvirt
# <serial> is SERIAL, or fails.
disk_by_serial() {
	for d in /sys/block/vd*; do
		[ -f "$d/serial" ] || continue
		if [ "$(cat "$d/serial")" = "$1" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}

# mount_disk SERIAL DIR mounts the disk with that serial at DIR, creating an
# ext2 filesystem first when the disk has none.
mount_disk() {
	dev=$(disk_by_serial "$1") || return 1
	mkdir -p "$2"
	mount -t ext4 "$dev" "$2" 2>/dev/null && return 0
	mke2fs -q "$dev" >/dev/null 2>&1 || return 1
	mount -t ext4 "$dev" "$2"
}
