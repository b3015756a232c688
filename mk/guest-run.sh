#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the guest booted by `make run`: shows the block devices and their
# copy offload limits, then copies on an rnull device with BLKCOPY, offloaded
# and not, and checks the data. $1 is the directory of the compiled helpers.
set -u
bin=$1
dev=/dev/rnull0
cfg=/sys/kernel/config/rnull/rnull0

echo "== kernel $(uname -r)"
modprobe null_blk nr_devices=1 2>/dev/null || echo "null_blk: not loaded"
modprobe rnull_mod || exit 1
mkdir "$cfg" && echo 4096 >"$cfg/blocksize" && echo 256 >"$cfg/size" &&
	echo 1 >"$cfg/memory_backed" && echo 1048576 >"$cfg/max_copy_bytes" &&
	echo 1 >"$cfg/power" || exit 1
udevadm settle 2>/dev/null
for _ in $(seq 50); do [ -b $dev ] && break; sleep 0.1; done

echo
echo "== block devices"
lsblk -o NAME,SIZE,LOG-SEC,MODEL,SERIAL -e 7 2>/dev/null || lsblk
echo
echo "== copy offload limits (bytes)"
printf '%-10s %8s %18s %16s\n' device lbs copy_max_hw_bytes copy_max_bytes
for q in /sys/block/*/queue; do
	d=$(basename "$(dirname "$q")")
	case $d in loop*|ram*) continue ;; esac
	printf '%-10s %8s %18s %16s\n' "$d" "$(cat "$q/logical_block_size")" \
		"$(cat "$q/copy_max_hw_bytes")" "$(cat "$q/copy_max_bytes")"
done

echo
echo "== BLKCOPY on $dev: 64 MiB at 0 -> 128 MiB, three ranges"
dd if=/dev/urandom of=$dev bs=1M count=64 oflag=direct status=none
show() {
	local t0 t1
	t0=$(date +%s%N)
	"$bin/copy_ioctl" "$@" $dev 0:128M:32M 32M:192M:16M 48M:160M:16M | tr '\n' ' '
	t1=$(date +%s%N)
	echo "($(((t1 - t0) / 1000000)) ms)"
	for r in 0:128:32 32:192:16 48:160:16; do
		IFS=: read -r s d l <<<"$r"
		if cmp -s <(dd if=$dev bs=1M skip="$s" count="$l" iflag=direct status=none) \
			  <(dd if=$dev bs=1M skip="$d" count="$l" iflag=direct status=none); then
			echo "  ${s}M -> ${d}M, ${l}M: data equal"
		else
			echo "  ${s}M -> ${d}M, ${l}M: DATA DIFFERS"
		fi
	done
}
echo "offloaded (copy_max_bytes $(cat /sys/block/rnull0/queue/copy_max_bytes)):"
show
dd if=/dev/zero of=$dev bs=1M seek=128 count=128 oflag=direct status=none
echo 0 >/sys/block/rnull0/queue/copy_max_bytes
echo "copy_max_bytes 0, copied by the kernel:"
show
echo "copy_max_bytes 0 with BLKCOPY_OFFLOAD_ONLY:"
"$bin/copy_ioctl" -O $dev 0:128M:4K | head -n1
