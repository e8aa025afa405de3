#!/usr/bin/env bash
# Fetches the browser desktop client, noVNC, from its npm package into
# ui/static/vendor/novnc (gitignored), where go:embed picks it up. Run from the
# repository root by `make deps` / `make build`; idempotent. Without it sded still
# builds and runs, and the desktop page says noVNC is absent.
set -euo pipefail

NOVNC_VERSION=1.7.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/../static/vendor/novnc"

if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$NOVNC_VERSION" ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "fetch: npm is not installed (apt-get install npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# npm pack verifies the tarball against the registry's integrity hash.
(cd "$tmp" && npm pack --silent "@novnc/novnc@$NOVNC_VERSION" >/dev/null)
tar -xzf "$tmp"/novnc-novnc-"$NOVNC_VERSION".tgz -C "$tmp"
rm -rf "$dest.new"
mkdir -p "$dest.new"
cp -r "$tmp/package/core" "$tmp/package/vendor" "$tmp/package/LICENSE.txt" "$dest.new/"
echo "$NOVNC_VERSION" >"$dest.new/VERSION"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "fetch: noVNC $NOVNC_VERSION in ui/static/vendor/novnc"
