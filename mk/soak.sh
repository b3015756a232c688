#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make soak: the randomized integrity tests (block/115: rnull offloading and
# onloading, in parallel and racing writes, a partition, null_blk; dm/108:
# dm-linear; nvme/108: the QEMU NVMe namespaces; scsi/106: tcm_loop disks,
# LIO offloading to rnull and reading and writing) and the same under injected
# allocation and bio failures (block/121: rnull offloading and onloading;
# dm/111: dm-linear, two jobs; nvme/114: the QEMU NVMe namespaces) with
# SOAK_OPS operations per run instead of make check's (1000 in nvme/108 and
# nvme/114, 750 in block/121 and dm/111, 375 in dm/108, 75 in block/115,
# where nine configurations share the time, 150 in scsi/106, half of it
# again in its racing run), on the check kernel (KASAN, lockdep).
# At 1000 operations per run the 14 runs without faults took about 7.5
# minutes of guest time (TCG, CI's machine), the 5 with faults (3250
# operations at 1000) about 3.5; both grow linearly: the default of 20000
# takes two to three hours.
# Results in build/results/soak; every run's seed and counts (and failures
# by errno) in records.md there, a failure's shrunk sequence (the ops run,
# under faults) in the test's .full file.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$(cd "$here/.." && pwd)/build}
ops=${SOAK_OPS:-20000}
# Two vCPUs (make check's guests have one): the races of block/115's
# writers and of the four jobs then run on two CPUs at once.
CHECK_RESULTS=$BUILD/results/soak CHECK_HANG=0 CHECK_CPUS=2 \
	CHECK_TIMEOUT=${SOAK_TIMEOUT:-$((ops * 2))} \
	CHECK_CONFIG_EXTRA="COPY_INTEGRITY_OPS=$ops" \
	exec bash "$here/check.sh" block/115 block/121 dm/108 dm/111 nvme/108 nvme/114 \
		scsi/106
