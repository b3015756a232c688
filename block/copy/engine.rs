// SPDX-License-Identifier: GPL-2.0

//! Block layer copy offload engine.
//!
//! C header: [`include/linux/blk-copy.h`](srctree/include/linux/blk-copy.h)
//!
//! A copy moves the bytes of source segments on one block device to destination segments on
//! the same or another block device. When both devices can copy internally, the engine
//! offloads the copy ([`offload`]): it cuts the copy into chunks the devices accept and sends
//! each chunk down the stack as `REQ_OP_COPY_SRC` and `REQ_OP_COPY_DST` bios tied by a copy
//! context ([`ctx`]), whose state machine stands alone in [`chunk_state`]. Otherwise the kernel
//! copies through a bounded buffer ([`onload`]).
//! [`plan`] validates copies and cuts them into chunks. Every copy shows in the destination
//! disk's [`stats`] and in the tracepoints of [`kernel::block::copy`]. User space copies through
//! [`ioctl`] (`BLKCOPY`), [`file_range`] (`copy_file_range()`) and, asynchronously, `uring`
//! (`BLOCK_URING_CMD_COPY`).
//!
//! The functions C calls are all here; each turns what C hands over into safe types and calls
//! into the module that does the work.

use core::ptr::NonNull;
#[cfg(CONFIG_IO_URING)]
use kernel::io_uring::{
    IoUringCmd,
    IssueFlags, //
};
use kernel::{
    bindings,
    block::{
        bdev::BlockDevice,
        bio::{
            Bio,
            PendingBio, //
        },
        copy::CopyParams,
        req_op::ReqOp,
        SECTOR_SHIFT, //
    },
    ffi::{
        c_int,
        c_uint,
        c_void, //
    },
    fs::file::LocalFile,
    prelude::*,
    uaccess::UserPtr, //
};

mod args;
mod chunk_state;
mod ctx;
mod file_range;
mod ioctl;
mod offload;
mod onload;
mod plan;
mod stats;
#[cfg(CONFIG_IO_URING)]
mod uring;
mod user_copy;

use args::CopyArgs;
use offload::OffloadJob;

/// How (part of) a copy is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// By the devices.
    Offload,
    /// By the kernel, reading and writing.
    Onload,
}

/// Copies between block devices: `blkdev_copy()` (block/copy/blk-copy.c).
///
/// # Safety
///
/// `params` must be valid as `struct blk_copy_params` documents.
#[export]
pub unsafe extern "C" fn blk_copy_rust(
    params: *mut bindings::blk_copy_params,
    flags: c_uint,
) -> c_int {
    kernel::task::might_sleep();
    if flags & !bindings::BLKDEV_COPY_NOFALLBACK != 0 {
        return EINVAL.to_errno();
    }
    let fallback = flags & bindings::BLKDEV_COPY_NOFALLBACK == 0;
    // SAFETY: By the safety requirements; the copy keeps `params` no longer than it says.
    let result = unsafe { CopyParams::from_raw(params, GFP_NOIO) }
        .and_then(|(params, segs)| CopyArgs::new(params, segs, fallback))
        .and_then(OffloadJob::copy);
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Called by `submit_bio_noacct_nocheck()` for `REQ_OP_COPY_SRC` and `REQ_OP_COPY_DST` bios.
///
/// Returns `true` when the bio is to be submitted further, `false` when the engine took it:
/// parked, or ended with an error.
///
/// # Safety
///
/// `bio` must be a valid copy bio being submitted, owned by the caller.
#[export]
pub unsafe extern "C" fn blk_copy_submit_bio(bio: *mut bindings::bio) -> bool {
    let Some(bio) = NonNull::new(bio) else {
        return false;
    };
    // SAFETY: By the safety requirements the bio is in flight and the caller's, handed over
    // until this returns `true` with it; its submitter keeps its device open until it completes.
    let next = ctx::submit_bio(unsafe { PendingBio::from_raw(bio) });
    // Back to the caller, to be submitted further.
    next.map(PendingBio::into_raw).is_some()
}

/// Number of source (`REQ_OP_COPY_SRC`) or destination (`REQ_OP_COPY_DST`) ranges of the copy
/// request `rq`: `blk_copy_nr_ranges()`.
///
/// # Safety
///
/// `rq` must be a copy request the calling driver is executing.
#[export]
pub unsafe extern "C" fn blk_copy_rust_nr_ranges(
    rq: *mut bindings::request,
    op: bindings::req_op,
) -> c_uint {
    // SAFETY: By the safety requirements the driver is executing `rq`, and does not complete it
    // during this call.
    let Some(bio) = (unsafe { Bio::first_of_request(rq) }) else {
        return 0;
    };
    let n = ctx::with_request_ranges(bio, ReqOp::from_opf(op), <[_]>::len);
    n.and_then(|n| n.try_into().ok()).unwrap_or(0)
}

/// Range `idx` of one side of the copy request `rq`: `blk_copy_get_range()`. One without a
/// device (`bdev` NULL) when there is no such range.
///
/// # Safety
///
/// `rq` must be a copy request the calling driver is executing.
#[export]
pub unsafe extern "C" fn blk_copy_rust_get_range(
    rq: *mut bindings::request,
    op: bindings::req_op,
    idx: c_uint,
) -> bindings::blk_copy_range {
    let none = bindings::blk_copy_range {
        bdev: core::ptr::null_mut(),
        sector: 0,
        nr_sectors: 0,
    };
    // SAFETY: As in `blk_copy_rust_nr_ranges`.
    let Some(bio) = (unsafe { Bio::first_of_request(rq) }) else {
        return none;
    };
    let get = |ranges: &[ctx::Range]| ranges.get(idx as usize).map(|r| r.0);
    let found = ctx::with_request_ranges(bio, ReqOp::from_opf(op), get);
    found.flatten().unwrap_or(none)
}

/// Length in bytes of what `bio` asks its disk to do: for the `REQ_OP_COPY_DST` bio that carries
/// a copy chunk to its disk, that of the chunk, which may be more than the bio's own; the bio's
/// for any other bio.
///
/// # Safety
///
/// `bio` must be a valid bio being submitted by the caller, which changes none of it during this
/// call.
#[export]
pub unsafe extern "C" fn blk_copy_rust_bio_bytes(bio: *mut bindings::bio) -> u64 {
    // SAFETY: By the safety requirements the bio is valid, and stays so during this call.
    let bio = unsafe { Bio::from_raw(bio) };
    let chunk = |ranges: &[ctx::Range]| -> u64 {
        ranges
            .iter()
            .map(|r| u64::from(r.0.nr_sectors) << SECTOR_SHIFT)
            .sum()
    };
    ctx::with_request_ranges(bio, ReqOp::CopyDst, chunk).unwrap_or(bio.size().into())
}

/// `copy_file_range()` from `bdev_in` to `bdev_out`, both opened with `O_DIRECT`, `bdev_out` as
/// `file_out`.
///
/// # Safety
///
/// Both block devices must be held open by the caller, `bdev_out` through `file_out`, a file the
/// caller holds.
#[export]
pub unsafe extern "C" fn blk_copy_file_range(
    bdev_in: *mut bindings::block_device,
    pos_in: bindings::loff_t,
    bdev_out: *mut bindings::block_device,
    file_out: *mut bindings::file,
    pos_out: bindings::loff_t,
    len: usize,
) -> isize {
    // SAFETY: By the safety requirements both devices are open and `file_out` is valid for the
    // call. There is no active `fdget_pos()` region on it on this thread (copy_file_range() takes
    // none), and it is used only for its pointer, never for its position.
    let (src, dst, dst_file) = unsafe {
        (
            BlockDevice::from_raw(bdev_in),
            BlockDevice::from_raw(bdev_out),
            LocalFile::from_raw_file(file_out),
        )
    };
    match file_range::copy_range(src, pos_in, dst, dst_file, pos_out, len) {
        // At most `BLKCOPY_MAX_BYTES`, which fits.
        Ok(copied) => copied as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `BLKCOPY` on `file`, opened on `bdev` with `mode`; `argp` is the user's `struct blkcopy`.
///
/// # Safety
///
/// `file` must be a file the caller holds, opened on block device `bdev`.
#[export]
pub unsafe extern "C" fn blkdev_copy_ioctl(
    file: *mut bindings::file,
    bdev: *mut bindings::block_device,
    mode: bindings::blk_mode_t,
    argp: *mut c_void,
) -> c_int {
    // SAFETY: By the safety requirements the file is valid and holds the device open for the
    // call. There is no active `fdget_pos()` region on the file on this thread (an ioctl takes
    // none), and the file is used only for its pointer, never for its position.
    let (file, bdev) = unsafe { (LocalFile::from_raw_file(file), BlockDevice::from_raw(bdev)) };
    match ioctl::ioctl(file, bdev, mode, UserPtr::from_ptr(argp)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `BLOCK_URING_CMD_COPY` issued to `cmd`, on a file opened on `bdev` with `mode`, by
/// `blkdev_uring_cmd()`: `arg` and `addr3` are what the SQE held in `addr` and `addr3` at the
/// first issue, and `slot` is the word of the command's pdu where a copy that starts is parked.
/// Returns `-EIOCBQUEUED` once the command will complete through
/// `blkdev_copy_uring_defer_finish()` or cancellation, `-EAGAIN` under `IO_URING_F_NONBLOCK` for
/// io_uring to issue it again where it may wait, or the error of a copy that did not start.
///
/// # Safety
///
/// `cmd` must be a `BLOCK_URING_CMD_COPY` command io_uring issued to the block device file
/// `bdev` is the device of, and not completed; `slot` must point into its pdu, and be written by
/// nothing else until the command completes. This must run in the issue of `cmd` by
/// `blkdev_uring_cmd()`, its `uring_cmd` handler, and `issue_flags` must be the flags io_uring
/// passed to it.
#[cfg(CONFIG_IO_URING)]
#[export]
pub unsafe extern "C" fn blkdev_copy_uring_cmd(
    cmd: *mut bindings::io_uring_cmd,
    bdev: *mut bindings::block_device,
    mode: bindings::blk_mode_t,
    arg: u64,
    addr3: u64,
    slot: *mut *mut c_void,
    issue_flags: c_uint,
) -> c_int {
    // SAFETY: By the safety requirements `cmd` is what io_uring passed to `blkdev_uring_cmd()`,
    // the `uring_cmd` handler of block device files, for this issue, and the reference lives
    // only in this call. Its file holds `bdev` open for at least as long: io_uring holds the file
    // until it frees the request, which it does not do during the call.
    let (cmd, bdev) = unsafe { (IoUringCmd::from_raw(cmd), BlockDevice::from_raw(bdev)) };
    // SAFETY: By the safety requirements `issue_flags` are those io_uring passed to
    // `blkdev_uring_cmd()` for this issue of `cmd`. `flags` lives only in this call, and
    // `uring::issue` uses it only with `cmd`.
    let flags = unsafe { IssueFlags::from_raw(issue_flags) };
    // SAFETY: By the safety requirements `slot` is the command's, and no one else's; this is the
    // issue of `cmd` by `blkdev_uring_cmd()`, which returns what this returns.
    match unsafe { uring::issue(cmd, bdev, mode, arg, addr3, slot, flags) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// io_uring cancels `cmd`, a `BLOCK_URING_CMD_COPY` that `blkdev_copy_uring_cmd()` marked
/// cancelable (its ring or its task is going away): `->uring_cmd()` with `IO_URING_F_CANCEL`.
/// The right to complete the command is parked with the copy, which `slot` holds.
///
/// # Safety
///
/// `cmd` must be such a command, not completed, `slot` the word of its pdu given to
/// `blkdev_copy_uring_cmd()`, and the caller must hold the ring's `uring_lock`, as
/// `io_uring_try_cancel_uring_cmd()` does. This must run in the cancellation of `cmd` by
/// `blkdev_uring_cmd()`, and `issue_flags` must be the flags io_uring passed to it.
#[cfg(CONFIG_IO_URING)]
#[export]
pub unsafe extern "C" fn blkdev_copy_uring_cancel(
    cmd: *mut bindings::io_uring_cmd,
    slot: *mut *mut c_void,
    issue_flags: c_uint,
) {
    // SAFETY: By the safety requirements `issue_flags` are those `io_uring_try_cancel_uring_cmd()`
    // passed to `blkdev_uring_cmd()` to cancel `cmd` (`IO_URING_F_CANCEL |
    // IO_URING_F_COMPLETE_DEFER`). `flags` lives only in this call, and `uring::cancel` uses it
    // only with `cmd`, the command whose pdu holds `slot`.
    let flags = unsafe { IssueFlags::from_raw(issue_flags) };
    // SAFETY: By the safety requirements `cmd` is the command io_uring passed to the handler for
    // this cancellation, and the reference does not outlast this call.
    let cmd = unsafe { IoUringCmd::from_raw(cmd) };
    // SAFETY: By the safety requirements `slot` is the word of the pdu of `cmd`, which this
    // cancellation is for, and the caller holds `uring_lock`; `flags` are its flags.
    unsafe { uring::cancel(cmd, slot, flags) };
}

/// The task work of a `BLOCK_URING_CMD_COPY` whose copy finished, queued by
/// `blkdev_copy_uring_defer_finish()`: reports the copy to user space (unless `cancel`: the task
/// work then runs where user memory is not the submitter's) and returns the result the command
/// completes with, the bytes copied or a negative errno.
///
/// # Safety
///
/// `slot` must be the word of the command's pdu given to `blkdev_copy_uring_cmd()`, of a
/// command whose copy called `blkdev_copy_uring_defer_finish()`; called once per such command,
/// in its task work, with the ring's `uring_lock` held, before the command completes.
#[cfg(CONFIG_IO_URING)]
#[export]
pub unsafe extern "C" fn blkdev_copy_uring_finish(slot: *mut *mut c_void, cancel: bool) -> c_int {
    // SAFETY: By the safety requirements.
    unsafe { uring::finish(slot, cancel) }
}
