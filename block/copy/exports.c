// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the copy offload engine for modules. The functions are
 * implemented in Rust (blk_copy.rs) and documented in <linux/blk-copy.h>;
 * Rust crates other than the kernel crate cannot export symbols themselves.
 */
#include <linux/blk-copy.h>
#include <linux/export.h>

EXPORT_SYMBOL_GPL(blkdev_copy_offload);
EXPORT_SYMBOL_GPL(blkdev_copy_onload);
EXPORT_SYMBOL_GPL(blk_copy_nr_ranges);
EXPORT_SYMBOL_GPL(blk_copy_get_range);
