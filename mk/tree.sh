#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A git work tree of the patched kernel, for editing files that already exist
# in Linux 7.3.
#
#   tree.sh init   build/tree: pristine 7.3.4 (tag "base") plus one commit per
#                  patch in patches/series (refused if build/tree has work
#                  that is not in patches/; remove build/tree to start over)
#   tree.sh save   write base..HEAD of build/tree back to patches/ and series
#
# New files of the series live in the repository at their kernel paths, not
# here; build/tree holds only the edits to existing files.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
pristine=$build/src/linux-pristine
tree=$build/tree

die() { echo "tree: $*" >&2; exit 1; }

git_t() { git -C "$tree" -c user.name="copy-offload" -c user.email="copy-offload@localhost" "$@"; }

init() {
	[ -d "$pristine" ] || die "no pristine tree; run 'make fetch' first"
	if [ -d "$tree/.git" ]; then
		[ -z "$(git_t status --porcelain)" ] || die "$tree has uncommitted changes"
		git_t reset -q --hard base
	else
		echo "tree: creating $tree (takes a minute)" >&2
		rm -rf "$tree"
		# "$pristine/." so that a pristine tree that is a symlink (to
		# another clone's) is copied, not the link: the git commands
		# below would otherwise write into the pristine tree.
		mkdir -p "$tree"
		cp -a "$pristine/." "$tree"
		rm -f "$tree"/.pristine-*
		git_t init -q
		git_t config gc.auto 0
		git_t config maintenance.auto 0
		git_t add -A -f .
		git_t commit -q -m "Linux 7.3.4 (Debian linux-source-7.3)"
		git_t tag base
	fi
	local p
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		git_t am -q --keep-cr "$top/patches/$p" || die "patches/$p does not apply"
	done <"$top/patches/series"
	echo "tree: $tree at $(git_t rev-list --count base..HEAD) patches" >&2
}

save() {
	[ -d "$tree/.git" ] || die "no $tree; run 'make tree' first"
	[ -z "$(git_t status --porcelain)" ] || die "commit your edits in $tree first"
	rm -f "$top"/patches/*.patch
	git_t format-patch -q -N --no-signature --zero-commit --abbrev=9 -o "$top/patches" base..HEAD >/dev/null
	(cd "$top/patches" && ls -1 ./*.patch | sed 's#^\./##') >"$top/patches/series"
	echo "tree: wrote $(wc -l <"$top/patches/series") patches to patches/" >&2
}

case "${1:-}" in
init) init ;;
save) save ;;
*) die "usage: tree.sh init|save" ;;
esac
