// SPDX-License-Identifier: GPL-2.0

//! Copies user space asked for, through `BLKCOPY` or `copy_file_range()`.
//!
//! Both offload when the devices can and copy in the kernel otherwise (unless the caller asked
//! for offload only), and keep the page cache coherent as a direct write does: dirty source
//! pages are written back first, destination pages are dropped before and after the copy.
//! `BLOCK_URING_CMD_COPY` ([`crate::uring`]) takes the same steps around an asynchronous copy:
//! [`prepare`] when it is issued, [`finish`] when it completes.

use kernel::{
    bindings,
    block::{
        bdev::{
            self,
            BlockDevice, //
        },
        copy::{
            CopyParams,
            CopySegs, //
        },
    },
    fs::file::LocalFile,
    prelude::*, //
};

use crate::{
    plan::Seg,
    CopyArgs,
    OffloadJob, //
};

/// The parameters of a synchronous copy from `src_bdev` to `dst_bdev`, whose segments the engine
/// takes from its caller ([`CopyParams::with_segs`]), not through segment arrays.
fn params(src_bdev: &BlockDevice, dst_bdev: &BlockDevice) -> bindings::blk_copy_params {
    bindings::blk_copy_params {
        src_bdev: src_bdev.as_raw(),
        src_segs: core::ptr::null(),
        nr_src_segs: 0,
        dst_bdev: dst_bdev.as_raw(),
        dst_segs: core::ptr::null(),
        nr_dst_segs: 0,
        end_io: None,
        private: core::ptr::null_mut(),
        copied: 0,
        offloaded: 0,
        status: 0,
    }
}

/// The span of validated segments `segs`: from the start of the first to the end of the last,
/// as `(pos, len)`.
pub(crate) fn span(segs: impl Iterator<Item = Seg>) -> (u64, u64) {
    // Cannot overflow: validation found every segment inside its device.
    let (start, end) = segs.fold((u64::MAX, 0), |(start, end), seg| {
        (start.min(seg.pos), end.max(seg.pos + seg.len))
    });
    (start.min(end), end.saturating_sub(start))
}

/// Drops the page cache pages of bytes `from..to` of validated segments `dst` of `bdev`, counted
/// from the start of the first segment as a copy fills them (writing them back first).
///
/// Pages between the segments must stay, so this goes segment by segment, but only when the
/// span of the segments holds a page at all: a device used for direct I/O caches next to
/// nothing, and a copy of many ranges then looks at the page cache once, not once per range.
fn invalidate(
    bdev: &BlockDevice,
    dst: impl Iterator<Item = Seg> + Clone,
    from: u64,
    to: u64,
) -> Result {
    let (pos, len) = span(dst.clone());
    if !bdev.has_cached_pages(pos, len) {
        return Ok(());
    }
    let mut at = 0;
    for seg in dst {
        let (start, end) = (from.max(at), to.min(at + seg.len));
        if start < end {
            bdev.invalidate_range(seg.pos + (start - at), end - start)?;
        }
        at += seg.len;
    }
    Ok(())
}

/// Makes the page cache ready for a copy of validated segments `src` of `src_bdev` to `dst` of
/// `dst_bdev`, as before a direct write: writes back the dirty pages of the sources (in one call
/// for all of them: writing back dirty pages between them does no harm) and drops the pages of
/// the destinations.
///
/// With `nowait` (io_uring's nonblocking issue) nothing is written back or dropped: the copy
/// fails with `EAGAIN` when either would have to be, for the caller to do it all again where it
/// may wait.
pub(crate) fn prepare(
    src_bdev: &BlockDevice,
    src: &[Seg],
    dst_bdev: &BlockDevice,
    dst: &[Seg],
    nowait: bool,
) -> Result {
    let (pos, len) = span(src.iter().copied());
    if nowait {
        let (dst_pos, dst_len) = span(dst.iter().copied());
        if src_bdev.needs_write_back(pos, len) || dst_bdev.has_cached_pages(dst_pos, dst_len) {
            return Err(EAGAIN);
        }
        return Ok(());
    }
    src_bdev.write_back_range(pos, len)?;
    invalidate(dst_bdev, dst.iter().copied(), 0, u64::MAX)
}

/// Drops what buffered readers may have cached from destinations `dst` of `dst_bdev`, opened as
/// `dst_file`, during a copy that copied `copied` bytes of them.
///
/// A page of what was copied that cannot be dropped (written through a mapping meanwhile) is
/// stale: the copy stands and the failure is reported as a direct write reports it, for what it
/// wrote only. Past that, nothing is known to be written and nothing is reported.
pub(crate) fn finish(
    dst_bdev: &BlockDevice,
    dst_file: &LocalFile,
    dst: impl Iterator<Item = Seg> + Clone,
    copied: u64,
) {
    if copied > 0 && invalidate(dst_bdev, dst.clone(), 0, copied).is_err() {
        bdev::warn_stale_pagecache(dst_file);
    }
    // Past what was copied only when something is: the range is empty after a whole copy.
    if copied < dst.clone().map(|seg| seg.len).sum() {
        let _ = invalidate(dst_bdev, dst, copied, u64::MAX);
    }
}

/// Copies `segs` from `src_bdev` to `dst_bdev`, opened as `dst_file`, coherently with the page
/// cache; `dst` iterates over the destination segments of `segs` again, for the page cache once
/// the copy is done. Returns the bytes copied, whether the devices did it all, and the outcome.
/// Bad segments fail with `EINVAL` before anything is written back or dropped.
pub(crate) fn copy(
    src_bdev: &BlockDevice,
    dst_bdev: &BlockDevice,
    dst_file: &LocalFile,
    segs: CopySegs,
    dst: impl Iterator<Item = Seg> + Clone,
    offload_only: bool,
) -> (u64, bool, Result) {
    let mut params = params(src_bdev, dst_bdev);
    // SAFETY: A synchronous copy: `params`, which stays where it is, and the devices outlive it.
    // It has no segment arrays, which `with_segs` does not read.
    let args = unsafe { CopyParams::with_segs(&mut params, segs) }
        .and_then(|(params, segs)| CopyArgs::new(params, segs, !offload_only));
    let args = match args {
        Ok(args) => args,
        Err(e) => return (0, false, Err(e)),
    };
    // Over the engine's segments, merged where they touch, which cover the same bytes.
    if let Err(e) = prepare(src_bdev, &args.src, dst_bdev, &args.dst, false) {
        return (0, false, Err(e));
    }
    let result = OffloadJob::copy(args);
    let offloaded = result.is_ok() && params.offloaded == params.copied;
    finish(dst_bdev, dst_file, dst, params.copied);
    (params.copied, offloaded, result)
}
