#!/usr/bin/env bash
# Builds the sded Debian or RPM package into dist/.
#
#   bash packaging/build.sh deb    -> dist/sded_<version>-1_amd64.deb
#   bash packaging/build.sh rpm    -> dist/sded-<version>-1.x86_64.rpm
#
# It prints the package's path on standard output (everything else goes to
# standard error). SDED_DIST_DIR puts the package elsewhere than dist/.
#
# The version comes from git: a tag vX.Y.Z gives X.Y.Z; any other commit gives
# 0.0~git<commit time>.<hash> (sorting by commit time, so a later build always
# upgrades an earlier one). SDED_VERSION overrides it. nfpm is built from the
# separate module in packaging/tools (pinned there, kept out of sded's go.mod)
# and cached in bin/nfpm.
set -euo pipefail

kind=${1:-}
case "$kind" in
deb | rpm) ;;
*)
	echo "usage: bash packaging/build.sh deb|rpm" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}

version=${SDED_VERSION:-}
if [ -z "$version" ]; then
	if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
		version=${tag#v}
	else
		version="0.0~git$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S).$(git rev-parse --short=7 HEAD)"
	fi
	if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		version="$version+dirty"
	fi
fi
if ! [[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
	echo "build.sh: version \"$version\" is not valid: it must start with a digit and use only letters, digits, '.', '+' and '~'" >&2
	exit 2
fi
release=1
export SDED_VERSION=$version

dist=${SDED_DIST_DIR:-dist}
stage=$dist/.stage-$kind
rm -rf "$stage"
mkdir -p "$stage"

# 1. sded itself, stamped with the package version, built as Debian and Fedora
# build their own binaries: position-independent, full RELRO, no debug
# symbols (Go keeps its own symbol table, so panics still show stack traces).
# Built into the staging directory, so that bin/sded (make build) is left as is.
GOFLAGS="${GOFLAGS:-} -buildmode=pie" make --no-print-directory build VERSION="$version-$release" BIN="$stage/sded" \
	LDFLAGS="-s -w -X main.version=$version-$release -linkmode=external -extldflags=-Wl,-z,relro,-z,now" >&2

# 2. nfpm, rebuilt only when its pin changes.
nfpm=bin/nfpm
if [ ! -x "$nfpm" ] || [ packaging/tools/go.mod -nt "$nfpm" ] || [ packaging/tools/go.sum -nt "$nfpm" ]; then
	echo "build.sh: building nfpm from packaging/tools" >&2
	(cd packaging/tools && "$GO" build -o ../../bin/nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm)
fi

# 3. Generated files: man page (compressed), changelog, shared-library dependencies.
gzip -9n <packaging/sded.8 >"$stage/sded.8.gz"

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
packager="sded maintainers <maintainers@sded.example.org>"
{
	cat <<YAML
- semver: "$version-$release"
  date: $date
  packager: $packager
  deb:
    urgency: medium
    distributions: [stable]
  changes:
    - commit: $commit
      note: "Build of commit ${commit:0:12}; see the project's git history for changes."
YAML
	# Earlier released entries, newest first (hand-written, YAML list items).
	cat packaging/changelog.yml
} >"$stage/changelog.yml"

# Debian: the library versions the binary really needs (libc6, libvirt0), as
# dpkg-shlibdeps computes them; a plain list when dpkg-dev is absent.
shlibs="libc6, libvirt0"
if command -v dpkg-shlibdeps >/dev/null; then
	tmp=$(mktemp -d)
	mkdir -p "$tmp/debian"
	printf 'Source: sded\n\nPackage: sded\nArchitecture: amd64\n' >"$tmp/debian/control"
	if out=$(cd "$tmp" && dpkg-shlibdeps -O "$root/$stage/sded" 2>/dev/null); then
		shlibs=${out#shlibs:Depends=}
	fi
	rm -rf "$tmp"
fi
export SDED_SHLIBS_DEPENDS=$shlibs

# RPM: the soname requirements rpmbuild would generate (libc.so.6(GLIBC_2.34)
# and, once sded links it, libvirt.so.0), from rpm's own elfdeps; each becomes
# one Requires line of the rendered nfpm.yaml.
reqs=""
if [ "$kind" = rpm ]; then
	elfdeps=/usr/lib/rpm/elfdeps
	[ -x "$elfdeps" ] || elfdeps=/usr/lib/rpm/rpmdeps
	if [ -x "$elfdeps" ]; then
		reqs=$(echo "$stage/sded" | "$elfdeps" --requires | grep -v '^rtld(' || true)
	else
		echo "build.sh: rpm's elfdeps not found (apt-get install rpm); the RPM will not require its shared libraries by soname" >&2
	fi
fi

# nfpm.yaml rendered: staging paths and the RPM requirements filled in.
config=$stage/nfpm.yaml
awk -v reqs="$reqs" -v stage="$stage" '
		/# @RPM_ELF_REQUIRES@/ {
			n = split(reqs, r, "\n")
			for (i = 1; i <= n; i++) if (r[i] != "") printf "      - \"%s\"\n", r[i]
			next
		}
		{ gsub("dist/.stage", stage); print }
	' packaging/nfpm.yaml >"$config"

# 4. The package.
case "$kind" in
deb) target="$dist/sded_${version}-${release}_amd64.deb" ;;
rpm) target="$dist/sded-${version}-${release}.x86_64.rpm" ;;
esac
rm -f "$target"
"$nfpm" package --config "$config" --packager "$kind" --target "$target" >&2
echo "$target"
