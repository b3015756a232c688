#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch Debian's linux-source package at the pinned version, check its sha256
# and unpack a pristine kernel tree into $1 (default build/src/linux-pristine).
#
# apt runs against a private sources list and state directory, so the
# machine's own apt state is left alone. The mirror comes from the machine's
# apt configuration.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
build=${BUILD:-$here/../build}
dest=${1:-$build/src/linux-pristine}
dl=$build/dl

die() { echo "fetch-kernel: $*" >&2; exit 1; }

[ -f "$dest/.pristine-$LINUX_SOURCE_DEB_VERSION" ] && exit 0

mkdir -p "$dl"
deb=$dl/${LINUX_SOURCE_PKG}_${LINUX_SOURCE_DEB_VERSION//:/%3a}_all.deb

if [ ! -f "$deb" ] || ! echo "$LINUX_SOURCE_SHA256  $deb" | sha256sum -c --status; then
	uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || die "cannot find the Debian mirror in the apt configuration"
	apt_dir=$dl/apt
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	echo "deb $uri $LINUX_SOURCE_SUITE main" >"$apt_dir/sources.list"
	opts=(-o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
	      -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
	      -o APT::Sandbox::User=root)
	echo "fetch-kernel: downloading $LINUX_SOURCE_PKG=$LINUX_SOURCE_DEB_VERSION from $LINUX_SOURCE_SUITE" >&2
	apt-get -qq "${opts[@]}" update >/dev/null || die "apt-get update of $LINUX_SOURCE_SUITE failed"
	(cd "$dl" && apt-get -qq "${opts[@]}" download "$LINUX_SOURCE_PKG=$LINUX_SOURCE_DEB_VERSION") ||
		die "$LINUX_SOURCE_PKG $LINUX_SOURCE_DEB_VERSION is no longer served by $LINUX_SOURCE_SUITE"
	[ -f "$deb" ] || deb=$(ls "$dl"/${LINUX_SOURCE_PKG}_*_all.deb | head -n1)
	got=$(sha256sum "$deb" | cut -d' ' -f1)
	[ "$got" = "$LINUX_SOURCE_SHA256" ] ||
		die "$deb: sha256 $got, expected $LINUX_SOURCE_SHA256 (package changed on the mirror?)"
fi

echo "fetch-kernel: unpacking into $dest" >&2
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$LINUX_SOURCE_PKG.tar.xz" |
	tar -xJ -C "$dest.tmp" --strip-components=1
grep -q "^VERSION = ${LINUX_VERSION%%.*}\$" "$dest.tmp/Makefile" || die "unexpected kernel version in the package"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
touch "$dest/.pristine-$LINUX_SOURCE_DEB_VERSION"
