// SPDX-License-Identifier: GPL-2.0

//! A copy as a caller described it in `struct blk_copy_params`: validated once, then counted,
//! traced and reported to the caller phase by phase.

use core::ptr::NonNull;
use kernel::{
    bindings,
    block::bdev::BlockDevice,
    prelude::*, //
};

use crate::{
    plan::{
        self,
        Limits,
        Seg, //
    },
    stats,
    trace,
    Method, //
};

/// A copy as a caller described it in `struct blk_copy_params`, validated, with the engine's
/// own copy of the segment lists.
///
/// # Invariants
///
/// `params` stays valid, and both of its block devices open, until [`CopyArgs::report`] has
/// returned (for an asynchronous copy) or until the engine returned to the caller (for a
/// synchronous one).
pub(crate) struct CopyArgs {
    params: NonNull<bindings::blk_copy_params>,
    pub(crate) src: KVec<Seg>,
    pub(crate) dst: KVec<Seg>,
    /// Length of the copy in bytes.
    pub(crate) total: u64,
    /// Whether the kernel copies what the devices do not (no `BLKDEV_COPY_NOFALLBACK`).
    fallback: bool,
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
    /// Validates the copy `params` describes; the kernel copies what the devices do not when
    /// `fallback` is set.
    ///
    /// # Safety
    ///
    /// `params` must be valid, its segment arrays readable during this call, and it must stay
    /// valid with both devices open until the copy finished.
    pub(crate) unsafe fn new(
        params: *mut bindings::blk_copy_params,
        fallback: bool,
    ) -> Result<Self> {
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
            fallback,
        };
        let (sb, db) = (args.src_bdev(), args.dst_bdev());
        if db.is_read_only() {
            return Err(EPERM);
        }
        args.total = plan::validate(
            &args.src,
            &Limits::of(sb),
            &args.dst,
            &Limits::of(db),
            sb.same_disk(db),
        )?;
        plan::merge_contiguous(&mut args.src);
        plan::merge_contiguous(&mut args.dst);
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
    pub(crate) fn is_async(&self) -> bool {
        self.params().end_io.is_some()
    }

    /// Whether the kernel copies what the devices do not.
    pub(crate) fn fallback(&self) -> bool {
        self.fallback
    }

    /// Traces that the copy from byte `from` on is to be done by `method`.
    pub(crate) fn trace_start(&self, method: Method, from: u64) {
        trace::submit(
            self.src_bdev(),
            self.dst_bdev(),
            self.total - from,
            plan::nr_segs_from(&self.src, from),
            plan::nr_segs_from(&self.dst, from),
            method,
        );
    }

    /// Counts and traces the end of the part of the copy from byte `from` on, done by `method`,
    /// which stopped after `copied` bytes of the whole copy with `result`.
    pub(crate) fn record(&self, method: Method, from: u64, copied: u64, result: Result) {
        let (src, dst) = (self.src_bdev(), self.dst_bdev());
        let (len, done) = (self.total - from, copied.saturating_sub(from));
        stats::account(dst, method, len, done, result);
        trace::complete(src, dst, len, done, result, method);
    }

    /// Reports the outcome to the caller: `copied` bytes, the first `offloaded` of them by the
    /// devices, then `result`. Called once for a copy that started.
    ///
    /// For an asynchronous copy this calls `end_io`, after which the parameters belong to the
    /// caller again and `self` must not touch them.
    pub(crate) fn report(&self, copied: u64, offloaded: u64, result: Result) {
        let p = self.params.as_ptr();
        // SAFETY: By the type invariant `params` is valid until this returns; it is written only
        // here, once.
        unsafe {
            (*p).copied = copied;
            (*p).offloaded = offloaded;
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
