// SPDX-License-Identifier: GPL-2.0

//! Per-disk copy statistics, shown in `/sys/block/<disk>/copy_stats/` (block/copy/blk-copy.c).
//!
//! Each part of a copy that started (the offload, then the kernel's copy of what the devices
//! refused) is counted when it finishes, on the disk of its destination: bytes the device copied
//! under `offloaded`, bytes the kernel copied under `onloaded`, an offload the devices refused
//! (`EOPNOTSUPP`) under `fallback` with the bytes left, any other failure under `error` with the
//! bytes not copied. Operations count parts that finished: `offloaded` and `onloaded` the
//! successful ones.

use kernel::{
    bindings,
    block::bdev::BlockDevice,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    }, //
};

use crate::Method;

/// Adds `ops` operations and `bytes` bytes to counter `stat` of the disk of `bdev`.
fn add(bdev: &BlockDevice, stat: bindings::blk_copy_stat, ops: u64, bytes: u64) {
    let stat = stat as usize;
    let disk = bdev.disk();
    // SAFETY: The disk is valid while `bdev` is open; its counters are atomics that live as long
    // as the disk and are only ever updated atomically.
    let (ops_counter, bytes_counter) = unsafe {
        let stats = &raw mut (*disk).copy_stats;
        (
            Atomic::<u64>::from_ptr((&raw mut (*stats).ops[stat].counter).cast()),
            Atomic::<u64>::from_ptr((&raw mut (*stats).bytes[stat].counter).cast()),
        )
    };
    if ops != 0 {
        ops_counter.add(ops, Relaxed);
    }
    if bytes != 0 {
        bytes_counter.add(bytes, Relaxed);
    }
}

/// Counts a copy of `total` bytes to `dst` by `method` that finished with `result` after
/// `copied` bytes.
pub(crate) fn account(dst: &BlockDevice, method: Method, total: u64, copied: u64, result: Result) {
    let done = match method {
        Method::Offload => bindings::blk_copy_stat_BLK_COPY_STAT_OFFLOADED,
        Method::Onload => bindings::blk_copy_stat_BLK_COPY_STAT_ONLOADED,
    };
    let left = total.saturating_sub(copied);
    match result {
        Ok(()) => add(dst, done, 1, copied),
        Err(e) => {
            add(dst, done, 0, copied);
            let stat = if e == EOPNOTSUPP {
                bindings::blk_copy_stat_BLK_COPY_STAT_FALLBACK
            } else {
                bindings::blk_copy_stat_BLK_COPY_STAT_ERROR
            };
            add(dst, stat, 1, left);
        }
    }
}
