#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the guest booted by bench.sh: the memory-copy baseline, then on
# each device of $BENCH_DEVICES every copy method at every size, the range
# counts and the kernel memory runs, with copy_bench. $1 is the output
# directory shared with the host (bench.sh wrote its config there), $2 the
# directory of the compiled helpers.
#
# copy_bench's JSON lines go to $1/results.jsonl, with a "device" line per
# device set up, a "fail" line per step that failed and a "guest" line;
# every step and its duration is logged to $1/bench.log. A failing step or
# device is recorded and the rest continues.
out=$1
bin=$2/copy_bench
helpers=$2
top=$(cd "$(dirname "$0")/.." && pwd)
results=$out/results.jsonl
FULL=$out/bench.log

cd "$top/tools/testing/blktests" || exit 1
. tests/nvme/rc
. common/null_blk
. common/copy_offload
. common/copy_offload_nvme
. "$out/config"

log() {
	echo "$(date +%T) $*" | tee -a "$FULL"
}

fail() {
	log "FAIL $1: $2"
	printf '{"kind":"fail","dev":"%s","what":"%s"}\n' "$1" "$2" >>"$results"
}

# Run copy_bench "${@:3}" for device $1, step $2, with a time limit; its
# measurements go to the results.
run() {
	local dev=$1 what=$2 t0=$SECONDS
	shift 2
	log "$dev: $what"
	if ! timeout -k 10 "$BENCH_CMD_TIMEOUT" "$bin" "$@" >>"$results" 2>>"$FULL"; then
		fail "$dev" "$what"
		return 1
	fi
	log "$dev: $what: $((SECONDS - t0)) s"
}

bytes() {
	numfmt --from=iec "$1"
}

# Bytes one repetition of size $1 spans (copy_bench makes MIN / size calls).
span() {
	local size min
	size=$(bytes "$1") min=$(bytes "$BENCH_MIN_BYTES")
	echo $((size < min ? min / size * size : size))
}

# Half the device size device $1 needs for its sizes $2: sources in the
# first half, destinations in the second. In whole MiB.
need_half() {
	local half=$((2 * $(bytes "$BENCH_RANGE_BYTES"))) s n
	for s in $2; do
		n=$(span "$s")
		((n > half)) && half=$n
	done
	if [[ " $BENCH_MEM_DEVICES " == *" $1 "* ]]; then
		for s in $BENCH_MEM_SIZES; do
			n=$(bytes "$s")
			((n > half)) && half=$n
		done
	fi
	echo $(((half + (1 << 20) - 1) >> 20 << 20))
}

# Device setup: set DEV (the block device) or fail. $1 is the size in MiB.
setup_rnull() {
	_co_configure_rnull rnull901 memory_backed=1 blocksize=4096 size="$1" &&
		DEV=/dev/rnull901
}

teardown_rnull() {
	_co_exit_rnull
}

setup_nullb() {
	_init_null_blk nr_devices=0 &&
		_configure_null_blk nullb901 memory_backed=1 blocksize=4096 size="$1" power=1 &&
		_co_wait_for_bdev /dev/nullb901 && DEV=/dev/nullb901
}

teardown_nullb() {
	_co_exit_null_blk
}

setup_nvme() {
	DEV=$(_co_nvme_ns_dev 1)
}

teardown_nvme() {
	:
}

# nvme-loop to an rnull device.
setup_nvmeloop() {
	_co_configure_rnull rnull902 memory_backed=1 blocksize=4096 size="$1" &&
		_co_nvmet_loop_setup benchloop /dev/rnull902 &&
		DEV=$(_co_nvmet_loop_ns benchloop 1)
}

teardown_nvmeloop() {
	_co_nvmet_loop_cleanup benchloop
	_co_exit_rnull
}

# Make BLKCOPY on queue $1 use method $2: onload with copy_max_bytes 0,
# offload with the hardware limit; rw and splice leave it at $3.
set_method() {
	local q=$1 hw
	hw=$(<"$q/copy_max_hw_bytes")
	case $2 in
	onload) echo 0 >"$q/copy_max_bytes" ;;
	offload) ((hw > 0)) && echo "$hw" >"$q/copy_max_bytes" ;;
	*) echo "$3" >"$q/copy_max_bytes" ;;
	esac
}

# Profile method $2 on device $1 (block device $3, destinations from byte
# $4): perf samples every CPU with the cpu-clock timer (TCG has no PMU)
# while copy_bench copies $BENCH_PROFILE_BYTES in calls of
# $BENCH_PROFILE_RANGES ranges, $BENCH_PROFILE_ROUNDS times over; the symbols
# above 1 % go to $out/profile-$1-$2.txt. perf cannot write its data to the
# shared directory, so it goes to the guest's /tmp.
profile() {
	local data
	data=$(mktemp /tmp/perf.XXXXXX)
	log "$1: profile $2"
	if ! perf record -q -a -g -e cpu-clock -F 999 -o "$data" -- "$bin" copy -L "$1" \
			-m "$2" -s "$BENCH_PROFILE_BYTES" -n "$BENCH_PROFILE_RANGES" \
			-R "$BENCH_PROFILE_ROUNDS" -t 0 -r 1 "$3" 0 "$4" >>"$FULL" 2>&1; then
		fail "$1" "profile $2"
	else
		perf report -i "$data" --stdio --no-children --sort sym --percent-limit 1 -g none \
			>"$out/profile-$1-$2.txt" 2>>"$FULL"
	fi
	rm -f "$data"
}

bench_device() {
	local name=$1 sizes=$2 mib q orig half size m n r reps t0=$SECONDS

	log "== $name"
	DEV=
	mib=$(($(need_half "$name" "$sizes") * 2 >> 20))
	if ! setup_"$name" "$mib" || [[ ! -b $DEV ]]; then
		fail "$name" "setup"
		teardown_"$name" >>"$FULL" 2>&1
		return
	fi
	q=/sys/block/${DEV##*/}/queue
	orig=$(<"$q/copy_max_bytes")
	half=$(($(blockdev --getsize64 "$DEV") / 2 >> 20 << 20))
	printf '{"kind":"device","dev":"%s","path":"%s","bytes":%s,"lbs":%s,"copy_max_hw_bytes":%s}\n' \
		"$name" "$DEV" "$(blockdev --getsize64 "$DEV")" "$(<"$q/logical_block_size")" \
		"$(<"$q/copy_max_hw_bytes")" >>"$results"
	log "$name: $DEV, $((2 * half >> 20)) MiB in use, copy_max_hw_bytes $(<"$q/copy_max_hw_bytes")"

	if run "$name" "fill" fill "$DEV" 0 $((2 * half)); then
		for m in $BENCH_METHODS; do
			if ! set_method "$q" "$m" "$orig"; then
				fail "$name" "$m: cannot select (copy_max_hw_bytes $(<"$q/copy_max_hw_bytes"))"
				continue
			fi
			for size in $sizes; do
				if (($(span "$size") > half)); then
					log "$name: $m $size: does not fit, skipped"
					continue
				fi
				reps=$BENCH_REPS
				(($(bytes "$size") >= $(bytes "$BENCH_LARGE"))) && reps=$BENCH_REPS_LARGE
				run "$name" "$m $size" copy -L "$name" -m "$m" -s "$size" \
					-t "$BENCH_MIN_BYTES" -r "$reps" "$DEV" 0 "$half"
			done
			[[ $m == onload || $m == offload ]] || continue
			# One repetition of each range count in turn: the emulator
			# has slow spells of tens of milliseconds, which then fall
			# on all range counts alike, and the report compares each
			# repetition with the one-range repetition next to it.
			for ((r = 0; r < BENCH_REPS; r++)); do
				for n in $BENCH_RANGES; do
					run "$name" "$m $BENCH_RANGE_BYTES in $n ranges, repetition $r" \
						copy -L "$name" -m "$m" -s "$BENCH_RANGE_BYTES" -n "$n" \
						-t 0 -c "$BENCH_RANGE_CALLS" -r 1 -i "$r" "$DEV" 0 "$half"
				done
				for n in $BENCH_GATHER_RANGES; do
					run "$name" "$m $BENCH_RANGE_BYTES in $n ranges to one run, repetition $r" \
						copy -L "$name" -m "$m" -s "$BENCH_RANGE_BYTES" -n "$n" -G \
						-t 0 -c "$BENCH_RANGE_CALLS" -r 1 -i "$r" "$DEV" 0 "$half"
				done
			done
			# CPU time: ticks count it, so copy for long, over the same
			# range again and again.
			[[ " $BENCH_CPU_DEVICES " == *" $name "* ]] || continue
			run "$name" "$m $BENCH_CPU_BYTES for CPU time" copy -L "$name" -m "$m" \
				-s "$BENCH_CPU_SIZE" -t 0 -r "$BENCH_REPS_LARGE" \
				-R $(($(bytes "$BENCH_CPU_BYTES") / $(bytes "$BENCH_CPU_SIZE"))) \
				"$DEV" 0 "$half"
		done
		# The 4 KiB latency target: a read+write pair and an offload, one
		# repetition of each in turn, as the range counts above.
		if [[ " $BENCH_METHODS " == *" rw "* && " $BENCH_METHODS " == *" offload "* ]]; then
			for ((r = 0; r < BENCH_REPS; r++)); do
				for m in rw offload; do
					set_method "$q" "$m" "$orig" || continue
					run "$name" "$m 4K latency, repetition $r" copy -l -L "$name" \
						-m "$m" -s 4K -t "$BENCH_MIN_BYTES" -r 1 -i "$r" \
						"$DEV" 0 "$half"
				done
			done
		fi
		if [[ -n $BENCH_PROFILE ]] && command -v perf >/dev/null; then
			for m in rw onload offload; do
				# read+write takes one range per call.
				[[ $m == rw && $BENCH_PROFILE_RANGES != 1 ]] && continue
				set_method "$q" "$m" "$orig" && profile "$name" "$m" "$DEV" "$half"
			done
		fi
		if [[ " $BENCH_MEM_DEVICES " == *" $name "* ]]; then
			for m in rw onload offload; do
				set_method "$q" "$m" "$orig" || continue
				for size in $BENCH_MEM_SIZES; do
					# Write the destination first: a device that shared
					# pages with an earlier copy would allocate them now.
					run "$name" "fill" fill "$DEV" "$half" "$(bytes "$size")" ||
						continue
					echo 3 >/proc/sys/vm/drop_caches
					run "$name" "kernel memory, $m $size" copy -M -L "$name" \
						-m "$m" -s "$size" -t 0 -r 1 "$DEV" 0 "$half"
				done
			done
		fi
	fi
	echo "$orig" >"$q/copy_max_bytes"
	teardown_"$name" >>"$FULL" 2>&1
	log "== $name: $((SECONDS - t0)) s"
}

# What a dm suspend (LVM suspends for every metadata change) costs a long
# copy: BLKCOPY of BENCH_SUSPEND_BYTES on dm-linear over rnull, in chunks of
# BENCH_SUSPEND_CHUNK, without a suspend, then with one of BENCH_SUSPEND_MS
# that starts a quarter of the way through (by the time the copy before took),
# in turn, BENCH_REPS times. One "suspend" line per copy: its time, what the
# devices and the kernel copied (the dm disk's copy_stats) and whether the
# suspend began while the copy ran; the last copy's data is compared.
bench_suspend() {
	local size chunk dm disk ms rep out_ioctl secs t0 off on within plain=1 check
	local stats pid
	size=$(bytes "$BENCH_SUSPEND_BYTES") chunk=$(bytes "$BENCH_SUSPEND_CHUNK")
	log "== dm suspend"
	if ! _co_configure_rnull rnull903 memory_backed=1 blocksize=4096 size=$((2 * size >> 20)) \
		max_copy_bytes="$chunk" ||
	   ! echo "0 $((2 * size >> 9)) linear /dev/rnull903 0" |
		dmsetup create benchsuspend 2>>"$FULL"; then
		fail dmsuspend "setup"
		_co_exit_rnull >>"$FULL" 2>&1
		return
	fi
	udevadm settle
	dm=$(readlink -f /dev/mapper/benchsuspend) disk=${dm##*/}
	stats=/sys/block/$disk/copy_stats
	if run dmsuspend "fill" fill "$dm" 0 $((2 * size)); then
		for ((rep = 0; rep < BENCH_REPS; rep++)); do
			for ms in 0 "$BENCH_SUSPEND_MS"; do
				off=$(cat "$stats/offloaded_bytes" 2>/dev/null || echo 0)
				on=$(cat "$stats/onloaded_bytes" 2>/dev/null || echo 0)
				within=0
				t0=$(date +%s%N)
				"$helpers/copy_ioctl" "$dm" "0:$size:$size" >"$out/suspend-ioctl.txt" 2>&1 &
				pid=$!
				if ((ms > 0)); then
					sleep "$(printf '%d.%06d' $((plain / 4000000000)) $((plain / 4000 % 1000000)))"
					kill -0 "$pid" 2>/dev/null && within=1
					dmsetup suspend benchsuspend 2>>"$FULL"
					sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
					dmsetup resume benchsuspend 2>>"$FULL"
				fi
				wait "$pid"
				secs=$(($(date +%s%N) - t0))
				((ms == 0)) && plain=$secs
				out_ioctl=$(head -n1 "$out/suspend-ioctl.txt")
				check=ok
				[[ $out_ioctl == ok ]] || check="BLKCOPY: $out_ioctl"
				if [[ $check == ok ]] && ((rep == BENCH_REPS - 1 && ms > 0)) &&
				   ! cmp -s <(dd if="$dm" bs=1M count=$((size >> 20)) iflag=direct 2>/dev/null) \
					<(dd if="$dm" bs=1M skip=$((size >> 20)) count=$((size >> 20)) iflag=direct 2>/dev/null); then
					check="data differ"
				fi
				printf '{"kind":"suspend","dev":"dmsuspend","size":%s,"chunk":%s,"suspend_ms":%s,"rep":%s,"secs":%s,"offloaded":%s,"onloaded":%s,"within":%s,"check":"%s"}\n' \
					"$size" "$chunk" "$ms" "$rep" "$(printf '%d.%09d' $((secs / 1000000000)) $((secs % 1000000000)))" \
					$(($(<"$stats/offloaded_bytes") - off)) $(($(<"$stats/onloaded_bytes") - on)) \
					"$within" "$check" >>"$results"
				log "dmsuspend: suspend ${ms} ms, repetition $rep: $((secs / 1000000)) ms, $check"
			done
		done
	fi
	dmsetup remove benchsuspend >>"$FULL" 2>&1
	_co_exit_rnull >>"$FULL" 2>&1
}

: >"$results"
printf '{"kind":"guest","kernel":"%s","cpus":%s,"mem_kib":%s,"cpu_model":"%s"}\n' \
	"$(uname -r)" "$(nproc)" "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)" \
	"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" >>"$results"
log "guest: kernel $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) KiB"
_co_mount_configfs
run memcpy "memcpy $BENCH_MEMCPY_BYTES" memcpy -s "$BENCH_MEMCPY_BYTES" -r "$BENCH_REPS"
run idle "idle ${BENCH_IDLE_SECS}s" idle -s "$BENCH_IDLE_SECS" -r 3
for name in $BENCH_DEVICES; do
	case $name in
	rnull|nullb) bench_device "$name" "$BENCH_SIZES" ;;
	nvme|nvmeloop) bench_device "$name" "$BENCH_SIZES_SMALL" ;;
	none) ;;
	*) fail "$name" "unknown device" ;;
	esac
done
[[ -n $BENCH_SUSPEND_BYTES ]] && bench_suspend
dmesg >"$out/dmesg.txt"
log "done"
