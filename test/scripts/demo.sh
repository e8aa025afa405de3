#!/usr/bin/env bash
# make demo: a single-node sded with a demo project and a running
# workstation, in .cache/demo. Run again to reuse it; to start over, `virsh
# destroy` the sded-* domains, `umount .cache/demo/shared` and `rm -rf .cache/demo`.
set -euo pipefail
BIN=$(realpath "$1")
GUEST=$(realpath "$2")
DEMO=$(realpath -m .cache/demo)
CONF=$DEMO/sded.conf
TYPE=${DEMO_DOMAIN_TYPE:-qemu}
LISTEN=${DEMO_LISTEN:-127.0.0.1:8443}
mkdir -p "$DEMO"
chmod 0711 "$DEMO"

# Projects' shared folders need a filesystem with encryption enabled (ext4
# with the "encrypt" feature); a fresh host's root filesystem usually lacks it.
# The demo keeps them on a sparse 2 GiB ext4 image of its own, loop-mounted.
SHARED=$DEMO/shared
mkdir -p "$SHARED"
if ! mountpoint -q "$SHARED"; then
	if [ ! -f "$DEMO/shared.img" ]; then
		truncate -s 2G "$DEMO/shared.img"
		mkfs.ext4 -q -F -O encrypt "$DEMO/shared.img"
	fi
	mount -o loop "$DEMO/shared.img" "$SHARED"
fi

cat > "$CONF" <<CONF
# Demo configuration written by test/scripts/demo.sh (see packaging/config/sded.conf for every key).
[node]
id = demo
data_dir = $DEMO/data
[cluster]
bind = 127.0.0.1:7946
[ui]
listen = $LISTEN
[storage]
shared_dir = $SHARED/folders
[hypervisor]
# qemu = software emulation, works inside VMs without nested KVM; kvm on bare metal.
domain_type = $TYPE
[flavour.demo]
vcpu = 1
memory = 512MiB
disk = 1GiB
[flavour.small]
vcpu = 2
memory = 2GiB
disk = 10GiB
CONF
"$BIN" config check --config "$CONF"

SOCK=$DEMO/data/sded.sock
if [ -S "$SOCK" ] && "$BIN" node list --config "$CONF" >/dev/null 2>&1; then
	echo "demo: sded is already running"
	SERVE_PID=""
else
	rm -f "$SOCK"
	"$BIN" serve --config "$CONF" >"$DEMO/sded.log" 2>&1 &
	SERVE_PID=$!
	trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; wait 2>/dev/null; echo; echo "demo: sded stopped (workstations keep running; see README)"' EXIT
	for _ in $(seq 1 100); do
		[ -S "$SOCK" ] && break
		kill -0 "$SERVE_PID" 2>/dev/null || { echo "demo: sded failed to start:"; tail -20 "$DEMO/sded.log"; exit 1; }
		sleep 0.2
	done
	[ -S "$SOCK" ] || { echo "demo: sded did not start; see $DEMO/sded.log"; exit 1; }
fi
S() { local g=$1 a=$2; shift 2; "$BIN" "$g" "$a" --config "$CONF" "$@"; }

CREDS=$DEMO/credentials
if [ ! -f "$CREDS" ]; then
	umask 077
	{
		echo "ADMIN_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
		echo "ALICE_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
		echo "CHECKER_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
	} >"$CREDS"
fi
# shellcheck disable=SC1090
. "$CREDS"
exists() { S "$1" list --as admin 2>/dev/null | awk 'NR>1{print $1}' | grep -qx -- "$2"; }

if ! S user list --as admin >/dev/null 2>&1; then
	echo "$ADMIN_PASSWORD" | S user add --admin --name "Demo Admin" --password-file - admin
fi
exists user alice || echo "$ALICE_PASSWORD" | S user add --as admin --name "Alice Researcher" --password-file - alice
exists user checker || echo "$CHECKER_PASSWORD" | S user add --as admin --name "Olu Output-Checker" --password-file - checker
if ! exists project demo; then
	S project add --as admin --name "Demo cardiology cohort" --approval DAC-2026-0042 --dsa DSA-NHS-2026-17 \
		--expires "$(date -d '+1 year' +%F)" --tier 2 --owner alice demo
	S project member-add --as admin demo checker output_checker
fi
if ! exists image test-guest; then
	S image add --as admin --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz" \
		--cmdline "console=tty0 console=ttyS0,115200 quiet" test-guest "$GUEST/base.qcow2"
fi
if ! S workstation list --as alice demo | awk 'NR>1{print $2}' | grep -qx alice-ws1; then
	S workstation add --as alice --image test-guest --flavour demo demo alice-ws1
fi

printf 'demo: waiting for the workstation to run'
for _ in $(seq 1 90); do
	st=$(S workstation list --as alice demo | awk '$2=="alice-ws1"{print $4}')
	[ "$st" = running ] && break
	printf '.'
	sleep 2
done
echo
S workstation list --as alice demo

cat <<MSG

  sded demo is up.

  Browser:  https://$LISTEN   (self-signed certificate: accept it, or see docs/ui.md)
            From another machine: ssh -L 8443:$LISTEN root@THIS-HOST, then https://127.0.0.1:8443

  Log in as      password
    admin        $ADMIN_PASSWORD      platform admin (users, projects, images, audit)
    alice        $ALICE_PASSWORD      researcher, owner of project "demo", workstation alice-ws1
    checker      $CHECKER_PASSWORD      output checker of project "demo"

  Two-factor login is mandatory: at first login each user scans a QR code with an
  authenticator app (or types the manual key shown; \`oathtool --totp -b KEY\` prints a code).
  Then open project "demo", workstation alice-ws1, "Open desktop".

  Command line (as root):  $BIN workstation list --config $CONF --as alice demo
  Passwords are kept in $CREDS; the daemon's log is $DEMO/sded.log.
MSG
if [ -n "$SERVE_PID" ]; then
	echo "  Press Ctrl-C to stop sded."
	wait "$SERVE_PID"
fi
