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
    block::{
        bdev::BlockDevice,
        copy::CopyStat, //
    },
    prelude::*, //
};

use crate::Method;

/// Counts a copy of `total` bytes to `dst` by `method` that finished with `result` after
/// `copied` bytes.
pub(crate) fn account(dst: &BlockDevice, method: Method, total: u64, copied: u64, result: Result) {
    let done = match method {
        Method::Offload => CopyStat::Offloaded,
        Method::Onload => CopyStat::Onloaded,
    };
    let left = total.saturating_sub(copied);
    match result {
        Ok(()) => done.add(dst, 1, copied),
        Err(e) => {
            done.add(dst, 0, copied);
            let stat = if e == EOPNOTSUPP {
                CopyStat::Fallback
            } else {
                CopyStat::Error
            };
            stat.add(dst, 1, left);
        }
    }
}
