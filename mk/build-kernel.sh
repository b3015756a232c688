#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Configure and build build/linux into build/obj-$1 (check or bench).
# The configuration is regenerated only when a fragment changes, and every
# option a fragment asks for is checked to have stuck.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
flavor=${1:?usage: build-kernel.sh check|bench}
linux=$build/linux
obj=$build/obj-$flavor
fragments=("$top/configs/base.config" "$top/configs/$flavor.config")

die() { echo "build-kernel: $*" >&2; exit 1; }

. "$here/kbuild-env.sh"
kbuild_env "$build" "$linux" "$obj"

mkdir -p "$obj" "$CCACHE_DIR"
want=$(cat "${fragments[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$obj/.config" ] || [ "$(cat "$obj/.fragments" 2>/dev/null)" != "$want" ]; then
	echo "build-kernel: configuring $flavor kernel" >&2
	"${kmake[@]}" -s allnoconfig
	(cd "$linux" && scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" \
		kernel/configs/kvm_guest.config "${fragments[@]}" >/dev/null)
	"${kmake[@]}" -s olddefconfig
	missing=
	while read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qxF "$line" "$obj/.config" || missing+=" $line" ;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }; opt=${opt%% *}
			grep -q "^$opt=" "$obj/.config" && missing+=" $opt=n" ;;
		esac
	done < <(cat "${fragments[@]}" | awk '
		# The last setting of each option wins, as in merge_config.sh.
		/^CONFIG_[A-Za-z0-9_]*=/ { opt = $0; sub(/=.*/, "", opt) }
		/^# CONFIG_[A-Za-z0-9_]* is not set/ { opt = $2 }
		opt != "" { if (!(opt in last)) order[n++] = opt; last[opt] = $0; opt = "" }
		END { for (i = 0; i < n; i++) print last[order[i]] }')
	[ -z "$missing" ] || die "options that did not stick (unmet dependencies?):$missing"
	echo "$want" >"$obj/.fragments"
fi
"${kmake[@]}" -s
[ -f "$obj/arch/x86/boot/bzImage" ] || die "no bzImage"
