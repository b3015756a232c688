#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the guest booted by bench.sh: the memory-copy baseline, then on
# each device of $BENCH_DEVICES every copy method at every size, the range
# counts ($BENCH_RANGE_DEVICES), the long runs for CPU time
# ($BENCH_CPU_DEVICES) and the kernel memory runs, with copy_bench (NVMe/TCP,
# behind a loopback interface shaped to 1 Gb/s: the sizes only); a dm suspend
# during a copy; lvm2's pvmove and thin snapshot copy on write, offloaded and
# read and written by dm-kcopyd ($BENCH_LVM). $BENCH_ONLY picks some of these
# parts. $1 is the output directory shared with the host (bench.sh wrote its
# config there), $2 the directory of the compiled helpers.
#
# copy_bench's JSON lines go to $1/results.jsonl, with a "device" line per
# device set up, a "link" line with the raw read throughput of NVMe/TCP
# before and after shaping and a "qdisc" line with the shaper's counters, a
# "suspend" line per dm suspend run, an "lvm" line per lvm2 run, a "skip"
# line per device or lvm2 row that cannot run here, a "fail" line per step
# that failed and a "guest" line; every step and its duration is logged to
# $1/bench.log. A failing step or device is recorded and the rest continues.
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
. common/copy_offload_dm
. common/copy_offload_lvm
. common/copy_offload_scsi
. "$out/config"

log() {
	echo "$(date +%T) $*" | tee -a "$FULL"
}

fail() {
	log "FAIL $1: $2"
	printf '{"kind":"fail","dev":"%s","what":"%s"}\n' "$1" "$2" >>"$results"
}

# Run copy_bench "${@:3}" for device $1, step $2, with a time limit
# (CMD_TIMEOUT seconds, which bench_device sets per device, else
# BENCH_CMD_TIMEOUT); its measurements go to the results.
run() {
	local dev=$1 what=$2 t0=$SECONDS
	shift 2
	log "$dev: $what"
	if ! timeout -k 10 "${CMD_TIMEOUT:-$BENCH_CMD_TIMEOUT}" "$bin" "$@" >>"$results" 2>>"$FULL"; then
		fail "$dev" "$what"
		return 1
	fi
	log "$dev: $what: $((SECONDS - t0)) s"
}

bytes() {
	numfmt --from=iec "$1"
}

# Bytes one repetition of size $1 spans (copy_bench makes MIN / size calls;
# MIN is MIN_BYTES, which bench_device sets per device).
span() {
	local size min
	size=$(bytes "$1") min=$(bytes "${MIN_BYTES:-$BENCH_MIN_BYTES}")
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

# null_blk completing each request $BENCH_QD_SLOW_USEC after it arrived
# (timer mode), with tags for every copy of the queue depth row in flight.
setup_nullbslow() {
	_init_null_blk nr_devices=0 &&
		_configure_null_blk nullb907 memory_backed=1 blocksize=4096 size="$1" \
			irqmode=2 completion_nsec=$((BENCH_QD_SLOW_USEC * 1000)) \
			hw_queue_depth=256 power=1 &&
		_co_wait_for_bdev /dev/nullb907 && DEV=/dev/nullb907
}

teardown_nullbslow() {
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

# NVMe/TCP: nvmet over TCP on 127.0.0.1, TCP port BENCH_TCP_PORT, to a
# memory-backed rnull disk that offloads copies of up to
# BENCH_TCP_COPY_BYTES (nvmet advertises one such copy as MSSRL and MCL), the
# host connected with nvme-cli (common/copy_offload_nvme). bench_device
# shapes the link after the fill (link_nvmetcp); teardown_nvmetcp removes
# the shaping, the host's controller, the target and rnull, also after a
# failure part of the way, and records what it could not remove.
TCP_NQN=benchtcp TCP_DISK=rnull906
# LO_SHAPED: lo has the bench's qdisc; SCH_OURS: the bench loaded its
# module; SHAPER: its tc arguments (shaper_args).
LO_SHAPED=0 SCH_OURS=0 SHAPER=

# Whether NVMe/TCP can run here: nvmet_tcp, nvme_tcp, IPv4, nvme-cli and lo
# (_co_have_nvmet_tcp), tc and the shaper's qdisc module, rnull. Sets WHY
# when not.
can_nvmetcp() {
	SKIP_REASONS=()
	_co_have_nvmet_tcp && _have_program tc &&
		_co_have_module "sch_$BENCH_TCP_SHAPER" && _co_have_rnull && return 0
	WHY=$(printf '%s; ' "${SKIP_REASONS[@]}") WHY=${WHY%; }
	WHY=${WHY:-unknown}
	return 1
}

setup_nvmetcp() {
	local ctrl
	_co_configure_rnull $TCP_DISK memory_backed=1 blocksize=4096 size="$1" \
		max_copy_bytes="$(bytes "$BENCH_TCP_COPY_BYTES")" &&
		_co_nvmet_setup tcp "$BENCH_TCP_PORT" $TCP_NQN /dev/$TCP_DISK || return 1
	if ! ctrl=$(_co_nvmet_ctrl $TCP_NQN tcp "$BENCH_TCP_PORT"); then
		echo "no controller connected to $TCP_NQN over TCP port $BENCH_TCP_PORT" >>"$FULL"
		return 1
	fi
	log "nvmetcp: $ctrl, transport $(<"/sys/class/nvme/$ctrl/transport"), $(<"/sys/class/nvme/$ctrl/address")"
	DEV=$(_co_nvmet_ns $TCP_NQN 1)
}

# The qdisc that makes lo a link of BENCH_TCP_MBIT Mbit/s, as tc arguments.
# lo has one transmit queue, and every packet to 127.0.0.1 passes its root
# qdisc: both directions of each connection share the rate, a half-duplex
# link, where Ethernet carries the rate each way. copy_bench's read+write
# reads a buffer, then writes it, one direction at a time, so it cannot
# tell the two apart; a method that reads and writes at once (splice,
# onload) can lose up to half to it. lo's packets are up to its MTU, 65536,
# plus the 14-byte header it adds.
#
# netem (default): "rate" holds each packet for its length at the rate after
# the packet before it leaves, or after now when none waits: a wire's
# serialization delay, with no burst beyond it, and a timer that fires late
# lets the packets that are due go together, so the average keeps the rate
# however late the emulator's timers are. netem orphans the packets it
# holds, so TCP's small-queue limit does not stop the sender: its limit, in
# packets, must hold what the sockets have in flight, which their receive
# windows (tcp_rmem, at most 6 MiB, about 100 packets of 64 KiB each) bound
# long before 10000.
# tbf: a token bucket. Its burst must hold the largest packet (tbf drops a
# larger one unless it is GSO and can be split), and on top what the bucket
# fills with while the timer that releases the next packet is late: under
# TCG a millisecond and more, so 1.5 ms at the rate, 187500 bytes at 1 Gb/s,
# 253050 bytes in all; more would let the start of each transfer after a
# pause pass at once (at 1 MiB requests a 256 KiB burst is a quarter of
# each), which a wire does not. Its limit, in bytes: TCP's small queues keep
# at most tcp_limit_output_bytes (4 MiB) per socket in the qdisc, so 200 ms
# at the rate (25 MB at 1 Gb/s) holds several sockets' worth and nothing is
# dropped.
shaper_args() {
	local rate=$((BENCH_TCP_MBIT * 125000)) pkt=65550 mtu burst	# rate: bytes per second
	if read -r mtu </sys/class/net/lo/mtu 2>/dev/null; then
		pkt=$((mtu + 14))
	fi
	burst=$((pkt + rate * 3 / 2000))
	case $BENCH_TCP_SHAPER in
	netem) echo "netem rate ${BENCH_TCP_MBIT}mbit limit 10000" ;;
	tbf) echo "tbf rate ${BENCH_TCP_MBIT}mbit burst $burst limit $((burst + rate / 5))" ;;
	esac
}

# Shape lo (shaper_args); fails when it cannot, or when lo has a root qdisc
# already (tc qdisc add does not replace one).
shape_lo() {
	SHAPER=$(shaper_args)
	[[ -e /sys/module/sch_$BENCH_TCP_SHAPER ]] || SCH_OURS=1
	modprobe "sch_$BENCH_TCP_SHAPER" 2>>"$FULL" || return 1
	# shellcheck disable=SC2086
	tc qdisc add dev lo root $SHAPER 2>>"$FULL" || return 1
	LO_SHAPED=1
	tc qdisc show dev lo >>"$FULL" 2>&1
}

# Record the shaper's counters (a "qdisc" line) and remove it; unload its
# module if the bench loaded it.
unshape_lo() {
	local stats b p d o r
	if ((LO_SHAPED)); then
		stats=$(tc -s qdisc show dev lo 2>&1)
		echo "$stats"
		read -r b p d o r < <(sed -n 's/^ *Sent \([0-9]*\) bytes \([0-9]*\) pkt (dropped \([0-9]*\), overlimits \([0-9]*\) requeues \([0-9]*\)).*/\1 \2 \3 \4 \5/p' <<<"$stats" | head -n1)
		printf '{"kind":"qdisc","dev":"nvmetcp","shaper":"%s","sent_bytes":%s,"sent_pkts":%s,"dropped":%s,"overlimits":%s,"requeues":%s}\n' \
			"$SHAPER" "${b:-null}" "${p:-null}" "${d:-null}" "${o:-null}" "${r:-null}" >>"$results"
		tc qdisc del dev lo root && LO_SHAPED=0
	fi
	if ((SCH_OURS)) && [[ -e /sys/module/sch_$BENCH_TCP_SHAPER/initstate ]]; then
		modprobe -r "sch_$BENCH_TCP_SHAPER"
	fi
	SCH_OURS=0
}

# Seconds (to the microsecond) an O_DIRECT read of $2 bytes from the start
# of block device $1 takes, in requests of 1 MiB.
read_secs() {
	local t0 t1
	t0=${EPOCHREALTIME/[.,]/}
	timeout -k 10 "$CMD_TIMEOUT" dd if="$1" of=/dev/null bs=1M count=$(($2 >> 20)) \
		iflag=direct status=none 2>>"$FULL" || return 1
	t1=${EPOCHREALTIME/[.,]/}
	printf '%d.%06d\n' $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000))
}

# MiB/s of $1 bytes in $2 seconds, for the log.
mibs() {
	awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / s / 1048576; else print "-" }'
}

# The link of NVMe/TCP, once the device is filled: read $1 bytes with
# O_DIRECT as it is, shape lo, read them again; a "link" line with both
# times, which tells whether the shaping holds (at most the rate) and
# whether the guest could go faster without it. Fails, and the copies are
# not run, when lo cannot be shaped or the shaped read fails.
link_nvmetcp() {
	local bytes=$1 plain shaped
	plain=$(read_secs "$DEV" "$bytes") || plain=null
	if ! shape_lo; then
		fail nvmetcp "shaping lo (tc qdisc add dev lo root $SHAPER)"
		return 1
	fi
	if ! shaped=$(read_secs "$DEV" "$bytes"); then
		fail nvmetcp "O_DIRECT read through the shaped link"
		return 1
	fi
	printf '{"kind":"link","dev":"nvmetcp","shaper":"%s","mbit":%s,"bytes":%s,"secs_unshaped":%s,"secs_shaped":%s}\n' \
		"$SHAPER" "$BENCH_TCP_MBIT" "$bytes" "$plain" "$shaped" >>"$results"
	log "nvmetcp: O_DIRECT read of $((bytes >> 20)) MiB: $(mibs "$bytes" "${plain/null/0}") MiB/s" \
		"unshaped, $(mibs "$bytes" "$shaped") MiB/s through tc $SHAPER" \
		"(the rate: $(mibs $((BENCH_TCP_MBIT * 125000)) 1) MiB/s)"
}

# Record a "fail" line for something teardown $1 left behind ($2); its
# output goes to the log.
leftover() {
	echo "LEFT BEHIND by $1: $2"
	printf '{"kind":"fail","dev":"%s","what":"teardown left %s"}\n' "$1" "$2" >>"$results"
}

teardown_nvmetcp() {
	unshape_lo
	_co_nvmet_cleanup $TCP_NQN
	_co_exit_rnull
	# Nothing may be left for the parts after this one.
	if tc qdisc show dev lo 2>/dev/null | grep -q "^qdisc $BENCH_TCP_SHAPER "; then
		leftover nvmetcp "a $BENCH_TCP_SHAPER qdisc on lo"
	fi
	if _co_nvmet_ctrl $TCP_NQN tcp "$BENCH_TCP_PORT" >/dev/null; then
		leftover nvmetcp "the host's controller of $TCP_NQN"
	fi
	if [[ -e $CO_NVMET_CFS/subsystems/$TCP_NQN || -e $CO_NVMET_CFS/ports/$BENCH_TCP_PORT ]]; then
		leftover nvmetcp "the target's subsystem or port"
	fi
	if [[ -e /sys/block/$TCP_DISK ]]; then
		leftover nvmetcp "$TCP_DISK"
	fi
}

# An sd disk of a tcm_loop LUN whose iblock backstore is an rnull device:
# BLKCOPY offloaded by sd as EXTENDED COPY, which LIO executes with the
# block layer's copy offload on rnull when it can, by reading and writing
# otherwise (common/copy_offload_scsi).
setup_tcmloop() {
	_co_scsi_rnull_backstore rnull908 4096 "$1" && _co_scsi_target a &&
		DEV=$(_co_scsi_lun a 0 iblock/rnull908)
}

teardown_tcmloop() {
	_co_scsi_exit
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
	local name=$1 sizes=$2 mib q orig half size m n r reps link=0 t0=$SECONDS
	# (local, but seen by the functions called from here: span, run, ...)
	local MIN_BYTES=$BENCH_MIN_BYTES CMD_TIMEOUT=$BENCH_CMD_TIMEOUT

	log "== $name"
	# A device behind a shaped link (nvmetcp) copies more per repetition,
	# with a shorter time limit per run, and runs the sizes only: range
	# counts and 4 KiB latency through it would time the link for minutes.
	if [[ $name == nvmetcp ]]; then
		MIN_BYTES=$BENCH_TCP_MIN_BYTES CMD_TIMEOUT=$BENCH_TCP_CMD_TIMEOUT link=1
	fi
	if declare -F "can_$name" >/dev/null && ! "can_$name"; then
		log "$name: skipped: $WHY"
		WHY=${WHY//\\/\\\\} WHY=${WHY//\"/\\\"}
		printf '{"kind":"skip","dev":"%s","why":"%s"}\n' "$name" "$WHY" >>"$results"
		return
	fi
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

	if run "$name" "fill" fill "$DEV" 0 $((2 * half)) &&
	   { ((!link)) || "link_$name" $((2 * half)); }; then
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
					-t "$MIN_BYTES" -r "$reps" "$DEV" 0 "$half"
			done
			((!link)) || continue
			# One repetition of each range count in turn: the emulator
			# has slow spells of tens of milliseconds, which then fall
			# on all range counts alike, and the report compares each
			# repetition with the one-range repetition next to it.
			if [[ ( $m == onload || $m == offload ) &&
			      " $BENCH_RANGE_DEVICES " == *" $name "* ]]; then
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
			fi
			# CPU time: ticks count it, so copy for long, over the same
			# range again and again; read+write too on the devices of
			# BENCH_CPU_RW_DEVICES.
			[[ " $BENCH_CPU_DEVICES " == *" $name "* ]] || continue
			[[ $m == onload || $m == offload ||
			   ( $m == rw && " $BENCH_CPU_RW_DEVICES " == *" $name "* ) ]] || continue
			run "$name" "$m $BENCH_CPU_BYTES for CPU time" copy -L "$name" -m "$m" \
				-s "$BENCH_CPU_SIZE" -t 0 -r "$BENCH_REPS_LARGE" \
				-R $(($(bytes "$BENCH_CPU_BYTES") / $(bytes "$BENCH_CPU_SIZE"))) \
				"$DEV" 0 "$half"
		done
		# The 4 KiB latency target: a read+write pair and an offload, one
		# repetition of each in turn, as the range counts above.
		if ((!link)) && [[ " $BENCH_METHODS " == *" rw "* && " $BENCH_METHODS " == *" offload "* ]]; then
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

# The lvm2 rows: dm-kcopyd's copies as lvm2 makes them, with the disk's copy
# limits (offload) and with copy_max_bytes 0 (kcopyd reads and writes), one
# run of each in turn, with the repetitions of their size (BENCH_REPS_LARGE
# from BENCH_LARGE on). lvm runs with a configuration of its own that sees
# only the bench's disk (common/copy_offload_lvm). One "lvm" line per run:
# its wall time, the guest's CPU time meanwhile, the bytes the copy_stats of
# the copies' destination counted as offloaded and as refused (fallback) and
# the checks: the data, and that the run offloaded about all it copied
# (offload) or nothing (kcopyd).

# Guest CPU ticks so far, all CPUs, counted as copy_bench counts them:
# CPU_U user + nice, CPU_S system + irq + softirq.
cpu_ticks() {
	local _c u n s _i _w irq sirq
	read -r _c u n s _i _w irq sirq _ </proc/stat
	CPU_U=$((u + n)) CPU_S=$((s + irq + sirq))
}

HZ=$(getconf CLK_TCK)

# Ticks $1 in seconds.
ticks_secs() {
	printf '%d.%03d' $(($1 / HZ)) $(($1 % HZ * 1000 / HZ))
}

# Run "$@", its output to the log, within the time limit of a step and
# measure it: M_SECS its wall time, M_USER and M_SYS the guest's CPU seconds
# meanwhile. Returns its exit status.
measured() {
	local u0 s0 t0 t1 rc=0
	cpu_ticks
	u0=$CPU_U s0=$CPU_S t0=${EPOCHREALTIME/[.,]/}
	timeout -k 10 "$BENCH_CMD_TIMEOUT" "$@" </dev/null >>"$FULL" 2>&1 || rc=$?
	t1=${EPOCHREALTIME/[.,]/}
	cpu_ticks
	M_SECS=$(printf '%d.%06d' $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000)))
	M_USER=$(ticks_secs $((CPU_U - u0))) M_SYS=$(ticks_secs $((CPU_S - s0)))
	return "$rc"
}

# Copy counter $2 of disk $1 (copy_stats/); 0 before the disk's first copy.
copy_stat() {
	cat "/sys/block/$1/copy_stats/$2" 2>/dev/null || echo 0
}

# Repetitions of a measurement of $1 bytes.
reps_for() {
	if (($1 >= $(bytes "$BENCH_LARGE"))); then
		echo "$BENCH_REPS_LARGE"
	else
		echo "$BENCH_REPS"
	fi
}

# What is wrong with the copy_stats of a run in mode $1 that copied $3 bytes
# and during which the destination counted $2 bytes as offloaded: an offload
# must offload about all of them (kcopyd reads and writes the pieces the
# devices refuse), a run with copy_max_bytes 0 none.
offload_problem() {
	if [[ $1 == offload ]]; then
		(($2 * 100 >= $3 * 99 && $2 * 100 <= $3 * 101)) ||
			echo "offloaded $2 of $3 bytes"
	elif (($2 != 0)); then
		echo "offloaded $2 bytes with copy_max_bytes 0"
	fi
}

# Record an lvm run: row $1, mode $2, repetition $3, $4 bytes copied in
# blocks of $5 (0: lvm2 chooses), then the copy_max_bytes in force, the
# offloaded and refused bytes and the problems found ("" when none); the
# times are M_SECS, M_USER and M_SYS.
lvm_row() {
	printf '{"kind":"lvm","dev":"%s","mode":"%s","rep":%s,"bytes":%s,"block":%s,"secs":%s,"cpu_user":%s,"cpu_sys":%s,"copy_max_bytes":%s,"offloaded":%s,"fallback":%s,"check":"%s"}\n' \
		"$1" "$2" "$3" "$4" "$5" "$M_SECS" "$M_USER" "$M_SYS" "${6:-null}" "$7" "$8" "${9:-ok}" >>"$results"
	log "$1: $2, repetition $3: $M_SECS s, CPU $M_USER user + $M_SYS kernel s, offloaded $(($7 >> 20)) MiB, fallback $(($8 >> 20)) MiB: ${9:-ok}"
}

# Whether lvm2 row $1 can run here; module $2 is its dm target. Records a
# "skip" line with the reason when not: lvm2, its thin tools and the
# kernel's dm targets are optional.
lvm_can() {
	local why=
	if ! command -v lvm >/dev/null || ! command -v dmsetup >/dev/null; then
		why="lvm2 is not installed (lvm, dmsetup)"
	elif [[ ! -d /proc/sysvipc ]]; then
		why="the kernel has no System V IPC (CONFIG_SYSVIPC), with which lvm2 waits for udev"
	elif ! modprobe -q "$2" 2>>"$FULL"; then
		why="the kernel has no $2"
	elif [[ $1 == thin ]] && ! command -v thin_check >/dev/null; then
		why="the thin provisioning tools are not installed (thin_check, which lvm2 runs)"
	elif [[ $1 == thin && -z $PY ]]; then
		why="python3 is not installed"
	fi
	[[ -z $why ]] && return 0
	log "$1: skipped: $why"
	printf '{"kind":"skip","dev":"%s","why":"%s"}\n' "$1" "$why" >>"$results"
	return 1
}

# Undo an lvm2 row's set-up: volume group $1, the lvm configuration and the
# rnull disk (_co_lvm_exit), and the row's TMPDIR.
lvm_row_exit() {
	_co_lvm_exit "$1" >>"$FULL" 2>&1
	rm -rf "$TMPDIR"
}

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

# pvmove of a BENCH_PVMOVE_BYTES LV between two PVs, partitions of one rnull
# disk: dm-raid1 copies the LV region by region with dm-kcopyd, whose jobs
# go to the partitions, so the disk's copy_stats count them. The LV moves to
# the second PV offloaded, back with copy_max_bytes 0, and so on; after each
# pvmove it must be on the other PV and hold its data (sha256). The time is
# pvmove's from start to exit: lvm's metadata updates, suspends and
# 1-second polling (-i1) included, as an administrator waits for it.
bench_pvmove() {
	local disk=rnull904 vg=dmtbenchpv TMPDIR size part lv p1 p2 src dst q orig hw sum
	local reps rep mode off fb check where t0=$SECONDS
	size=$(bytes "$BENCH_PVMOVE_BYTES")
	log "== lvm pvmove"
	if ((size <= 0 || size % (4 << 20))); then
		fail pvmove "BENCH_PVMOVE_BYTES=$BENCH_PVMOVE_BYTES is not a multiple of 4 MiB (the extent size)"
		return
	fi
	if [[ ! -x $helpers/blkpg ]]; then
		fail pvmove "no $helpers/blkpg"
		return
	fi
	TMPDIR=$(mktemp -d /tmp/bench-pvmove.XXXXXX)
	# Each partition holds the LV and a PV label and metadata.
	part=$((size + (16 << 20)))
	p1=/dev/${disk}p1 p2=/dev/${disk}p2 lv=$(_co_lv_dev $vg lv)
	if ! _co_configure_rnull $disk memory_backed=1 blocksize=4096 size=$(((2 * part >> 20) + 2)) \
			>>"$FULL" 2>&1 ||
	   ! "$helpers/blkpg" /dev/$disk add 1 1M "$part" >>"$FULL" 2>&1 ||
	   ! "$helpers/blkpg" /dev/$disk add 2 $(((1 << 20) + part)) "$part" >>"$FULL" 2>&1 ||
	   ! _co_wait_for_bdev "$p1" || ! _co_wait_for_bdev "$p2" ||
	   ! _co_lvm_setup "$p1" "$p2" ||
	   ! _co_lvm pvcreate -y "$p1" "$p2" >>"$FULL" ||
	   ! _co_lvm vgcreate $vg "$p1" "$p2" >>"$FULL" ||
	   ! _co_lvm lvcreate -y -L "$((size >> 20))M" -n lv $vg "$p1" >>"$FULL" ||
	   [[ ! -b $lv ]]; then
		fail pvmove "setup"
		lvm_row_exit $vg
		return
	fi
	q=/sys/block/$disk/queue
	orig=$(<"$q/copy_max_bytes") hw=$(<"$q/copy_max_hw_bytes")
	reps=$(reps_for "$size")
	printf '{"kind":"device","dev":"pvmove","path":"%s","bytes":%s,"lbs":%s,"copy_max_hw_bytes":%s}\n' \
		"/dev/$disk" "$(blockdev --getsize64 /dev/$disk)" "$(<"$q/logical_block_size")" "$hw" >>"$results"
	log "pvmove: $((size >> 20)) MiB LV on ${p1##*/} and ${p2##*/}, copy_max_hw_bytes $hw, $reps repetitions"
	if run pvmove "fill" fill "$lv" 0 "$size"; then
		sum=$(_co_dev_sum "$lv")
		src=$p1 dst=$p2
		for ((rep = 0; rep < reps; rep++)); do
			for mode in offload kcopyd; do
				if [[ $mode == offload ]]; then
					echo "$hw" >"$q/copy_max_bytes"
				else
					echo 0 >"$q/copy_max_bytes"
				fi
				off=$(copy_stat $disk offloaded_bytes) fb=$(copy_stat $disk fallback_bytes)
				log "pvmove: $mode, repetition $rep: ${src##*/} -> ${dst##*/}"
				if ! measured lvm pvmove -i1 "$src" "$dst"; then
					fail pvmove "$mode, repetition $rep: pvmove ${src##*/} ${dst##*/} (exit status or time limit)"
					break 2
				fi
				_co_udev_settle
				off=$(($(copy_stat $disk offloaded_bytes) - off))
				fb=$(($(copy_stat $disk fallback_bytes) - fb))
				check=$(offload_problem $mode "$off" "$size")
				# "/dev/PV(first extent)", one per segment
				where=$(lvm lvs --noheadings -o devices $vg/lv 2>>"$FULL")
				where=${where// /} where=${where%%(*}
				[[ ${where##*/} == "${dst##*/}" ]] ||
					check+="${check:+; }the LV is on ${where:-?}, not on ${dst##*/}"
				[[ $(_co_dev_sum "$lv") == "$sum" ]] || check+="${check:+; }data differ"
				lvm_row pvmove $mode "$rep" "$size" 0 "$(<"$q/copy_max_bytes")" "$off" "$fb" "$check"
				read -r src dst <<<"$dst $src"
			done
		done
	fi
	echo "$orig" >"$q/copy_max_bytes"
	lvm_row_exit $vg
	log "== lvm pvmove: $((SECONDS - t0)) s"
}

# Thin snapshot copy on write: a thin pool with BENCH_THIN_CHUNK blocks and
# no zeroing on an rnull disk, a thin volume of BENCH_THIN_BYTES written
# whole; each run takes a snapshot of it, then one program writes 4 KiB at
# the start of each block of the volume, one write after the other, so that
# dm-thin copies every block, shared with the snapshot, to a new one with
# dm-kcopyd (the copy dominates the write that triggers it). The copies go
# to the pool device, whose copy_stats count them; the kcopyd runs set its
# copy_max_bytes, not the disk's, to 0: a limit raised on the disk again
# would reach the pool only at its next table load. Each run keeps its
# snapshot, so that every copy goes to pool blocks never written before,
# where a copy that did not happen reads as zeroes rather than as what an
# earlier run left; the pool and the disk hold the volume and one copy per
# run (in memory: the volume and the kcopyd runs' copies, as rnull shares
# the blocks of an offloaded one). Checked after each run: the snapshot
# holds the volume's data from before the run (sha256), every block of the
# volume the 4 KiB written and the rest of the snapshot's block.
bench_thin() {
	local disk=rnull905 vg=dmtbenchthin TMPDIR size chunk reps data thin pool pq orig hw prev
	local rep mode k=0 out writes off fb check ssum tsum bad first t0=$SECONDS
	size=$(bytes "$BENCH_THIN_BYTES") chunk=$(bytes "$BENCH_THIN_CHUNK")
	log "== lvm thin"
	if ((size <= 0 || size % (4 << 20) || chunk < (64 << 10) || chunk % (64 << 10) ||
	     size % chunk)); then
		fail thin "BENCH_THIN_BYTES=$BENCH_THIN_BYTES, BENCH_THIN_CHUNK=$BENCH_THIN_CHUNK: the volume must be a multiple of 4 MiB and of the block, the block of 64 KiB"
		return
	fi
	TMPDIR=$(mktemp -d /tmp/bench-thin.XXXXXX)
	reps=$(reps_for "$size")
	data=$(((size * (2 * reps + 1) >> 20) + 64))	# MiB
	thin=$(_co_lv_dev $vg thin)
	if ! _co_configure_rnull $disk memory_backed=1 blocksize=4096 size=$((data + 128)) \
			>>"$FULL" 2>&1 ||
	   ! _co_lvm_setup /dev/$disk ||
	   ! _co_lvm vgcreate $vg /dev/$disk >>"$FULL" ||
	   ! _co_lvm lvcreate -y --type thin-pool -c "$((chunk >> 10))k" -Zn -L "${data}M" \
			-n pool $vg >>"$FULL" ||
	   ! _co_lvm lvcreate -y -V "$((size >> 20))M" -T $vg/pool -n thin >>"$FULL" ||
	   [[ ! -b $thin ]] || ! pool=$(_co_dm_name_disk $vg-pool-tpool) ||
	   [[ ! -d /sys/block/$pool ]]; then
		fail thin "setup"
		lvm_row_exit $vg
		return
	fi
	pq=/sys/block/$pool/queue
	orig=$(<"$pq/copy_max_bytes") hw=$(<"$pq/copy_max_hw_bytes")
	printf '{"kind":"device","dev":"thin","path":"%s","bytes":%s,"lbs":%s,"copy_max_hw_bytes":%s}\n' \
		"$vg/pool ($pool) on /dev/$disk" "$(blockdev --getsize64 "/dev/$pool")" \
		"$(<"$pq/logical_block_size")" "$hw" >>"$results"
	log "thin: $((size >> 20)) MiB volume, $((chunk >> 10)) KiB blocks, pool $pool of $data MiB, copy_max_hw_bytes $hw, $reps repetitions"
	if run thin "fill" fill "$thin" 0 "$size"; then
		prev=$(_co_dev_sum "$thin")
		for ((rep = 0; rep < reps; rep++)); do
			for mode in offload kcopyd; do
				if ! _co_lvm lvcreate -y -s -kn -n snap$k $vg/thin >>"$FULL"; then
					fail thin "$mode, repetition $rep: snapshot"
					break 2
				fi
				if [[ $mode == offload ]]; then
					echo "$hw" >"$pq/copy_max_bytes"
				else
					echo 0 >"$pq/copy_max_bytes"
				fi
				off=$(copy_stat "$pool" offloaded_bytes) fb=$(copy_stat "$pool" fallback_bytes)
				log "thin: $mode, repetition $rep: $((size / chunk)) writes"
				if ! out=$(timeout -k 10 "$BENCH_CMD_TIMEOUT" "$PY" "$top/mk/bench-thin.py" \
						write "$thin" "$chunk" "$size" $k 2>>"$FULL") ||
				   ! read -r M_SECS M_USER M_SYS writes <<<"$out" ||
				   [[ $writes != $((size / chunk)) ]]; then
					fail thin "$mode, repetition $rep: writes (${out:-no output})"
					break 2
				fi
				off=$(($(copy_stat "$pool" offloaded_bytes) - off))
				fb=$(($(copy_stat "$pool" fallback_bytes) - fb))
				check=$(offload_problem $mode "$off" "$size")
				out=$(timeout -k 10 "$BENCH_CMD_TIMEOUT" "$PY" "$top/mk/bench-thin.py" verify \
					"$(_co_lv_dev $vg snap$k)" "$thin" "$chunk" "$size" $k 2>>"$FULL")
				read -r ssum tsum bad first <<<"$out"
				if [[ -z $first ]]; then
					check+="${check:+; }the data could not be read"
				else
					[[ $ssum == "$prev" ]] ||
						check+="${check:+; }the snapshot differs from the volume before the run"
					((bad == 0)) ||
						check+="${check:+; }$bad of $((size / chunk)) blocks of the volume differ, the first at byte $first"
					prev=$tsum
				fi
				lvm_row thin $mode "$rep" "$size" "$chunk" "$(<"$pq/copy_max_bytes")" "$off" "$fb" "$check"
				k=$((k + 1))
			done
		done
	fi
	echo "$orig" >"$pq/copy_max_bytes"
	lvm_row_exit $vg
	log "== lvm thin: $((SECONDS - t0)) s"
}

# The events perf stat counts per queue depth run (BENCH_QD_STAT=1): what
# hands a copy from one context to the next, and what each copy allocates.
QD_STAT_EVENTS=workqueue:workqueue_queue_work,workqueue:workqueue_execute_start,sched:sched_wakeup,sched:sched_switch,io_uring:io_uring_task_add,io_uring:io_uring_queue_async_work,io_uring:io_uring_complete,kmem:kmalloc,kmem:kmem_cache_alloc,raw_syscalls:sys_enter,block:block_rq_issue

# Run copy_qd with method $2 (threads, or uring:RING[:WAIT] of
# BENCH_QD_RINGS) and arguments "${@:3}"; its JSON line goes to the
# results (with BENCH_QD_STAT or BENCH_QD_TRACE, and what they record, as
# run $1).
qd_run() {
	local run=$1 how=$2 opts=() rc
	shift 2
	if [[ $how == uring:* ]]; then
		[[ $how == uring:defer* ]] && opts+=(-D)
		[[ $how == uring:async* ]] && opts+=(-A)
		[[ $how == uring:coop* ]] && opts+=(-C)
		[[ $how == uring:*:* ]] && opts+=(-w "${how##*:}")
		how=uring
	fi
	# BENCH_QD_PIN=1: the io_uring thread on CPU 0, the unbound workqueues'
	# workers (the blk_copy issuers) on CPU 1, each stage on a CPU of its own.
	local wrap=() mask=/sys/devices/virtual/workqueue/cpumask old
	if [[ -n $BENCH_QD_PIN && $how == uring ]]; then
		old=$(<"$mask")
		echo 2 >"$mask" || return
		wrap=(taskset -c 0)
	fi
	# BENCH_QD_RT=1: the io_uring thread at real-time priority (SCHED_FIFO 1),
	# so that its wake-up preempts a kworker at once instead of at the next
	# tick, as a fair task's does under PREEMPT_LAZY.
	[[ -n $BENCH_QD_RT && $how == uring ]] && wrap+=(chrt -f 1)
	if [[ -n $BENCH_QD_PROFILE ]]; then
		qd_profile "$run" "${wrap[@]}" "$helpers/copy_qd" "$how" "${opts[@]}" "$@"
	elif [[ -n $BENCH_QD_TRACE ]]; then
		qd_trace "$run" "${wrap[@]}" "$helpers/copy_qd" "$how" "${opts[@]}" "$@"
	elif [[ -z $BENCH_QD_STAT ]]; then
		timeout -k 10 "$BENCH_CMD_TIMEOUT" "${wrap[@]}" "$helpers/copy_qd" "$how" "${opts[@]}" "$@" \
			>>"$results" 2>>"$FULL"
	else
		qd_stat "$run" "${wrap[@]}" "$helpers/copy_qd" "$how" "${opts[@]}" "$@"
	fi
	rc=$?
	[[ -n $old ]] && echo "$old" >"$mask"
	return "$rc"
}

# Run command "${@:2}" (copy_qd) under perf stat: a "qdstat" line per event
# (its count over the run named $1, and the run's copies).
qd_stat() {
	local run=$1 stat line ev count rc copies=0
	shift
	stat=$(mktemp /tmp/qdstat.XXXXXX)
	line=$(timeout -k 10 "$BENCH_CMD_TIMEOUT" perf stat -a -x, -e "$QD_STAT_EVENTS" -o "$stat" -- \
		"$@" 2>>"$FULL")
	rc=$?
	[[ -n $line ]] && echo "$line" >>"$results"
	[[ $line =~ \"copies\":([0-9]+) ]] && copies=${BASH_REMATCH[1]}
	while IFS=, read -r count _ ev _; do
		[[ $count =~ ^[0-9]+$ && -n $ev ]] || continue
		printf '{"kind":"qdstat","run":"%s","event":"%s","count":%s,"copies":%s}\n' \
			"$run" "$ev" "$count" "$copies"
	done <"$stat" >>"$results"
	rm -f "$stat"
	return "$rc"
}

# Run command "${@:2}" (copy_qd) under perf record of every CPU, with call
# graphs (BENCH_QD_PROFILE=1): the samples by task, by task and symbol, and
# by symbol with what it calls (children), each above 0.5 %, go to
# $out/profile-qd-$1.txt.
qd_profile() {
	local run=$1 data line rc f=$out/profile-qd-$1.txt
	shift
	data=$(mktemp /tmp/qdprof.XXXXXX)
	line=$(timeout -k 10 "$BENCH_CMD_TIMEOUT" perf record -q -a -g -e cpu-clock -F 999 \
		-o "$data" -- "$@" 2>>"$FULL")
	rc=$?
	[[ -n $line ]] && echo "$line" >>"$results"
	{
		perf report -i "$data" --stdio --no-children --sort comm --percent-limit 0.5 -g none
		perf report -i "$data" --stdio --no-children --sort comm,sym --percent-limit 0.5 -g none
		echo "== with children"
		perf report -i "$data" --stdio --children --sort sym --percent-limit 0.5 -g none
	} >"$f" 2>>"$FULL"
	rm -f "$data"
	return "$rc"
}

# Run command "${@:2}" (copy_qd) under perf record of the blk_copy work
# items and the scheduler's wake-ups and switches (BENCH_QD_TRACE=1), and
# add to the results a "qdtrace" line for run $1: how long a work item of
# the blk_copy workqueue waited from queueing to running (median and 90th
# percentile, us), the wake-ups of the copy_qd thread and of kworkers and
# how long each took to run (median, us), the share of the run each CPU was
# idle, the share the copy_qd thread was off its CPU, and the shares of the
# run by what CPUs 0 and 1 ran together ("joint": S copy_qd, W a kworker,
# I idle, O other; "SW": copy_qd on CPU 0 and a kworker on CPU 1).
qd_trace() {
	local run=$1 data line rc
	shift
	data=$(mktemp /tmp/qdtrace.XXXXXX)
	line=$(timeout -k 10 "$BENCH_CMD_TIMEOUT" perf record -q -a -o "$data" \
		-e workqueue:workqueue_queue_work,workqueue:workqueue_execute_start \
		-e sched:sched_switch,sched:sched_wakeup -- \
		"$@" 2>>"$FULL")
	rc=$?
	[[ -n $line ]] && echo "$line" >>"$results"
	perf script -i "$data" -F cpu,time,event,trace 2>>"$FULL" | gawk -v run="$run" '
	function us(t) { return t * 1e6 }
	{
		for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9]+\.[0-9]+:$/) { t = substr($i, 1, length($i) - 1); ev = $(i + 1); break }
		cpu = $1; gsub(/[][]/, "", cpu)
		if (first == "") first = t
		last = t
	}
	ev == "workqueue:workqueue_queue_work:" && /workqueue=blk_copy / {
		match($0, /work struct=0x[0-9a-f]+/); queued[substr($0, RSTART + 12, RLENGTH - 12)] = t
	}
	ev == "workqueue:workqueue_execute_start:" {
		match($0, /work struct 0x[0-9a-f]+/); w = substr($0, RSTART + 12, RLENGTH - 12)
		if (w in queued) { lat[++n] = us(t - queued[w]); delete queued[w] }
	}
	ev == "sched:sched_wakeup:" {
		match($0, / pid=[0-9]+/); woken[substr($0, RSTART + 5, RLENGTH - 5)] = t
	}
	ev == "sched:sched_switch:" {
		if (idle_since[cpu] != "") { idle[cpu] += t - idle_since[cpu]; idle_since[cpu] = "" }
		# From a wake-up to running, for the copy_qd thread and kworkers.
		match($0, /next_pid=[0-9]+/); next_pid = substr($0, RSTART + 9, RLENGTH - 9)
		if (next_pid in woken) {
			if (/next_comm=copy_qd /) slat[++ns] = us(t - woken[next_pid])
			else if (/next_comm=kworker/) wlat[++nw] = us(t - woken[next_pid])
			delete woken[next_pid]
		}
		# What runs on CPUs 0 and 1 together, over time: S the copy_qd
		# thread(s), W a kworker, I idle, O anything else.
		if (joint_since != "") joint[what["000"] what["001"]] += t - joint_since
		joint_since = t
		match($0, /next_comm=[^ ]+/); next_comm = substr($0, RSTART + 10, RLENGTH - 10)
		what[cpu] = next_comm ~ /^swapper/ ? "I" : next_comm == "copy_qd" ? "S" : next_comm ~ /^kworker/ ? "W" : "O"
		if (what[cpu] == "I") idle_since[cpu] = t
		if (/prev_comm=copy_qd / && off_since == "") off_since = t
		if (/next_comm=copy_qd / && off_since != "") { off += t - off_since; off_since = "" }
	}
	END {
		span = last - first
		if (n == 0 || span <= 0) { printf "{\"kind\":\"qdtrace\",\"run\":\"%s\",\"work_items\":0}\n", run; exit }
		asort(lat)
		printf "{\"kind\":\"qdtrace\",\"run\":\"%s\",\"secs\":%.3f,\"work_items\":%d,", run, span, n
		printf "\"work_wait_p50_us\":%.1f,\"work_wait_p90_us\":%.1f,", lat[int(n / 2) + 1], lat[int(n * 0.9) + 1]
		asort(slat); asort(wlat)
		printf "\"wakeups_thread\":%d,\"wake_thread_p50_us\":%.1f,\"wakeups_kworker\":%d,\"wake_kworker_p50_us\":%.1f,", \
			ns, ns ? slat[int(ns / 2) + 1] : 0, nw, nw ? wlat[int(nw / 2) + 1] : 0
		printf "\"idle_cpu0\":%.3f,\"idle_cpu1\":%.3f,\"thread_off\":%.3f,\"joint\":{", \
			idle["000"] / span, idle["001"] / span, off / span
		sep = ""
		for (j in joint)
			if (length(j) == 2) { printf "%s\"%s\":%.3f", sep, j, joint[j] / span; sep = "," }
		printf "}}\n"
	}' >>"$results"
	rm -f "$data"
	return "$rc"
}

# The queue depth row: on each device of $BENCH_QD_DEVICES (offloading with
# its hardware limit, so that the cost per copy is what is measured), for
# each size of $BENCH_QD_SIZES and queue depth N of $BENCH_QD_DEPTHS,
# copy_qd copies for $BENCH_QD_SECS seconds with one thread keeping N
# BLOCK_URING_CMD_COPY commands in flight (once per ring of
# $BENCH_QD_RINGS), then with N threads each making one BLKCOPY after the
# other; one run of each in turn, $BENCH_QD_REPS times.
# One "qd" line per run.
bench_qd() {
	local name size depth rep how span=$((64 << 20)) q t0=$SECONDS ring hows=()
	for ring in $BENCH_QD_RINGS; do
		hows+=("uring:$ring")
	done
	hows+=(threads)
	if [[ ! -x $helpers/copy_qd ]]; then
		fail qd "copy_qd is missing (liburing)"
		return
	fi
	for name in $BENCH_QD_DEVICES; do
		[[ $name == none || $name == 0 ]] && continue
		case $name in
		rnull|nullb|nullbslow|nvme) ;;
		*) fail "$name" "queue depth row: rnull, nullb, nullbslow or nvme only"; continue ;;
		esac
		if ! "setup_$name" 256; then
			fail "$name" "queue depth row: setup"
			continue
		fi
		q=/sys/block/${DEV#/dev/}/queue
		set_method "$q" offload
		"$bin" fill "$DEV" 0 "$span" 2>>"$FULL" || fail "$name" "queue depth row: fill"
		for size in $BENCH_QD_SIZES; do
			for depth in $BENCH_QD_DEPTHS; do
				for ((rep = 0; rep < BENCH_QD_REPS; rep++)); do
					for how in "${hows[@]}"; do
						log "$name: qd $how $size x$depth rep $rep"
						qd_run "$name-${how//:/-}-$size-$depth-$rep" "$how" \
							-q "$depth" -s "$size" -T "$BENCH_QD_SECS" -r "$rep" -L "$name" \
							"$DEV" 0 $((128 << 20)) "$span" ||
							fail "$name" "queue depth row: $how $size x$depth rep $rep"
					done
				done
			done
		done
		"teardown_$name"
	done
	log "== queue depth row: $((SECONDS - t0)) s"
}

# Whether part $1 of the bench (devices, suspend, lvm, qd) is to run.
part() {
	[[ -z $BENCH_ONLY || " $BENCH_ONLY " == *" $1 "* ]]
}

: >"$results"
printf '{"kind":"guest","kernel":"%s","cpus":%s,"mem_kib":%s,"cpu_model":"%s"}\n' \
	"$(uname -r)" "$(nproc)" "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)" \
	"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" >>"$results"
log "guest: kernel $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) KiB"
_co_mount_configfs
part devices &&
	run memcpy "memcpy $BENCH_MEMCPY_BYTES" memcpy -s "$BENCH_MEMCPY_BYTES" -r "$BENCH_REPS"
# The idle guest's CPU time, which the CPU times of every part less.
run idle "idle ${BENCH_IDLE_SECS}s" idle -s "$BENCH_IDLE_SECS" -r 3
part devices && for name in $BENCH_DEVICES; do
	case $name in
	rnull|nullb) bench_device "$name" "$BENCH_SIZES" ;;
	nvme|nvmeloop|tcmloop) bench_device "$name" "$BENCH_SIZES_SMALL" ;;
	nvmetcp) bench_device "$name" "$BENCH_SIZES_TCP" ;;
	none) ;;
	*) fail "$name" "unknown device" ;;
	esac
done
part suspend && [[ -n $BENCH_SUSPEND_BYTES ]] && bench_suspend
part qd && bench_qd
part lvm && for name in $BENCH_LVM; do
	case $name in
	pvmove) lvm_can pvmove dm-mirror && bench_pvmove ;;
	thin) lvm_can thin dm-thin-pool && bench_thin ;;
	0|none) ;;
	*) fail "$name" "unknown lvm2 row (BENCH_LVM: pvmove, thin)" ;;
	esac
done
dmesg >"$out/dmesg.txt"
log "done"
