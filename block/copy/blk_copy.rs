// SPDX-License-Identifier: GPL-2.0

//! Block layer copy offload engine.
//!
//! C header: [`include/linux/blk-copy.h`](srctree/include/linux/blk-copy.h)
//!
//! A copy moves the bytes of source segments on one block device to destination segments on
//! the same or another block device. When both devices can copy internally, the engine
//! offloads the copy ([`offload`]): it cuts the copy into chunks the devices accept and sends
//! each chunk down the stack as `REQ_OP_COPY_SRC` and `REQ_OP_COPY_DST` bios tied by a copy
//! context ([`ctx`]). Otherwise the kernel copies through a bounded buffer ([`onload`]).
//! [`plan`] validates copies and cuts them into chunks. Every copy shows in the destination
//! disk's [`stats`] and in the [`trace`]points.

use core::ptr::NonNull;
use kernel::{
    bindings,
    block::bdev::BlockDevice,
    ffi::c_int,
    prelude::*, //
};

mod ctx;
mod file_range;
mod ioctl;
mod offload;
mod onload;
mod plan;
mod stats;
mod trace;
mod user_copy;

use offload::OffloadJob;
use onload::OnloadJob;
use plan::{
    Limits,
    Seg, //
};

/// The engine's workqueue, `blk_copy_wq`: copies issued from memory reclaim (dm-kcopyd,
/// nvmet) continue on it under memory pressure, as it has a rescuer (`WQ_MEM_RECLAIM`).
pub(crate) fn copy_wq() -> &'static kernel::workqueue::Queue {
    // SAFETY: `blk_copy_wq` is allocated at boot, before any copy can start, and never freed.
    unsafe { kernel::workqueue::Queue::from_raw(bindings::blk_copy_wq) }
}

/// How a copy is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// By the device: `blkdev_copy_offload()`.
    Offload,
    /// By the kernel, reading and writing: `blkdev_copy_onload()`.
    Onload,
}

/// A copy as a caller described it in `struct blk_copy_params`, validated, with the engine's
/// own copy of the segment lists.
///
/// # Invariants
///
/// `params` stays valid, and both of its block devices open, until [`CopyArgs::finish`] has
/// returned (for an asynchronous copy) or until the engine returned to the caller (for a
/// synchronous one).
pub(crate) struct CopyArgs {
    params: NonNull<bindings::blk_copy_params>,
    pub(crate) src: KVec<Seg>,
    pub(crate) dst: KVec<Seg>,
    /// Length of the copy in bytes.
    pub(crate) total: u64,
    method: Method,
}

// SAFETY: The caller lends the parameters to the engine until the copy finishes; the engine
// reads the inputs and writes the outputs once, from whichever CPU finishes the copy.
unsafe impl Send for CopyArgs {}

// SAFETY: Shared references only read the inputs, which do not change during the copy.
unsafe impl Sync for CopyArgs {}

/// Copies `n` segments from `segs`.
///
/// # Safety
///
/// `segs` must be valid for reading `n` segments.
unsafe fn copy_segs(segs: *const Seg, n: u32) -> Result<KVec<Seg>> {
    if segs.is_null() || n == 0 {
        return Err(EINVAL);
    }
    // SAFETY: By the safety requirements.
    let segs = unsafe { core::slice::from_raw_parts(segs, n as usize) };
    let mut v = KVec::with_capacity(segs.len(), GFP_NOIO)?;
    v.extend_from_slice(segs, GFP_NOIO)?;
    Ok(v)
}

impl CopyArgs {
    /// Validates the copy `params` describes, to be done by `method`.
    ///
    /// # Safety
    ///
    /// `params` must be valid, its segment arrays readable during this call, and it must stay
    /// valid with both devices open until the copy finished.
    unsafe fn new(params: *mut bindings::blk_copy_params, method: Method) -> Result<Self> {
        let params = NonNull::new(params).ok_or(EINVAL)?;
        // SAFETY: By the safety requirements `params` is valid.
        let p = unsafe { params.as_ref() };
        if p.src_bdev.is_null() || p.dst_bdev.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: By the safety requirements the segment arrays are readable.
        let (src, dst) = unsafe {
            (
                copy_segs(p.src_segs, p.nr_src_segs)?,
                copy_segs(p.dst_segs, p.nr_dst_segs)?,
            )
        };
        let mut args = Self {
            params,
            src,
            dst,
            total: 0,
            method,
        };
        let (sb, db) = (args.src_bdev(), args.dst_bdev());
        if db.is_read_only() {
            return Err(EPERM);
        }
        let total = plan::validate(
            &args.src,
            &Limits::of(sb),
            &args.dst,
            &Limits::of(db),
            sb.same_disk(db),
        )?;
        args.total = total;
        plan::merge_contiguous(&mut args.src);
        plan::merge_contiguous(&mut args.dst);
        trace::submit(
            args.src_bdev(),
            args.dst_bdev(),
            total,
            args.src.len(),
            args.dst.len(),
            method,
        );
        Ok(args)
    }

    fn params(&self) -> &bindings::blk_copy_params {
        // SAFETY: By the type invariant `params` is valid.
        unsafe { self.params.as_ref() }
    }

    /// The device to read from.
    pub(crate) fn src_bdev(&self) -> &BlockDevice {
        // SAFETY: By the type invariant the device is open.
        unsafe { BlockDevice::from_raw(self.params().src_bdev) }
    }

    /// The device to write to.
    pub(crate) fn dst_bdev(&self) -> &BlockDevice {
        // SAFETY: By the type invariant the device is open.
        unsafe { BlockDevice::from_raw(self.params().dst_bdev) }
    }

    /// Whether the caller asked for completion through `end_io`.
    fn is_async(&self) -> bool {
        self.params().end_io.is_some()
    }

    /// Reports the outcome to the caller: `copied` bytes, then `result`. Called once for a copy
    /// that started.
    ///
    /// For an asynchronous copy this calls `end_io`, after which the parameters belong to the
    /// caller again and `self` must not touch them.
    pub(crate) fn finish(&self, copied: u64, result: Result) {
        record(
            self.src_bdev(),
            self.dst_bdev(),
            self.method,
            self.total,
            copied,
            result,
        );
        let p = self.params.as_ptr();
        // SAFETY: By the type invariant `params` is valid until this returns; it is written only
        // here, once.
        unsafe {
            (*p).copied = copied;
            (*p).status = match result {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            };
            if let Some(end_io) = (*p).end_io {
                end_io(p);
            }
        }
    }
}

/// Counts and traces the end of a copy of `total` bytes from `src` to `dst` by `method`, after
/// `copied` bytes with `result`.
fn record(
    src: &BlockDevice,
    dst: &BlockDevice,
    method: Method,
    total: u64,
    copied: u64,
    result: Result,
) {
    stats::account(dst, method, total, copied, result);
    trace::complete(src, dst, total, copied, result, method);
}

/// Records a copy of `total` bytes by `method` that failed to start with `err`; its
/// [`CopyArgs`] are gone, so this reads the devices from `params`.
///
/// # Safety
///
/// `params` must be valid with both devices open, as for a copy that has not started.
unsafe fn record_unstarted(
    params: *mut bindings::blk_copy_params,
    method: Method,
    total: u64,
    err: Error,
) {
    // SAFETY: By the safety requirements.
    let (src, dst) = unsafe {
        (
            BlockDevice::from_raw((*params).src_bdev),
            BlockDevice::from_raw((*params).dst_bdev),
        )
    };
    record(src, dst, method, total, 0, Err(err));
}

/// Copies by offloading to the device: `blkdev_copy_offload()` (block/copy/blk-copy.c).
///
/// # Safety
///
/// `params` must be valid as `struct blk_copy_params` documents.
#[export]
pub unsafe extern "C" fn blk_copy_rust_offload(params: *mut bindings::blk_copy_params) -> c_int {
    kernel::task::might_sleep();
    // SAFETY: By the safety requirements.
    let args = match unsafe { CopyArgs::new(params, Method::Offload) } {
        Ok(args) => args,
        Err(e) => return e.to_errno(),
    };
    let (is_async, total) = (args.is_async(), args.total);
    match OffloadJob::start(args) {
        Err(e) => {
            // SAFETY: The copy did not start: the parameters are still the caller's to return.
            unsafe { record_unstarted(params, Method::Offload, total, e) };
            e.to_errno()
        }
        Ok(_) if is_async => EIOCBQUEUED.to_errno(),
        Ok(job) => {
            OffloadJob::wait(&job);
            // SAFETY: A synchronous copy's parameters are valid until we return.
            unsafe { (*params).status }
        }
    }
}

/// Copies by reading and writing in the kernel: `blkdev_copy_onload()`.
///
/// # Safety
///
/// `params` must be valid as `struct blk_copy_params` documents.
#[export]
pub unsafe extern "C" fn blk_copy_rust_onload(params: *mut bindings::blk_copy_params) -> c_int {
    kernel::task::might_sleep();
    // SAFETY: By the safety requirements.
    let args = match unsafe { CopyArgs::new(params, Method::Onload) } {
        Ok(args) => args,
        Err(e) => return e.to_errno(),
    };
    if args.is_async() {
        let total = args.total;
        return match OnloadJob::start(args) {
            Ok(()) => EIOCBQUEUED.to_errno(),
            Err(e) => {
                // SAFETY: The copy did not start: the parameters are still the caller's.
                unsafe { record_unstarted(params, Method::Onload, total, e) };
                e.to_errno()
            }
        };
    }
    let (copied, result) = onload::copy(&args);
    args.finish(copied, result);
    // SAFETY: A synchronous copy's parameters are valid until we return.
    unsafe { (*params).status }
}
