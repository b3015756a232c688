#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the guest booted by check.sh: the blktests-format cases, then
# (unless told otherwise) the harness self-tests that must fail, then saves
# the kernel log. Results go to $1, the directory shared with the host.
#   guest-check.sh RESULTS [TEST...]        main run
#   guest-check.sh RESULTS --cases T...     only the cases T (a second guest)
#   guest-check.sh RESULTS --selftest T...  only the self-tests T
results=$1
shift
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top/tools/testing/blktests" || exit 1

uname -r >"$results/uname"
# The runner's leak check reads kmemleak there; the tests use it too.
grep -q ' /sys/kernel/debug debugfs ' /proc/mounts ||
	mount -t debugfs debugfs /sys/kernel/debug
if [ "${1:-}" = --selftest ]; then
	shift
	./check -c "$results/config" -o "$results/selftests" -d selftests "$@"
	exit
fi
selftests=1
if [ "${1:-}" = --cases ]; then
	shift
	selftests=0
fi
./check -c "$results/config" -o "$results/blktests" "$@" >"$results/blktests.log" 2>&1
rc=$?
# The run above ended with a leak check: nothing to clear before this one.
[ $selftests = 1 ] &&
	BLKTESTS_KMEMLEAK_CLEAN=1 ./check -c "$results/config" -o "$results/selftests" \
		-d selftests meta/001 meta/002 meta/004 >"$results/selftests.log" 2>&1
dmesg >"$results/dmesg.txt"
exit $rc
