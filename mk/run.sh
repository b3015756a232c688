#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make run: boot the kernel `make kernel` built and show the copy offload
# demonstration (mk/guest-run.sh) on the guest's devices.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$top/build}
. "$here/vm.sh"

vm_init check || exit 1
log=$BUILD/results/run.log
mkdir -p "$(dirname "$log")"
echo "run: QEMU accelerator: $VM_ACCEL; guest console in $log"
out=$BUILD/results/run
rm -rf "$out"
mkdir -p "$out"
make -s -C "$top/tools/testing/blktests/src" O="$BUILD/blktests-src" UAPI="$top/include/uapi" || exit 1
VM_RWDIR=$out vm_boot 600 "$log" "$here/guest-run.sh $BUILD/blktests-src >$out/output 2>&1"
rc=$?
cat "$out/output" 2>/dev/null
[ "$rc" = 124 ] && echo "run: the guest timed out" >&2
exit "$rc"
