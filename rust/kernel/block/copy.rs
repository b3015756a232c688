// SPDX-License-Identifier: GPL-2.0

//! Copies between block devices, as the block layer's copy engine (`block/copy/`) sees them: a
//! caller's description of a copy, the workqueues copies go on, and the statistics and
//! tracepoints every copy shows in.
//!
//! C headers: [`include/linux/blk-copy.h`](srctree/include/linux/blk-copy.h),
//! [`include/trace/events/blk_copy.h`](srctree/include/trace/events/blk_copy.h)

use crate::{
    alloc::Flags,
    bindings,
    block::bdev::BlockDevice,
    error::to_result,
    ffi::{
        c_char,
        c_int,
        c_uint, //
    },
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Relaxed, //
    },
    tracepoint::declare_trace,
    workqueue::Queue, //
};
use core::ptr::NonNull;

/// A byte range of a block device: `struct blk_copy_seg`.
pub type CopySeg = bindings::blk_copy_seg;

/// Size of the buffer the kernel copies through when the devices cannot.
pub const ONLOAD_BUF_BYTES: u64 = bindings::BLK_COPY_ONLOAD_BUF_BYTES as u64;

/// A copy as its caller described it in `struct blk_copy_params`, lent to the copy engine until
/// the copy is [completed](CopyParams::complete).
///
/// # Invariants
///
/// `params` is valid, and both of its devices open, until [`CopyParams::complete`] is called for
/// an asynchronous copy, and until the engine returns to its caller for a synchronous one.
///
/// # Examples
///
/// ```no_run
/// use kernel::block::copy::{CopyParams, CopyStat};
/// use kernel::prelude::*;
///
/// /// Counts a copy of `len` bytes that the devices did, then reports it to its caller.
/// fn offloaded(params: CopyParams, len: u64) {
///     CopyStat::Offloaded.add(params.dst_bdev(), 1, len);
///     // SAFETY: Reported once, and `params` is not used afterwards.
///     unsafe { params.complete(len, len, Ok(())) };
/// }
/// ```
pub struct CopyParams {
    params: NonNull<bindings::blk_copy_params>,
}

// SAFETY: The caller lends the parameters for the whole copy, to whichever task or CPU works on
// it; only `complete` writes to them, once.
unsafe impl Send for CopyParams {}

// SAFETY: Through a shared reference the inputs are read, field by field, and never change during
// the copy; the outputs are written only by `complete`, whose safety requirements exclude any
// other use of the parameters at the same time.
unsafe impl Sync for CopyParams {}

/// The segments of a copy: copied from its caller's arrays by [`CopyParams::from_raw`], or built
/// by its caller for [`CopyParams::with_segs`].
pub struct CopySegs {
    /// Where to read, in order, as one stream.
    pub src: KVec<CopySeg>,
    /// Where to write, in order.
    pub dst: KVec<CopySeg>,
}

/// Copies the `n` segments at `segs`, allocating with `gfp`; `EINVAL` for none.
///
/// # Safety
///
/// `segs` must be NULL or valid for reading `n` segments.
unsafe fn copy_segs(segs: *const CopySeg, n: c_uint, gfp: Flags) -> Result<KVec<CopySeg>> {
    if segs.is_null() || n == 0 {
        return Err(EINVAL);
    }
    // SAFETY: By the safety requirements.
    let segs = unsafe { core::slice::from_raw_parts(segs, n as usize) };
    let mut v = KVec::with_capacity(segs.len(), gfp)?;
    v.extend_from_slice(segs, gfp)?;
    Ok(v)
}

impl CopyParams {
    /// Takes the copy `ptr` describes, with its segments copied (allocated with `gfp`), as the
    /// caller's arrays may go away once the engine returns. Fails with `EINVAL` when `ptr`, a
    /// device or a segment list is missing.
    ///
    /// # Safety
    ///
    /// `ptr` must be NULL or point to a `struct blk_copy_params` valid as it documents: its
    /// segment arrays readable during this call, and it and both of its devices valid until
    /// [`CopyParams::complete`] is called for an asynchronous copy (one with `end_io`), until
    /// the engine returns to its caller for a synchronous one. The result must not be used past
    /// that.
    pub unsafe fn from_raw(
        ptr: *mut bindings::blk_copy_params,
        gfp: Flags,
    ) -> Result<(Self, CopySegs)> {
        // SAFETY: By the safety requirements `ptr` is NULL or valid.
        let p = unsafe { ptr.as_ref() }.ok_or(EINVAL)?;
        // SAFETY: By the safety requirements the segment arrays are readable.
        let segs = unsafe {
            CopySegs {
                src: copy_segs(p.src_segs, p.nr_src_segs, gfp)?,
                dst: copy_segs(p.dst_segs, p.nr_dst_segs, gfp)?,
            }
        };
        // SAFETY: By the safety requirements.
        unsafe { Self::with_segs(ptr, segs) }
    }

    /// Takes the copy `ptr` describes as [`CopyParams::from_raw`] does, with `segs`, the segments
    /// its caller in Rust built for it, instead of copies of the arrays `ptr` points to, which
    /// are not read. Fails with `EINVAL` when `ptr`, a device or a segment list is missing.
    ///
    /// # Safety
    ///
    /// As for [`CopyParams::from_raw`], except that the segment arrays need not be readable.
    pub unsafe fn with_segs(
        ptr: *mut bindings::blk_copy_params,
        segs: CopySegs,
    ) -> Result<(Self, CopySegs)> {
        let params = NonNull::new(ptr).ok_or(EINVAL)?;
        // SAFETY: By the safety requirements `params` is valid.
        let p = unsafe { params.as_ref() };
        if p.src_bdev.is_null()
            || p.dst_bdev.is_null()
            || segs.src.is_empty()
            || segs.dst.is_empty()
        {
            return Err(EINVAL);
        }
        // INVARIANT: By the safety requirements.
        Ok((Self { params }, segs))
    }

    /// The device to read from.
    pub fn src_bdev(&self) -> &BlockDevice {
        // SAFETY: By the type invariant `params` is valid and the device open; `from_raw` checked
        // it is there. Only this input field is read: no reference covers the outputs.
        unsafe { BlockDevice::from_raw((*self.params.as_ptr()).src_bdev) }
    }

    /// The device to write to, maybe [`CopyParams::src_bdev`].
    pub fn dst_bdev(&self) -> &BlockDevice {
        // SAFETY: As in `src_bdev`.
        unsafe { BlockDevice::from_raw((*self.params.as_ptr()).dst_bdev) }
    }

    /// Whether the caller is told of the outcome through `end_io`, rather than by the engine's
    /// return value.
    pub fn is_async(&self) -> bool {
        // SAFETY: By the type invariant `params` is valid; only this input field is read.
        unsafe { (*self.params.as_ptr()).end_io.is_some() }
    }

    /// The copy engine's workqueue, `blk_copy_wq`: copies issued from memory reclaim
    /// (dm-kcopyd, nvmet) continue on it under memory pressure, as it has a rescuer
    /// (`WQ_MEM_RECLAIM`).
    pub fn workqueue(&self) -> &'static Queue {
        // SAFETY: `blk_copy_wq` is allocated by a `core_initcall` and never freed. A copy is
        // between open block devices (the type invariant), which exist only from the
        // `subsys_initcall`s on, after it.
        unsafe { Queue::from_raw(bindings::blk_copy_wq) }
    }

    /// The workqueue of asynchronous in-kernel copies, `blk_copy_onload_wq`: apart from
    /// [`CopyParams::workqueue`], so that their long reads and writes under memory pressure
    /// never hold up the offloaded copies they may depend on (a dm-kcopyd copy below the
    /// destination).
    pub fn onload_workqueue(&self) -> &'static Queue {
        // SAFETY: As in `workqueue`.
        unsafe { Queue::from_raw(bindings::blk_copy_onload_wq) }
    }

    /// Reports the outcome to the caller: `copied` bytes, `offloaded` of them by the devices,
    /// then `result`; then calls `end_io` for an asynchronous copy.
    ///
    /// # Safety
    ///
    /// Called at most once, while nothing else uses `self`. For an asynchronous copy, nothing of
    /// `self` is used afterwards either: `end_io` gives the parameters and the devices back to
    /// the caller.
    pub unsafe fn complete(&self, copied: u64, offloaded: u64, result: Result) {
        let p = self.params.as_ptr();
        // SAFETY: By the type invariant `p` is valid until `end_io` is called; nothing else
        // writes the outputs, and this writes them once, by the safety requirements.
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

/// A pair of counters of `/sys/block/<disk>/copy_stats/`: operations and bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CopyStat {
    /// Copied by the device.
    Offloaded = bindings::blk_copy_stat_BLK_COPY_STAT_OFFLOADED,
    /// Copied by the kernel.
    Onloaded = bindings::blk_copy_stat_BLK_COPY_STAT_ONLOADED,
    /// Refused by the devices (`EOPNOTSUPP`), for the kernel to copy.
    Fallback = bindings::blk_copy_stat_BLK_COPY_STAT_FALLBACK,
    /// Failed otherwise.
    Error = bindings::blk_copy_stat_BLK_COPY_STAT_ERROR,
}

impl CopyStat {
    /// Gives the disk of `bdev` its copy counters, which the first copy to a disk allocates
    /// (`blk_copy_stats_prepare()`), so that disks no copy goes to do not pay for them. May
    /// sleep.
    pub fn prepare(bdev: &BlockDevice) -> Result {
        // SAFETY: The disk is valid while `bdev` is.
        to_result(unsafe { bindings::blk_copy_stats_prepare(bdev.disk()) })
    }

    /// Adds `ops` operations and `bytes` bytes to this counter of the disk of `bdev`, which
    /// counts nothing if no copy [prepared](CopyStat::prepare) it.
    pub fn add(self, bdev: &BlockDevice, ops: u64, bytes: u64) {
        let stat = self as usize;
        let disk = bdev.disk();
        // SAFETY: The disk is valid while `bdev` is. The pointer to its counters is set once,
        // with `cmpxchg()`, and otherwise only read atomically.
        let stats = unsafe { Atomic::from_ptr(&raw mut (*disk).copy_stats) }.load(Acquire);
        if stats.is_null() {
            return;
        }
        // SAFETY: `stats` is not NULL, so the counters were allocated, and live as long as the
        // disk. They are atomics, only ever updated atomically; `stat` is one of their indices.
        let (ops_counter, bytes_counter) = unsafe {
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
}

/// The tracepoints of `include/trace/events/blk_copy.h`, called through the safe functions
/// below.
// The lint is for macros of this crate that expand their arguments in `unsafe` blocks, as
// `declare_trace!` does: here the arguments are plain values.
#[allow(clippy::macro_metavars_in_unsafe)]
mod tracepoints {
    use super::*;

    declare_trace! {
        /// # Safety
        ///
        /// `disk` must point to a NUL-terminated string.
        pub(super) unsafe fn blk_copy_dispatch(disk: *const c_char, sector: u64, nr_sectors: u64,
                                               nr_src: c_uint, nr_dst: c_uint);
    }

    declare_trace! {
        /// # Safety
        ///
        /// None: the tracepoint only records its arguments.
        pub(super) unsafe fn blk_copy_submit(src_dev: bindings::dev_t, dst_dev: bindings::dev_t,
                                             len: u64, nr_src: c_uint, nr_dst: c_uint,
                                             offload: bool);
        /// # Safety
        ///
        /// None: the tracepoint only records its arguments.
        pub(super) unsafe fn blk_copy_complete(src_dev: bindings::dev_t,
                                               dst_dev: bindings::dev_t, len: u64, copied: u64,
                                               error: c_int, offload: bool);
    }
}
use tracepoints::*;

/// A count for a tracepoint: `c_uint::MAX` for more than it holds.
fn trace_count(n: usize) -> c_uint {
    n.try_into().unwrap_or(c_uint::MAX)
}

/// Tracepoint `blk_copy_submit`: a copy of `len` bytes from `nr_src` segments of `src` to
/// `nr_dst` segments of `dst` starts, offloaded (`offload`) or copied by the kernel.
pub fn trace_submit(
    src: &BlockDevice,
    dst: &BlockDevice,
    len: u64,
    nr_src: usize,
    nr_dst: usize,
    offload: bool,
) {
    let (nr_src, nr_dst) = (trace_count(nr_src), trace_count(nr_dst));
    // SAFETY: The tracepoint has no requirements.
    unsafe { blk_copy_submit(src.dev(), dst.dev(), len, nr_src, nr_dst, offload) }
}

/// Tracepoint `blk_copy_dispatch`: a chunk of `nr_sectors` at `sector` of `bdev`, from `nr_src`
/// source and to `nr_dst` destination ranges, goes to the driver of `bdev`'s disk as a request.
pub fn trace_dispatch(
    bdev: &BlockDevice,
    sector: u64,
    nr_sectors: u64,
    nr_src: usize,
    nr_dst: usize,
) {
    let disk = bdev.disk();
    let (nr_src, nr_dst) = (trace_count(nr_src), trace_count(nr_dst));
    // SAFETY: The disk is valid while `bdev` is (see `BlockDevice::disk`); its name is a
    // NUL-terminated array that never changes once the disk is added. The tracepoint copies it.
    unsafe {
        let name = (&raw const (*disk).disk_name).cast::<c_char>();
        blk_copy_dispatch(name, sector, nr_sectors, nr_src, nr_dst)
    }
}

/// Tracepoint `blk_copy_complete`: the copy traced by [`trace_submit`] finished with `result`
/// after `copied` of its `len` bytes.
pub fn trace_complete(
    src: &BlockDevice,
    dst: &BlockDevice,
    len: u64,
    copied: u64,
    result: Result,
    offload: bool,
) {
    let error = match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    };
    // SAFETY: The tracepoint has no requirements.
    unsafe { blk_copy_complete(src.dev(), dst.dev(), len, copied, error, offload) }
}
