# SPDX-License-Identifier: GPL-2.0
#
# Front door of the block-layer copy offload series for Linux 7.3.
# Everything is built in $(BUILD); every target installs what it needs.

BUILD ?= $(CURDIR)/build
export BUILD
MK := $(CURDIR)/mk

.PHONY: all deps fetch prepare kernel check run bench tree tree-save clean

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

# Boot the kernel and show copy offload on the guest's devices.
run: kernel
	@bash $(MK)/run.sh

# Build the bench kernel (no debug options), boot it and measure the copy
# methods; results in $(BUILD)/results/bench. Knobs: see mk/bench.sh.
bench: prepare
	@bash $(MK)/build-kernel.sh bench
	@bash $(MK)/bench.sh

# A git work tree of the patched kernel for editing existing files, and the
# way back into patches/.
tree: fetch
	@bash $(MK)/tree.sh init

tree-save:
	@bash $(MK)/tree.sh save

clean:
	rm -rf $(BUILD)/obj-* $(BUILD)/linux $(BUILD)/results
