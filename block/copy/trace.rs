// SPDX-License-Identifier: GPL-2.0

//! Tracepoints of the copy engine.
//!
//! C header: [`include/trace/events/blk_copy.h`](srctree/include/trace/events/blk_copy.h)

use kernel::{
    bindings::dev_t,
    block::bdev::BlockDevice,
    ffi::{
        c_char,
        c_int,
        c_uint, //
    },
    prelude::*,
    tracepoint::declare_trace, //
};

use crate::Method;

declare_trace! {
    unsafe fn blk_copy_submit(src_dev: dev_t, dst_dev: dev_t, len: u64, nr_src: c_uint,
                              nr_dst: c_uint, offload: bool);
    unsafe fn blk_copy_dispatch(disk: *const c_char, sector: u64, nr_sectors: u64,
                                nr_src: c_uint, nr_dst: c_uint);
    unsafe fn blk_copy_complete(src_dev: dev_t, dst_dev: dev_t, len: u64, copied: u64,
                                error: c_int, offload: bool);
}

/// A copy of `len` bytes from `nr_src` segments of `src` to `nr_dst` segments of `dst` starts.
pub(crate) fn submit(
    src: &BlockDevice,
    dst: &BlockDevice,
    len: u64,
    nr_src: usize,
    nr_dst: usize,
    method: Method,
) {
    // SAFETY: The tracepoint only records its arguments.
    unsafe {
        blk_copy_submit(
            src.dev(),
            dst.dev(),
            len,
            nr_src.try_into().unwrap_or(c_uint::MAX),
            nr_dst.try_into().unwrap_or(c_uint::MAX),
            method == Method::Offload,
        )
    }
}

/// A chunk of `nr_sectors` goes to the driver of `bdev`'s disk as a request at `sector`.
pub(crate) fn dispatch(
    bdev: &BlockDevice,
    sector: u64,
    nr_sectors: u64,
    nr_src: usize,
    nr_dst: usize,
) {
    let disk = bdev.disk();
    // SAFETY: The disk is valid while `bdev` is (see `BlockDevice::disk`); its name is a
    // NUL-terminated array that never changes once the disk is added. The tracepoint copies it.
    unsafe {
        blk_copy_dispatch(
            (&raw const (*disk).disk_name).cast::<c_char>(),
            sector,
            nr_sectors,
            nr_src.try_into().unwrap_or(c_uint::MAX),
            nr_dst.try_into().unwrap_or(c_uint::MAX),
        )
    }
}

/// The copy finished with `result` after `copied` of `len` bytes.
pub(crate) fn complete(
    src: &BlockDevice,
    dst: &BlockDevice,
    len: u64,
    copied: u64,
    result: Result,
    method: Method,
) {
    let error = match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    };
    // SAFETY: The tracepoint only records its arguments.
    unsafe {
        blk_copy_complete(
            src.dev(),
            dst.dev(),
            len,
            copied,
            error,
            method == Method::Offload,
        )
    }
}
