# SPDX-License-Identifier: GPL-2.0
#
# Front door of the block-layer copy offload series for Linux 7.3.
# Everything is built in $(BUILD); every target installs what it needs.

BUILD ?= $(CURDIR)/build
export BUILD
MK := $(CURDIR)/mk

.PHONY: all deps fetch prepare kernel check soak run bench profile tree tree-save series series-check clean

all: kernel

deps:
	@bash $(MK)/deps.sh

fetch: deps
	@bash $(MK)/fetch-kernel.sh

# build/linux = pristine tree + patches/series + the new files.
prepare: fetch
	@bash $(MK)/prepare-tree.sh

kernel: prepare
	@bash $(MK)/build-kernel.sh check

# Boot the check kernel and run every test; the last line is the verdict.
check: kernel
	@bash $(MK)/check.sh $(TESTS)

# The randomized integrity tests for hours (SOAK_OPS operations per run).
soak: kernel
	@bash $(MK)/soak.sh

# Boot the kernel and show copy offload on the guest's devices.
run: kernel
	@bash $(MK)/run.sh

# Build the bench kernel (no debug options), boot it and measure the copy
# methods; results in $(BUILD)/results/bench. Knobs: see mk/bench.sh.
bench: prepare
	@bash $(MK)/build-kernel.sh bench
	@bash $(MK)/bench.sh

# Where the copy methods spend the guest's CPU: perf profiles of read+write,
# onload and offload on rnull and QEMU NVMe in build/results/profile.
profile: prepare
	@bash $(MK)/build-kernel.sh bench
	@BENCH_OUT=$(BUILD)/results/profile BENCH_PROFILE=1 BENCH_DEVICES="rnull nvme" \
		BENCH_METHODS=offload BENCH_SIZES=64M BENCH_SIZES_SMALL=16M BENCH_RANGES=1 BENCH_GATHER_RANGES= \
		BENCH_REPS=1 BENCH_MEM_DEVICES= bash $(MK)/bench.sh

# A git work tree of the patched kernel for editing existing files, and the
# way back into patches/.
tree: fetch
	@bash $(MK)/tree.sh init

tree-save:
	@bash $(MK)/tree.sh save

# The series for posting: git format-patch output against 7.3 in
# $(BUILD)/series, in the order of patches/series.export. series-check
# applies it patch by patch and builds after each (SERIES_CHECK=--no-build:
# apply, checkpatch, rustfmt and kernel-doc only).
series: fetch
	@bash $(MK)/series.sh

series-check: series
	@bash $(MK)/series-check.sh $(SERIES_CHECK)

clean:
	rm -rf $(BUILD)/obj-* $(BUILD)/linux $(BUILD)/results
