#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Export the series for posting: a `git format-patch` series against Linux
# 7.3 in $BUILD/series, with a cover letter, in the order and grouping of
# patches/series.export (see its header), each new file of the repository
# inside the patch that introduces it.
#
# The commits are made in a scratch bare repository, $BUILD/series-git, that
# borrows the objects of build/tree (tag "base", read-only use) or, without
# build/tree, imports the pristine tree once. Patches are applied to a
# temporary index only: no kernel tree is checked out.
#
# Environment:
#   SERIES_AUTHOR  "Name <email>" of the commits and their Signed-off-by
#                  (default: git config user.name/user.email of this
#                  repository, else the author of its last commit)
#   SERIES_DATE    author and commit date (default: the date of this
#                  repository's last commit, so that an unchanged input gives
#                  the same commits)
#   SERIES_PREFIX  subject prefix (default "PATCH")
#   SERIES_OUT     output directory (default $BUILD/series)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
pristine=$build/src/linux-pristine
tree=$build/tree
repo=$build/series-git
out=${SERIES_OUT:-$build/series}
map=$top/patches/series.export
cover=$top/patches/series.cover
# As in prepare-tree.sh, less tools/: the user-space tools and tests of this
# repository are not part of the kernel series.
OVERLAY_DIRS="arch block Documentation drivers fs include kernel lib mm rust samples"

die() { echo "series: $*" >&2; exit 1; }
log() { echo "series: $*" >&2; }

g() { git --git-dir="$repo" "$@"; }

author=${SERIES_AUTHOR:-}
if [ -z "$author" ]; then
	name=$(git -C "$top" config user.name || true)
	email=$(git -C "$top" config user.email || true)
	if [ -n "$name" ] && [ -n "$email" ]; then
		author="$name <$email>"
	else
		author=$(git -C "$top" log -1 --format='%an <%ae>')
	fi
fi
[[ "$author" =~ ^([^<]*[^<[:space:]])[[:space:]]*\<([^>]+)\>$ ]] ||
	die "SERIES_AUTHOR must look like 'Name <email>', not '$author'"
case "$author" in *copy-offload@localhost*)
	die "set SERIES_AUTHOR: copy-offload@localhost is no author to post as" ;;
esac
export GIT_AUTHOR_NAME=${BASH_REMATCH[1]} GIT_AUTHOR_EMAIL=${BASH_REMATCH[2]}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
date=${SERIES_DATE:-$(git -C "$top" log -1 --format=%cI)}
export GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date
prefix=${SERIES_PREFIX:-PATCH}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GIT_INDEX_FILE=$tmp/index

# --- the scratch repository and its base commit -----------------------------

make_repo() {
	local want=
	if [ -d "$tree/.git" ] && want=$(git -C "$tree" rev-parse -q --verify 'base^{commit}'); then
		if [ "$(cat "$repo/objects/info/alternates" 2>/dev/null)" != "$tree/.git/objects" ] ||
		   [ "$(g rev-parse -q --verify 'base^{commit}' 2>/dev/null)" != "$want" ]; then
			rm -rf "$repo"
			git init -q --bare "$repo"
			echo "$tree/.git/objects" >"$repo/objects/info/alternates"
			g tag base "$want"
		fi
		return
	fi
	if g rev-parse -q --verify 'base^{tree}' >/dev/null 2>&1; then
		return
	fi
	[ -d "$pristine" ] || die "no $tree and no pristine tree; run 'make fetch' first"
	log "importing $pristine into $repo (takes a minute)"
	rm -rf "$repo"
	git init -q --bare "$repo"
	GIT_WORK_TREE=$pristine g add -A -f -- . ':!.pristine-*'
	local t c
	t=$(g write-tree)
	c=$(echo "Linux 7.3.4 (Debian linux-source-7.3)" | g commit-tree "$t")
	g tag base "$c"
}

# --- the map ------------------------------------------------------------------

# Parsed into parallel arrays, one entry per exported patch.
primary=() folds=() subjects=() notes=() messages=() newfiles=()
n=-1
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	line=${line%%$'\r'}
	case "$line" in ''|'#'*) continue ;; esac
	read -r key rest <<<"$line"
	if [ "$key" != patch ] && [ "$n" -lt 0 ]; then
		die "$map:$lineno: '$key' before the first 'patch'"
	fi
	case "$key" in
	patch)
		n=$((n + 1))
		primary[n]=$rest folds[n]='' subjects[n]='' notes[n]='' messages[n]='' newfiles[n]='' ;;
	fold) folds[n]+=" $rest" ;;
	subject) subjects[n]=$rest ;;
	note) notes[n]+="${notes[n]:+ }$rest" ;;
	message) messages[n]=$rest ;;
	new) newfiles[n]+=" $rest" ;;
	*) die "$map:$lineno: unknown keyword '$key'" ;;
	esac
done <"$map"
[ "$n" -ge 0 ] || die "$map names no patch"

# Every patch of patches/series exactly once; every new kernel file exactly
# once. Patches named only in the map (not yet in patches/series) are
# exported with a warning.
series=$(sed -e '/^[[:space:]]*$/d' -e '/^#/d' "$top/patches/series")
mapped=$(for i in $(seq 0 "$n"); do printf '%s\n' ${primary[i]} ${folds[i]}; done)
dups=$(sort <<<"$mapped" | uniq -d)
[ -z "$dups" ] || die "patches named twice in the map: $dups"
missing=$(comm -23 <(sort <<<"$series") <(sort <<<"$mapped"))
[ -z "$missing" ] || die "patches of patches/series missing from the map: $missing"
extra=$(comm -13 <(sort <<<"$series") <(sort <<<"$mapped"))
for p in $extra; do
	log "warning: $p is in the map but not in patches/series"
done
for p in $mapped; do
	[ -f "$top/patches/$p" ] || die "no patches/$p"
done
# shellcheck disable=SC2086
overlay=$(cd "$top" && git ls-files -co --exclude-standard -- $OVERLAY_DIRS |
	while read -r f; do [ -f "$f" ] && echo "$f"; done | sort)
added=$(for i in $(seq 0 "$n"); do printf '%s\n' ${newfiles[i]}; done | sed '/^$/d')
dups=$(sort <<<"$added" | uniq -d)
[ -z "$dups" ] || die "new files named twice in the map: $dups"
missing=$(comm -23 <(echo "$overlay") <(sort <<<"$added"))
[ -z "$missing" ] || die "new files the map does not place:"$'\n'"$missing"
unknown=$(comm -13 <(echo "$overlay") <(sort <<<"$added"))
[ -z "$unknown" ] || die "files in the map that are not new files here:"$'\n'"$unknown"

# --- the commits ----------------------------------------------------------------

make_repo

# A three-way merge needs the blobs each patch was made against, the files
# as patches/series leaves them. build/tree has them; an imported pristine
# tree does not, so write them by applying the series in its own order to a
# scratch index first.
prime_blobs() {
	local p
	GIT_INDEX_FILE=$tmp/prime g read-tree base
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		GIT_INDEX_FILE=$tmp/prime g apply --cached "$top/patches/$p" ||
			die "$p does not apply in the order of patches/series"
	done <"$top/patches/series"
}
prime_blobs

# apply PATCH to $GIT_INDEX_FILE; three-way when the context moved because
# the export order differs from patches/series
apply() {
	local p=$top/patches/$1
	g apply --cached "$p" 2>"$tmp/err" && return
	if g apply --cached --3way "$p" >"$tmp/err3" 2>&1; then
		log "note: $1 needed a three-way merge in export order"
		return
	fi
	cat "$tmp/err" "$tmp/err3" >&2
	die "$1 does not apply in export order"
}

add_new() {
	local f=$1 blob mode=100644
	[ -x "$top/$f" ] && mode=100755
	blob=$(g hash-object -w -- "$top/$f")
	g update-index --add --cacheinfo "$mode,$blob,$f"
}

# split PATCH's mail into $tmp/subj and $tmp/body
mail() {
	g mailinfo -k "$tmp/body" /dev/null <"$top/patches/$1" >"$tmp/info"
	sed -n 's/^Subject: //p' "$tmp/info" | sed 's/^\[PATCH[^]]*\] *//' >"$tmp/subj"
	# strip trailing blank lines
	sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp/body"
}

g read-tree base
parent=$(g rev-parse 'base^{commit}')
for i in $(seq 0 "$n"); do
	for p in ${primary[i]} ${folds[i]}; do
		apply "$p"
	done
	for f in ${newfiles[i]}; do
		add_new "$f"
	done
	if [ -n "${messages[i]}" ]; then
		cp "$top/patches/${messages[i]}" "$tmp/msg"
	else
		mail "${primary[i]}"
		{
			if [ -n "${subjects[i]}" ]; then echo "${subjects[i]}"; else cat "$tmp/subj"; fi
			echo
			cat "$tmp/body"
			for p in ${folds[i]}; do
				mail "$p"
				echo
				echo "[$(cat "$tmp/subj")]"
				echo
				cat "$tmp/body"
			done
			if [ -n "${notes[i]}" ]; then
				echo
				fold -s -w 72 <<<"${notes[i]}" | sed 's/ *$//'
			fi
		} >"$tmp/msg"
	fi
	git interpret-trailers --if-exists addIfDifferent \
		--trailer "Signed-off-by: $GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>" \
		"$tmp/msg" >"$tmp/msg.signed"
	t=$(g write-tree)
	parent=$(g commit-tree "$t" -p "$parent" -F "$tmp/msg.signed")
done
g update-ref refs/heads/series "$parent"

# The last commit must be exactly what `make prepare` builds (less tools/):
# the pristine tree, patches/series (plus map-only patches) and the new files.
g read-tree base
for p in $series $extra; do
	g apply --cached "$top/patches/$p" || die "patches/series: $p does not apply"
done
for f in $overlay; do
	add_new "$f"
done
want=$(g write-tree)
got=$(g rev-parse "$parent^{tree}")
if [ "$want" != "$got" ]; then
	g diff --stat "$want" "$got" >&2
	die "the exported series does not end at the tree of patches/series + new files"
fi

# --- format-patch and the cover letter ---------------------------------------

rm -rf "$out"
mkdir -p "$out"
g format-patch -q --cover-letter --no-signature --base=base \
	--subject-prefix="$prefix" -o "$out" "base..$parent" >/dev/null

cov=$(ls "$out"/0000-cover-letter.patch)
python3 - "$cov" "$cover" "$top/README.md" <<'EOF'
import re, sys
cov, tmpl, readme = sys.argv[1:4]
text = open(tmpl).read()
subject, _, body = text.partition("\n\n")
# The benchmark paragraph of README.md ("Last run (...").
rd = open(readme).read()
m = re.search(r"^Last run \(.*?(?=\n\n)", rd, re.S | re.M)
bench = m.group(0) if m else "(no benchmark results in README.md)"
bench = re.sub(r"`([^`]*)`", r"\1", bench)
body = body.replace("@README_BENCH@", bench).rstrip("\n") + "\n"
c = open(cov).read()
c = c.replace("*** SUBJECT HERE ***", subject.strip(), 1)
c = c.replace("*** BLURB HERE ***", body.rstrip("\n"), 1)
open(cov, "w").write(c)
EOF
grep -q '\*\*\* .* HERE \*\*\*' "$cov" && die "cover letter template not applied"

count=$(find "$out" -name '[0-9]*.patch' ! -name '0000-*' | wc -l)
log "wrote $count patches and a cover letter to $out (author $GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>)"
(cd "$out" && ls -1)
