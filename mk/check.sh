#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: boot the check kernel (KASAN, lockdep, atomic-sleep checks)
# once, run the KUnit suites and every blktests-format case in it, prove in
# the same guest that a failing case, a kernel WARNING and a memory leak
# (kmemleak) fail the run, and in a second, short boot that a hung guest does.
#
#   check.sh [TEST...]    TEST as for tools/testing/blktests/check
# CHECK_HANG=0 skips the hung-guest self-test (for quick local runs);
# CHECK_RESULTS is the results directory (default build/results/check),
# CHECK_CONFIG_EXTRA lines added to the tests' config and CHECK_CPUS each
# guest's vCPUs (default 1; make soak uses all three).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$top/build}
. "$here/vm.sh"

vm_init check || exit 1
# One vCPU per guest. Under TCG without paravirt spinlocks a vCPU spins
# while the lock's holder waits for the host's CPU: two guests of two vCPUs
# each on the 2 cores ran every test 1.6 times as long as one guest alone,
# two of one vCPU each about as long. The kernel is preemptible, so a
# test's processes, workqueues and interrupts still interleave; make soak
# runs its races on two vCPUs.
VM_CPUS=${CHECK_CPUS:-1}
results=${CHECK_RESULTS:-$BUILD/results/check}
rm -rf "$results"
mkdir -p "$results"
vm_nvme_config >"$results/config"
# The tests' C helpers, built here: the guest sees the host's file system.
make -s -C "$top/tools/testing/blktests/src" O="$BUILD/blktests-src" UAPI="$top/include/uapi" || exit 1
echo "SRC_DIR=$BUILD/blktests-src" >>"$results/config"
# One leak check after the last group rather than one per group: three
# fewer pairs of scans of the guest's memory (about a minute under TCG with
# KASAN); kmemleak's backtraces name the allocator all the same.
echo "KMEMLEAK_ONCE=1" >>"$results/config"
# What the tests try and see (_copy_record), for the README's table.
echo "COPY_RECORD=$results/records.tsv" >>"$results/config"
[ -n "${CHECK_CONFIG_EXTRA:-}" ] && echo "$CHECK_CONFIG_EXTRA" >>"$results/config"
harness=$results/harness.txt
# A cargo crate of this repository: its host tests run here, its binary
# (the crate's name) in the guest, whose path the config gives in $3.
cargo_tool() {
	local name=$1 dir=$top/$2 var=$3 log=$results/$1-cargo.log
	if (cd "$dir" && CARGO_TARGET_DIR="$BUILD/$name" cargo test -q &&
	    CARGO_TARGET_DIR="$BUILD/$name" cargo build -q --release) >"$log" 2>&1; then
		echo "tools/$name-cargo-test pass" >>"$harness"
		echo "$var=$BUILD/$name/release/$name" >>"$results/config"
	else
		echo "tools/$name-cargo-test fail see $log" >>"$harness"
	fi
}
cargo_tool blkcopy tools/blkcopy BLKCOPY
cargo_tool copy-integrity tools/testing/copy-integrity COPY_INTEGRITY

# meta/005 only reads the tree (the rules that keep the cases running under
# upstream blktests): on the host it takes seconds, in the TCG guest minutes.
# meta/006 and meta/007 run the runner on made-up cases (a cleanup is called
# twice; a leak check per group or per run).
(cd "$top/tools/testing/blktests" &&
	./check -o "$results/selftests-host" -d selftests meta/005 meta/006 meta/007) \
	>"$results/selftests-host.log" 2>&1

# A full run (no TEST given) runs the groups in two guests at once: under
# TCG a guest keeps about 1.4 of the host's 2 CPUs busy (a case is mostly
# one process at a time), so the second guest's groups cost little more than
# the CPU left over. CHECK_LANE2 names the second guest's groups (default
# "dm scsi"; empty: one guest); the first runs the others, KUnit and the
# self-tests. Given TESTs run in one guest unless CHECK_LANE2 is set.
lane1=()
lane2=()
if [ $# -eq 0 ] || [ -n "${CHECK_LANE2+set}" ]; then
	tests=("$@")
	[ $# -eq 0 ] && for dir in "$top"/tools/testing/blktests/tests/*/; do
		tests+=("$(basename "$dir")")
	done
	for test in "${tests[@]}"; do
		if [[ " ${CHECK_LANE2-dm scsi} " == *" ${test%%/*} "* ]]; then
			lane2+=("$test")
		else
			lane1+=("$test")
		fi
	done
	# The first guest runs every case when given none.
	if [ ${#lane1[@]} -eq 0 ]; then
		lane1=("${lane2[@]}")
		lane2=()
	fi
else
	lane1=("$@")
fi

# Wait until the guest logging to $1 runs its kernel (so that virtme-ng has
# prepared the kernel's modules before another guest boots the same tree).
wait_for_kernel() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q '^Linux version' "$1" 2>/dev/null && return
		sleep 1
	done
}

# Boot a guest in the background: results directory, timeout, guest-check.sh
# arguments; writes guest-rc and guest-seconds there.
boot_guest() {
	local dir=$1 timeout=$2 start
	shift 2
	start=$(date +%s)
	VM_RWDIR=$dir vm_boot "$timeout" "$dir/console.log" "$here/guest-check.sh" "$dir" "$@"
	echo $? >"$dir/guest-rc"
	echo $(($(date +%s) - start)) >"$dir/guest-seconds"
}

echo "check: kernel $(cat "$VM_OBJ/include/config/kernel.release"), QEMU accelerator: $VM_ACCEL"
t0=$(date +%s)
boot_guest "$results" "${CHECK_TIMEOUT:-3600}" "${lane1[@]}" &
pids=($!)
wait_for_kernel "$results/console.log"
lane=$results/lane2
# KUnit runs in the first guest only.
append_no_kunit="kunit.enable=0${VM_APPEND:+ $VM_APPEND}"
if [ ${#lane2[@]} -gt 0 ]; then
	mkdir -p "$lane"
	sed "s|^COPY_RECORD=.*|COPY_RECORD=$lane/records.tsv|" "$results/config" >"$lane/config"
	VM_NVME_DIR=$BUILD/vm/lane2 VM_APPEND=$append_no_kunit \
		boot_guest "$lane" "${CHECK_TIMEOUT:-3600}" --cases "${lane2[@]}" &
	pids+=($!)
	wait_for_kernel "$lane/console.log"
fi
hang=$results/hang
if [ "${CHECK_HANG:-1}" != 0 ]; then
	# A hung guest must fail the run: one more guest hangs in meta/003
	# until its timeout, which counts from when meta/003 starts (its output
	# file appears). Beside two guests it boots when the first of them
	# ends, on the CPU that one leaves: booted with them, three guests on
	# the 2 cores took 3.5 minutes each to boot. The verdict needs meta/003
	# to have started, so a guest that timed out before it proves nothing.
	[ ${#pids[@]} -gt 1 ] && wait -n "${pids[@]}"
	mkdir -p "$hang"
	cp "$results/config" "$hang/config"
	VM_NVME_DIR=$BUILD/vm/hang VM_APPEND=$append_no_kunit \
		VM_TIMEOUT_AFTER=$hang/selftests/nodev/meta/003.out \
		boot_guest "$hang" "${CHECK_HANG_TIMEOUT:-20}" --selftest meta/003 &
	pids+=($!)
fi
wait "${pids[@]}"
for dir in "$results" "$lane"; do
	[ -f "$dir/blktests.log" ] && cat "$dir/blktests.log"
done
echo "check: guests ran $(($(date +%s) - t0)) s (first guest $(cat "$results/guest-seconds") s$(
	[ -f "$lane/guest-seconds" ] && echo ", second $(cat "$lane/guest-seconds") s"))"
# virtiofs unless vng found no virtiofsd (mk/vm.sh).
rootfs=$(grep -o -m1 'rootfstype=[a-z0-9]*' "$results/console.log")
echo "check: the guests' root file system: ${rootfs#rootfstype=}"

# The self-tests that must fail, each judged by the evidence it leaves, and
# meta/005 to meta/007, which must pass.
st=$results/selftests
verdict() { # name, condition met?, reason
	if [ "$2" = yes ]; then echo "$1 pass" >>"$harness"; else echo "$1 fail $3" >>"$harness"; fi
}
if [ -f "$st/summary" ]; then
	ok=no
	grep -qx 'meta/001 fail.*' "$st/summary" && [ -f "$st/nodev/meta/001.out.bad" ] && ok=yes
	verdict harness/failing-case-fails $ok "meta/001 was not reported as failed"
	ok=no
	grep -qx 'meta/002 fail.*' "$st/summary" && grep -q 'WARNING:' "$st/nodev/meta/002.dmesg" 2>/dev/null && ok=yes
	verdict harness/kernel-warning-fails $ok "meta/002's WARNING was not caught"
	ok=no
	grep -qx 'meta/kmemleak fail.*' "$st/summary" && grep -qF '[kmemleak_test]' "$st/nodev/meta/kmemleak" 2>/dev/null && ok=yes
	verdict harness/memory-leak-fails $ok "meta/004's leak was not caught by meta/kmemleak"
fi
ok=no
grep -qx 'meta/005 pass.*' "$results/selftests-host/summary" 2>/dev/null && ok=yes
verdict harness/upstream-blktests-rules $ok "meta/005: a case breaks a rule of UPSTREAM.md (see $results/selftests-host.log)"
ok=no
grep -qx 'meta/006 pass.*' "$results/selftests-host/summary" 2>/dev/null && ok=yes
verdict harness/cleanup-called-twice $ok "meta/006: the runner does not call a case's cleanup twice as upstream does (see $results/selftests-host.log)"
ok=no
grep -qx 'meta/007 pass.*' "$results/selftests-host/summary" 2>/dev/null && ok=yes
verdict harness/leak-check-per-group-or-run $ok "meta/007: the runner's leak checks do not follow KMEMLEAK_ONCE (see $results/selftests-host.log)"
if [ "${CHECK_HANG:-1}" != 0 ]; then
	ok=no
	[ "$(cat "$hang/guest-rc")" = 124 ] && ! python3 "$here/report.py" "$hang" >"$hang/report" &&
		grep -q 'guest timed out' "$hang/report" &&
		grep -qx 'Running meta/003' "$hang/selftests/nodev/meta/003.out" 2>/dev/null && ok=yes
	verdict harness/hung-guest-fails $ok "a hung guest was not reported as a failure (or never reached meta/003)"
fi

# A full run (no TEST given) rewrites the README's table of what was tried.
readme=
[ $# -eq 0 ] && readme=$top/README.md
python3 "$here/records.py" "$results" ${readme:+"$readme"}
python3 "$here/report.py" "$results" | tee "$results/report"
exit "${PIPESTATUS[0]}"
