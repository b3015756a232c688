#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Make build/linux = pristine 7.3.4 + patches/series + the new files of this
# repository, which sit at their kernel paths below the directories named in
# OVERLAY_DIRS.
#
# Only files whose content changes are written, so make rebuilds only what
# depends on them; files no longer touched are restored from the pristine
# tree.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
pristine=$build/src/linux-pristine
linux=$build/linux
stage=$build/stage
list=$linux/.copy-offload-files

die() { echo "prepare-tree: $*" >&2; exit 1; }

[ -d "$pristine" ] || die "no pristine tree in $pristine"
if [ ! -d "$linux" ]; then
	echo "prepare-tree: copying the pristine tree to $linux" >&2
	cp -a "$pristine" "$linux.tmp"
	mv "$linux.tmp" "$linux"
fi

rm -rf "$stage"
mkdir -p "$stage"

# Patched files: start from the pristine copy, apply the series in order.
patches=()
while read -r p; do
	case "$p" in ''|'#'*) continue ;; esac
	patches+=("$top/patches/$p")
done <"$top/patches/series"
touched=$( (for p in "${patches[@]}"; do
	sed -n 's#^+++ b/##p; s#^--- a/##p' "$p"; done) | sed 's/\t.*//' | sort -u)
for f in $touched; do
	[ -f "$pristine/$f" ] || continue
	mkdir -p "$stage/$(dirname "$f")"
	cp "$pristine/$f" "$stage/$f"
done
for p in "${patches[@]}"; do
	patch -p1 -s -d "$stage" --no-backup-if-mismatch -r - <"$p" >/dev/null ||
		die "$(basename "$p") does not apply"
done

# New files, at their kernel paths.
OVERLAY_DIRS="arch block Documentation drivers fs include kernel lib mm rust samples tools"
# shellcheck disable=SC2086
overlay=$(cd "$top" && git ls-files -co --exclude-standard -- $OVERLAY_DIRS)
for f in $overlay; do
	[ -f "$top/$f" ] || continue
	[ -e "$stage/$f" ] && die "$f is both a new file and patched; keep it in one place"
	mkdir -p "$stage/$(dirname "$f")"
	cp "$top/$f" "$stage/$f"
done

# Write what changed; keep the mtime of everything else.
rsync -rc --chmod=u+w "$stage/" "$linux/"
now=$(cd "$stage" && find . -type f | sed 's#^\./##' | sort)
if [ -f "$list" ]; then
	comm -23 "$list" <(echo "$now") | while read -r f; do
		if [ -f "$pristine/$f" ]; then
			cmp -s "$pristine/$f" "$linux/$f" || cp "$pristine/$f" "$linux/$f"
		else
			rm -f "$linux/$f"
		fi
	done
fi
echo "$now" >"$list"
rm -rf "$stage"
