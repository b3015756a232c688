// SPDX-License-Identifier: GPL-2.0

//! `copy_file_range()` between block devices opened with `O_DIRECT`.
//!
//! `blkdev_copy_file_range()` (block/fops.c) calls this once the VFS has checked the descriptors
//! and shortened the copy to the end of the source. Descriptors without `O_DIRECT` never get
//! here: they keep copying through the page cache. With `O_DIRECT` on both, the copy never goes
//! through the page cache: it is offloaded when both devices can, between two devices as well
//! (the engine offloads only what lands on one disk), and copied in the kernel otherwise. This
//! fallback is silent, as for any `copy_file_range()` that the file system cannot offload; the
//! `BLKCOPY` ioctl lets an application refuse it.

use kernel::{
    bindings,
    block::{
        bdev::BlockDevice,
        copy::CopySegs, //
    },
    fs::file::LocalFile,
    prelude::*, //
};

use crate::{
    plan::Seg,
    user_copy, //
};

/// Copies at most `len` bytes at `pos_in` of `src` to `pos_out` of `dst`, opened as `dst_file`;
/// returns the bytes copied.
pub(crate) fn copy_range(
    src: &BlockDevice,
    pos_in: i64,
    dst: &BlockDevice,
    dst_file: &LocalFile,
    pos_out: i64,
    len: usize,
) -> Result<u64> {
    // Refused as `write()` refuses them, in the same order. The source is only read, which
    // swap allows.
    if dst.is_read_only() {
        return Err(EPERM);
    }
    if dst.is_swap_busy() {
        return Err(ETXTBSY);
    }
    let pos_in = u64::try_from(pos_in).map_err(|_| EINVAL)?;
    let pos_out = u64::try_from(pos_out).map_err(|_| EINVAL)?;
    // As a write would: refuse to start at the end, shorten a copy that runs past it.
    if pos_out >= dst.nr_bytes() {
        return Err(ENOSPC);
    }
    let len = (len as u64)
        .min(dst.nr_bytes() - pos_out)
        .min(src.nr_bytes().saturating_sub(pos_in))
        .min(bindings::BLKCOPY_MAX_BYTES);
    if len == 0 {
        return Ok(0);
    }
    let (src_seg, dst_seg) = (Seg { pos: pos_in, len }, Seg { pos: pos_out, len });
    let segs = CopySegs {
        src: KVec::from_elem(src_seg, 1, GFP_KERNEL)?,
        dst: KVec::from_elem(dst_seg, 1, GFP_KERNEL)?,
    };
    let (copied, _, result) =
        user_copy::copy(src, dst, dst_file, segs, core::iter::once(dst_seg), false);
    // A short copy reports what it did; the caller sees the error on its next call.
    if copied > 0 {
        Ok(copied)
    } else {
        result.map(|()| 0)
    }
}
