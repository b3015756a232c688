#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the exported series ($BUILD/series, written by mk/series.sh) the way
# a maintainer would: apply it patch by patch onto pristine 7.3.4 and, after
# each patch, build the kernel and run scripts/checkpatch.pl --strict,
# rustfmt on the Rust files it touches and kernel-doc -Wall on the C files it
# touches. At the end: `make rustfmtcheck`, W=1 on every C file the series
# touches compared with the same files before the series, and the block
# documentation with Sphinx when it is installed. Prints one line per patch
# and a verdict; exits non-zero on any failure.
#
#   series-check.sh [--no-build]
#
# --no-build applies the patches to a git index only (no tree is checked
# out), and runs checkpatch, rustfmt and kernel-doc: everything but the
# builds. Without it the series is applied with `git am` in
# $BUILD/series-check/linux (a work tree of $BUILD/series-git, reset to
# "base" at the start) and built into one object directory,
# $BUILD/obj-series, reused across patches and runs, through ccache; the
# config is allnoconfig + configs/series.config, merged again after every
# patch so that options appear as their patch defines them. The first run
# builds the base kernel once to know its warnings; a warning the base
# build does not have fails the patch that brought it.
#
# Environment: SERIES_OUT (the series, default $BUILD/series), JOBS.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
pristine=$build/src/linux-pristine
repo=$build/series-git
series=${SERIES_OUT:-$build/series}
chk=$build/series-check
wt=$chk/linux
obj=$build/obj-series
logs=$chk/logs
fragment=$top/configs/series.config
RUSTFMT=${RUSTFMT:-$HOME/.cargo/bin/rustfmt}

die() { echo "series-check: $*" >&2; exit 2; }
log() { echo "series-check: $*" >&2; }
g() { git --git-dir="$repo" "$@"; }

nobuild=0
case "${1:-}" in
--no-build) nobuild=1 ;;
'') ;;
*) die "usage: series-check.sh [--no-build]" ;;
esac

[ -d "$pristine" ] || die "no pristine tree; run 'make fetch'"
g rev-parse -q --verify 'base^{commit}' >/dev/null || die "no $repo; run 'make series'"
patches=()
for p in "$series"/[0-9][0-9][0-9][0-9]-*.patch; do
	case "$p" in */0000-cover-letter.patch|*'*'*) ;; *) patches+=("$p") ;; esac
done
[ "${#patches[@]}" -gt 0 ] || die "no patches in $series; run 'make series'"

rm -rf "$logs"
mkdir -p "$logs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the tree the patches are applied to ----------------------------------------

if [ "$nobuild" = 1 ]; then
	export GIT_INDEX_FILE=$tmp/index
	g read-tree base
	src=$pristine                      # scripts/ (checkpatch, kernel-doc) of 7.3
	apply_patch() { g apply --cached "$1"; }
	# content of PATH in the tree as it is now
	show() { g show ":$1" 2>/dev/null; }
else
	if [ ! -e "$wt/.git" ]; then
		log "checking out base into $wt (once; takes a minute)"
		mkdir -p "$chk"
		g worktree prune
		g worktree add -q --detach "$wt" base
	fi
	git -C "$wt" am --abort >/dev/null 2>&1 || true
	git -C "$wt" checkout -q --detach base
	git -C "$wt" reset -q --hard base
	git -C "$wt" clean -q -fdx
	src=$wt
	apply_patch() {
		git -C "$wt" -c user.name=series-check -c user.email=series-check@localhost \
			am -q --keep-cr "$1"
	}
	show() { cat "$wt/$1" 2>/dev/null; }
fi
checkpatch=$src/scripts/checkpatch.pl
kerneldoc=$src/scripts/kernel-doc

touched() { sed -n 's#^+++ b/##p' "$1" | sed 's/\t.*//' | sort -u; }

# --- the build --------------------------------------------------------------------

if [ "$nobuild" = 0 ]; then
	. "$here/kbuild-env.sh"
	kbuild_env "$build" "$wt" "$obj"
	mkdir -p "$obj"
fi

# Options of the fragment that the current tree's config lacks.
config_missing() {
	local line missing=
	while read -r line; do
		case "$line" in CONFIG_*=*) grep -qxF "$line" "$obj/.config" || missing+=" $line" ;; esac
	done <"$fragment"
	echo "$missing"
}

configure() {
	[ -f "$obj/.config" ] || "${kmake[@]}" -s allnoconfig >/dev/null
	(cd "$wt" && scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$fragment" >/dev/null)
	"${kmake[@]}" -s olddefconfig >/dev/null
}

# Warnings of a build log, one line each, without line numbers, so that a
# warning moved by a patch is the same warning.
warnings() {
	awk '
	/^warning: [0-9]+ warnings? emitted/ { next }
	/^(warning|error): / { pending = $0; next }
	pending != "" && /^ *--> / {
		f = $2; sub(/:[0-9]+:[0-9]+$/, "", f); print f ": " pending; pending = ""; next }
	{ pending = "" }
	/^[^ :]+:[0-9]+:[0-9]+: warning: / {
		f = $1; sub(/:[0-9]+:[0-9]+:$/, "", f); m = $0; sub(/^[^ ]+ warning: /, "", m)
		print f ": warning: " m; next }
	/^[^ :]+: warning: / || /^WARNING: / { l = $0; gsub(/\+0x[0-9a-f]+/, "", l); print l }
	' "$1" | sed 's#^\.\./##' | sort -u
}

build_step() { # NAME: build, log in $logs/NAME.build; prints ok/FAIL and new warnings
	local name=$1 rc=0
	configure >"$logs/$name.config" 2>&1 || { echo "FAIL(config)"; return; }
	"${kmake[@]}" >"$logs/$name.build" 2>&1 || rc=$?
	warnings "$logs/$name.build" >"$logs/$name.warnings"
	comm -23 "$logs/$name.warnings" "$chk/base.warnings" >"$logs/$name.new-warnings" || true
	local nw
	nw=$(wc -l <"$logs/$name.new-warnings")
	if [ "$rc" != 0 ]; then echo "FAIL"
	elif [ "$nw" != 0 ]; then echo "warn:$nw"
	else echo "ok"; fi
}

# --- per-patch checks that need no build ---------------------------------------------

# Messages checkpatch gives that are accepted, as TYPE or TYPE@path-prefix:
# a new file under a directory MAINTAINERS already covers, the usual layout
# of TRACE_EVENT() in trace headers, and the commit id of a Fixes: tag,
# which the tree here (a release's source, without git history) cannot know.
CHECKPATCH_ACCEPT="FILE_PATH_CHANGES OPEN_ENDED_LINE@include/trace/events/
PARENTHESIS_ALIGNMENT@include/trace/events/ UNKNOWN_COMMIT_ID"

checkpatch_step() { # PATCH NAME
	(cd "$tmp" && perl "$checkpatch" --strict --no-tree --show-types --color=never "$1") \
		>"$logs/$2.checkpatch" 2>&1 || true
	grep -qE '^total: [0-9]+ errors' "$logs/$2.checkpatch" || { echo "FAIL(no result)"; return; }
	awk -v accept="$CHECKPATCH_ACCEPT" '
	function flush() {
		if (level == "") return
		ok = 0
		for (i in acc) {
			split(acc[i], a, "@")
			if (a[1] == type && (a[2] == "" || index(file, a[2]) == 1)) ok = 1
		}
		if (ok) ign++; else n[level]++
		level = ""
	}
	BEGIN { split(accept, acc, /[ \n]+/) }
	/^(ERROR|WARNING|CHECK):[A-Z_]+:/ {
		flush(); split($0, f, ":"); level = f[1]; type = f[2]; file = ""; next }
	level != "" && /^#[0-9]+: FILE: / { file = $3; sub(/:[0-9]+:?$/, "", file) }
	END {
		flush()
		e = n["ERROR"] + 0; w = n["WARNING"] + 0; c = n["CHECK"] + 0
		r = (e + w + c == 0) ? "ok" : e "E/" w "W/" c "C"
		if (ign) r = r "(" ign "acc)"
		print r
	}' "$logs/$2.checkpatch"
}

rustfmt_step() { # PATCH NAME
	local f bad=0 n=0 root=$wt t
	if [ "$nobuild" = 1 ]; then
		# rustfmt follows `mod` declarations: give it the directories
		root=$tmp/fmt
		rm -rf "$root"
		mkdir -p "$root"
		t=$(g write-tree)
		for f in $(touched "$1" | grep '\.rs$' || true); do
			g archive --format=tar "$t" -- "$(dirname "$f")" 2>/dev/null | tar -x -C "$root"
		done
	fi
	for f in $(touched "$1" | grep '\.rs$' || true); do
		[ -f "$root/$f" ] || continue
		n=$((n + 1))
		if ! "$RUSTFMT" --check --color never --edition 2021 --config-path "$pristine/.rustfmt.toml" \
			"$root/$f" >>"$logs/$2.rustfmt" 2>&1; then
			echo "$f" >>"$logs/$2.rustfmt"
			bad=$((bad + 1))
		fi
	done
	if [ "$n" = 0 ]; then echo "-"; elif [ "$bad" = 0 ]; then echo "ok"; else echo "FAIL:$bad"; fi
}

# kernel-doc -Wall on the C files a patch touches, before and after it; new
# warnings (without line numbers) count.
kdoc_save() { # PATCH DIR
	local f
	rm -rf "$2"
	for f in $(touched "$1" | grep -E '\.[ch]$' || true); do
		mkdir -p "$2/$(dirname "$f")"
		show "$f" >"$2/$f" || rm -f "$2/$f"
	done
}
kdoc_run() { # DIR
	[ -d "$1" ] || return 0
	(cd "$1" && find . -name '*.[ch]' | sed 's#^\./##' | sort |
		xargs -r "$kerneldoc" -none -Wall 2>&1) |
		sed -E 's/:[0-9]+:? / /; s/ line [0-9]+//' | sort -u
}
kdoc_step() { # PATCH NAME
	[ -d "$tmp/kd-after" ] || { echo "-"; return; }
	kdoc_run "$tmp/kd-before" >"$tmp/kd.b"
	kdoc_run "$tmp/kd-after" >"$tmp/kd.a"
	comm -13 "$tmp/kd.b" "$tmp/kd.a" >"$logs/$2.kernel-doc"
	local n
	n=$(grep -c . "$logs/$2.kernel-doc" || true)
	if [ "$n" = 0 ]; then echo "ok"; else echo "warn:$n"; fi
}

# --- run --------------------------------------------------------------------------

fail=0
rows=()
if [ "$nobuild" = 0 ]; then
	log "building base (logs in $logs)"
	mkdir -p "$chk"
	: >"$chk/base.warnings"
	case "$(build_step base)" in
	FAIL*) die "the base kernel does not build, see $logs/base.build" ;;
	esac
	cp "$logs/base.warnings" "$chk/base.warnings"
	# W=1 baseline of the C files the series touches that exist in 7.3
	cfiles=$(cat "${patches[@]}" | sed -n 's#^+++ b/##p' | grep '\.c$' | sort -u)
	wobjs() { for f in $cfiles; do
		[ -f "$wt/$f" ] || continue
		case "$f" in rust/helpers/*) echo rust/helpers/helpers.o ;; *) echo "${f%.c}.o" ;; esac
	done | sort -u; }
	# shellcheck disable=SC2046
	"${kmake[@]}" -k W=1 $(wobjs) >"$logs/w1-base.build" 2>&1 || true
	warnings "$logs/w1-base.build" >"$chk/w1-base.warnings"
fi

aborted=0
for p in "${patches[@]}"; do
	name=$(basename "$p" .patch)
	short=${name:0:4}
	if [ "$aborted" = 1 ]; then
		rows+=("$short|skipped|-|-|-|-|${name:5}")
		continue
	fi
	kdoc_save "$p" "$tmp/kd-before"
	if apply_patch "$p" >"$logs/$name.apply" 2>&1; then
		applies=ok
	else
		applies=FAIL aborted=1 fail=1
		rows+=("$short|FAIL|-|-|-|-|${name:5}")
		continue
	fi
	kdoc_save "$p" "$tmp/kd-after"
	cp_res=$(checkpatch_step "$p" "$name")
	fmt_res=$(rustfmt_step "$p" "$name")
	kd_res=$(kdoc_step "$p" "$name")
	if [ "$nobuild" = 1 ]; then
		b_res=skipped
	else
		log "building after $name"
		b_res=$(build_step "$name")
	fi
	case "$cp_res" in ok|"ok("*) ;; *) fail=1 ;; esac
	case "$fmt_res" in ok|-) ;; *) fail=1 ;; esac
	case "$kd_res" in ok|-) ;; *) fail=1 ;; esac
	case "$b_res" in ok|skipped) ;; *) fail=1 ;; esac
	rows+=("$short|$applies|$b_res|$cp_res|$fmt_res|$kd_res|${name:5}")
done

# --- whole-series checks ---------------------------------------------------------------

finals=()
if [ "$aborted" = 0 ]; then
	# kernel-doc on every new C file and header of the series
	newc=$(cat "${patches[@]}" | awk '/^diff --git/ { f = $4; sub(/^b\//, "", f) }
		/^new file mode/ && f ~ /\.[ch]$/ { print f }' | sort -u)
	rm -rf "$tmp/kd-new"
	for f in $newc; do
		mkdir -p "$tmp/kd-new/$(dirname "$f")"
		show "$f" >"$tmp/kd-new/$f"
	done
	kdoc_run "$tmp/kd-new" >"$logs/kernel-doc-new-files"
	n=$(grep -c . "$logs/kernel-doc-new-files" || true)
	finals+=("kernel-doc -Wall, new C files and headers ($(wc -w <<<"$newc") files): $n warnings")
	[ "$n" = 0 ] || fail=1

	if [ "$nobuild" = 0 ]; then
		missing=$(config_missing)
		finals+=("config: options of configs/series.config that did not stick:${missing:- none}")
		[ -z "$missing" ] || fail=1

		if "${kmake[@]}" rustfmtcheck >"$logs/rustfmtcheck" 2>&1; then
			finals+=("make rustfmtcheck: ok")
		else
			finals+=("make rustfmtcheck: FAIL ($logs/rustfmtcheck)"); fail=1
		fi

		# shellcheck disable=SC2046
		"${kmake[@]}" -k W=1 $(wobjs) >"$logs/w1-series.build" 2>&1 || true
		warnings "$logs/w1-series.build" >"$chk/w1-series.warnings"
		comm -13 "$chk/w1-base.warnings" "$chk/w1-series.warnings" >"$logs/w1-new"
		n=$(grep -c . "$logs/w1-new" || true)
		finals+=("W=1, $(wobjs | wc -l) objects of touched C files: $n new warnings")
		[ "$n" = 0 ] || fail=1

		if command -v sphinx-build >/dev/null; then
			"${kmake[@]}" PYTHON3=/usr/bin/python3 SPHINXDIRS=block htmldocs \
				>"$logs/htmldocs" 2>&1 || true
			n=$(grep -c 'copy-offload.rst.*\(WARNING\|ERROR\)' "$logs/htmldocs" || true)
			finals+=("Sphinx (SPHINXDIRS=block htmldocs): $n warnings in copy-offload.rst")
			[ "$n" = 0 ] || fail=1
		else
			finals+=("Sphinx: not installed (apt-get install python3-sphinx python3-yaml), skipped")
		fi
	fi
fi

# --- report ------------------------------------------------------------------------------

printf '\n%-5s %-8s %-9s %-11s %-8s %-10s %s\n' patch applies builds checkpatch rustfmt kernel-doc subject
for r in "${rows[@]}"; do
	IFS='|' read -r a b c d e f s <<<"$r"
	printf '%-5s %-8s %-9s %-11s %-8s %-10s %s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$s"
done
echo
for f in "${finals[@]}"; do echo "$f"; done
echo "logs: $logs"
if [ "$nobuild" = 1 ]; then
	echo "(--no-build: no build, W=1, rustfmtcheck or htmldocs)"
fi
if [ "$fail" = 0 ]; then
	echo "verdict: PASS (${#patches[@]} patches)"
else
	echo "verdict: FAIL"
	exit 1
fi
