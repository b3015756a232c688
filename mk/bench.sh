#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boot the bench kernel (build/obj-bench, no KASAN or lockdep)
# once, measure the copy methods on rnull, null_blk, the QEMU NVMe namespace 1,
# nvme-loop to rnull, NVMe/TCP to rnull over a loopback interface shaped to
# 1 Gb/s and an sd disk of a tcm_loop LUN on rnull (EXTENDED COPY, which LIO
# hands to rnull), a dm suspend during a copy, and lvm2's pvmove and thin
# snapshot copy on write offloaded and read and written by dm-kcopyd
# (mk/guest-bench.sh), then write the report (mk/bench-report.py):
# build/results/bench/results.md, bench.png and bench-lvm.png.
#
# The knobs below can be set in the environment (make bench BENCH_REPS=3).
# Sizes take K, M or G; the QEMU NVMe, nvme-loop and tcm_loop devices have
# 256, 128 and 128 MiB, so they get BENCH_SIZES_SMALL; NVMe/TCP gets
# BENCH_SIZES_TCP. BENCH_ONLY runs some parts only (make bench BENCH_ONLY=lvm:
# the idle guest and the lvm2 rows; make bench BENCH_ONLY=tcp: memcpy, the
# idle guest and the NVMe/TCP device).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$top/build}
. "$here/vm.sh"

: "${BENCH_DEVICES:=rnull nullb nvme nvmeloop nvmetcp tcmloop}"
: "${BENCH_METHODS:=rw splice onload offload}"
: "${BENCH_SIZES:=4K 64K 1M 16M 128M 1G}"
: "${BENCH_SIZES_SMALL:=4K 64K 1M 16M 64M}"
: "${BENCH_REPS:=5}"
: "${BENCH_REPS_LARGE:=3}"		# for sizes of BENCH_LARGE and more
: "${BENCH_LARGE:=128M}"
: "${BENCH_MIN_BYTES:=8M}"		# smaller sizes: this many bytes per repetition
: "${BENCH_RANGES:=1 4 16 64 256}"
# The devices measured at those range counts: LIO takes at most 16 ranges
# in an EXTENDED COPY, 256 are many commands under TCG.
: "${BENCH_RANGE_DEVICES:=rnull nullb nvme nvmeloop}"
: "${BENCH_RANGE_BYTES:=16M}"
: "${BENCH_GATHER_RANGES:=16 256}"	# also with the destinations in one run
: "${BENCH_RANGE_CALLS:=10}"		# the same call this many times per repetition
: "${BENCH_MEM_DEVICES:=rnull nullb}"
: "${BENCH_MEM_SIZES:=64M 1G}"
: "${BENCH_MEMCPY_BYTES:=256M}"
: "${BENCH_IDLE_SECS:=5}"		# idle guest CPU, subtracted from the copies
: "${BENCH_CPU_DEVICES:=nvme tcmloop}"	# also measured for CPU time in long runs:
: "${BENCH_CPU_SIZE:=16M}"		# calls of this size
: "${BENCH_CPU_BYTES:=1G}"		# this many bytes per repetition
: "${BENCH_CPU_RW_DEVICES:=tcmloop}"	# and with read+write too
: "${BENCH_CMD_TIMEOUT:=600}"		# one copy_bench run in the guest
: "${BENCH_TIMEOUT:=3600}"		# the whole guest
: "${BENCH_PROFILE:=}"			# non-empty: also profile each method (perf)
: "${BENCH_PROFILE_BYTES:=64M}"		# bytes copied per call while profiling,
: "${BENCH_PROFILE_RANGES:=1}"		# in this many ranges,
: "${BENCH_PROFILE_ROUNDS:=1}"		# this many times
: "${BENCH_SUSPEND_BYTES:=1G}"		# the dm suspend runs: a copy this long,
: "${BENCH_SUSPEND_CHUNK:=256K}"		# in chunks of this size,
: "${BENCH_SUSPEND_MS:=100}"		# with a suspend this long (empty bytes: none)
# lvm2 rows (0 or none: none), skipped when lvm2 or its thin tools are
# missing; not in profiling runs (make profile) unless asked for.
[ -n "$BENCH_PROFILE" ] && : "${BENCH_LVM:=none}"
: "${BENCH_LVM:=pvmove thin}"
: "${BENCH_PVMOVE_BYTES:=1G}"		# the LV pvmove moves
: "${BENCH_THIN_BYTES:=256M}"		# the thin volume whose blocks are copied,
: "${BENCH_THIN_CHUNK:=1M}"		# in pool blocks of this size
# The queue depth row: BLOCK_URING_CMD_COPY from one thread with N commands
# in flight against BLKCOPY from N threads (0 or none for BENCH_QD_DEVICES:
# none). rnull and nullb execute a copy at once, so the guest's CPU bounds
# the row; nullbslow is a null_blk that completes each request
# BENCH_QD_SLOW_USEC after it arrived, a device whose copies take time, so
# that the copies in flight bound it; nvme is QEMU's NVMe namespace, which
# copies in the emulator, outside the guest's CPUs, as a device does.
: "${BENCH_QD_DEVICES:=rnull nullb nullbslow nvme}"
: "${BENCH_QD_SLOW_USEC:=5000}"
: "${BENCH_QD_SIZES:=4K 64K}"
: "${BENCH_QD_DEPTHS:=1 2 4 8 16 32 64}"
: "${BENCH_QD_SECS:=3}"			# each run copies for this long
: "${BENCH_QD_REPS:=3}"			# uring and threads in turn, this many times
# The io_uring side's rings, each run in turn: RING[:WAIT], RING plain
# (flags 0), defer (SINGLE_ISSUER and DEFER_TASKRUN: completions run in a
# batch when the thread waits), async (flags 0, every command with
# IOSQE_ASYNC: io_uring issues it from its io-wq workers, where it may
# block, instead of the engine's workqueue) or coop (COOP_TASKRUN: task
# work waits for the thread to enter the kernel, no interrupt); WAIT the
# completions the thread waits for per io_uring_enter() (default 1; 0:
# never wait, poll the completion queue).
: "${BENCH_QD_RINGS:=plain}"
# BENCH_QD_STAT=1: perf stat counts, over the whole guest, the events that
# hand a copy on (work items, wake-ups, switches, task works, allocations,
# syscalls) during each run; the report divides them by the copies.
: "${BENCH_QD_STAT:=}"
# BENCH_QD_TRACE=1: perf record of the blk_copy work items and the
# scheduler's switches during each run instead: how long a work item waits
# to run, how idle each CPU and the io_uring thread are ("qdtrace" lines).
: "${BENCH_QD_TRACE:=}"
# BENCH_QD_PROFILE=1: perf samples every CPU (cpu-clock, call graphs) during
# each run instead; profile-qd-RUN.txt has the samples by task, by task and
# symbol, and by symbol with what it calls (children), each above 0.5 %.
: "${BENCH_QD_PROFILE:=}"
# BENCH_QD_PIN=1: the io_uring thread on CPU 0, the unbound workqueues on
# CPU 1 (an experiment: where the scheduler puts the two stages).
: "${BENCH_QD_PIN:=}"
# BENCH_QD_RT=1: the io_uring thread at SCHED_FIFO 1 (an experiment: whether
# its wake-ups waiting for the tick under PREEMPT_LAZY set the pace).
: "${BENCH_QD_RT:=}"
# NVMe/TCP (device nvmetcp): nvmet over TCP on 127.0.0.1 to a memory-backed
# rnull disk that offloads copies of up to BENCH_TCP_COPY_BYTES (nvmet
# advertises that as MSSRL and MCL), the host connected with nvme-cli, the
# loopback interface shaped to BENCH_TCP_MBIT with tc while the copies run,
# as the published NVMe/TCP numbers were taken over a 1 Gb/s link. Each
# repetition copies BENCH_TCP_MIN_BYTES at least rather than BENCH_MIN_BYTES:
# 64 MiB of read+write moves 128 MiB through the link, 1.1 s at 1 Gb/s, long
# enough that the link, not the start of a run, sets the time, and short
# enough that each of the three methods that move data through the link
# should take 6 to 15 s per size (5 repetitions) under TCG, the row with its
# set-up 1 to 1.5 minutes (estimates, not measured yet). No range counts or
# 4 KiB latency runs there: through the link they would time the link for
# minutes.
: "${BENCH_SIZES_TCP:=1M 16M}"
: "${BENCH_TCP_MIN_BYTES:=64M}"
: "${BENCH_TCP_MBIT:=1000}"		# the link's rate in Mbit/s (10^6 bit/s)
: "${BENCH_TCP_SHAPER:=netem}"		# how tc shapes lo: netem or tbf (guest-bench.sh)
: "${BENCH_TCP_PORT:=4920}"		# TCP port of the target (blktests cases: 4420 + case)
: "${BENCH_TCP_COPY_BYTES:=8M}"		# rnull's copy limit, one Copy command's worth
: "${BENCH_TCP_CMD_TIMEOUT:=120}"	# one copy_bench run on NVMe/TCP
: "${BENCH_ONLY:=}"			# parts to run, of: devices (with memcpy),
					# suspend, lvm, qd, tcp (devices with
					# BENCH_DEVICES=nvmetcp); empty: all
: "${BENCH_OUT:=$BUILD/results/bench}"

for part in $BENCH_ONLY; do
	case $part in
	devices|suspend|lvm|qd|tcp) ;;
	*) echo "bench: BENCH_ONLY: unknown part '$part' (devices, suspend, lvm, qd, tcp)" >&2; exit 2 ;;
	esac
done
# tcp is the devices part on the NVMe/TCP device alone (with devices too, the
# devices of BENCH_DEVICES as asked): the config records what ran, so the
# report marks the other devices' targets "not run".
if [[ " $BENCH_ONLY " == *" tcp "* ]]; then
	[[ " $BENCH_ONLY " == *" devices "* ]] || BENCH_DEVICES=nvmetcp
	only=devices
	for part in $BENCH_ONLY; do
		[[ $part == tcp || $part == devices ]] || only+=" $part"
	done
	BENCH_ONLY=$only
fi
for ring in $BENCH_QD_RINGS; do
	if ! [[ $ring =~ ^(plain|defer|async|coop)(:(0|[1-9][0-9]*))?$ ]]; then
		echo "bench: BENCH_QD_RINGS: '$ring' is not plain, defer, async or coop, with :WAIT or without" >&2
		exit 2
	fi
done
case $BENCH_TCP_SHAPER in
netem|tbf) ;;
*) echo "bench: BENCH_TCP_SHAPER: unknown '$BENCH_TCP_SHAPER' (netem, tbf)" >&2; exit 2 ;;
esac
if ! [[ $BENCH_TCP_MBIT =~ ^[1-9][0-9]*$ ]]; then
	echo "bench: BENCH_TCP_MBIT: '$BENCH_TCP_MBIT' is not a whole number of Mbit/s" >&2
	exit 2
fi

# QEMU NVMe namespace 1 as a drive offers it for bulk copies, not with make
# check's small limits that exist to exercise splitting: ranges and commands
# of up to BENCH_NVME_MCL blocks of 4 KiB (8 MiB), 256 ranges per command.
: "${BENCH_NVME_MSSRL:=2048}"
: "${BENCH_NVME_MCL:=2048}"
: "${BENCH_NVME_MSRC:=255}"		# 0's based
NVME_NS1_MSSRL=$BENCH_NVME_MSSRL NVME_NS1_MCL=$BENCH_NVME_MCL NVME_NS1_MSRC=$BENCH_NVME_MSRC

vm_init bench || exit 1
out=$BENCH_OUT
rm -rf "$out"
mkdir -p "$out"
make -s -C "$top/tools/testing/blktests/src" O="$BUILD/blktests-src" UAPI="$top/include/uapi" \
	"$BUILD/blktests-src/copy_bench" "$BUILD/blktests-src/copy_ioctl" "$BUILD/blktests-src/blkpg" || exit 1
# The queue depth row needs liburing (mk/deps.sh installs it); without it the
# row is reported as not run.
make -s -C "$top/tools/testing/blktests/src" O="$BUILD/blktests-src" UAPI="$top/include/uapi" \
	"$BUILD/blktests-src/copy_qd" || echo "bench: no copy_qd (liburing?): no queue depth row" >&2

{
	vm_nvme_config
	for v in ${!BENCH_@} VM_APPEND; do
		printf '%s=%q\n' "$v" "${!v-}"
	done
} >"$out/config"
{
	echo "kernel=$(cat "$VM_OBJ/include/config/kernel.release")"
	echo "accel=$VM_ACCEL"
	echo "host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "host_cores=$(nproc)"
	echo "host_load=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "guest_memory=$VM_MEMORY"
	echo "guest_cpus=$VM_CPUS"
	echo "qemu=$(qemu-system-x86_64 --version | head -n1)"
	echo "commit=$(git -C "$top" describe --always --dirty 2>/dev/null)"
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/host.txt"

echo "bench: kernel $(cat "$VM_OBJ/include/config/kernel.release"), QEMU accelerator: $VM_ACCEL; log in $out/bench.log"
t0=$(date +%s)
VM_RWDIR=$out vm_boot "$BENCH_TIMEOUT" "$out/console.log" \
	"$here/guest-bench.sh $out $BUILD/blktests-src >$out/guest.log 2>&1"
rc=$?
echo "$rc" >"$out/guest-rc"
echo "bench: guest ran $(($(date +%s) - t0)) s"
[ "$rc" = 124 ] && echo "bench: the guest timed out after $BENCH_TIMEOUT s; reporting what it measured" >&2

# The plot needs matplotlib, which mk/deps.sh installs for the system python.
py=python3
python3 -c 'import matplotlib' 2>/dev/null || py=/usr/bin/python3
"$py" "$here/bench-report.py" "$out" || rc=1
exit "$rc"
