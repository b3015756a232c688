// SPDX-License-Identifier: GPL-2.0

//! What a request carries: the data segments of a read or write, the ranges of a copy.
//!
//! C headers: [`include/linux/bvec.h`](srctree/include/linux/bvec.h),
//! [`include/linux/blk-copy.h`](srctree/include/linux/blk-copy.h)

use crate::{
    bindings,
    block::DiskId,
    error::{
        code::EINVAL,
        Result, //
    }, //
};
use core::marker::PhantomData;

/// The data segments of a request that carries data, from [`Request::segments`].
///
/// # Examples
///
/// Moving the data of a request to or from `store`, the bytes of a device:
///
/// ```no_run
/// use kernel::{
///     block::{
///         mq::{
///             Operations,
///             Request, //
///         },
///         req_op::ReqOp,
///         SECTOR_SHIFT, //
///     },
///     prelude::*,
/// };
///
/// fn transfer<T: Operations>(rq: &Request<T>, store: &mut [u8]) -> Result {
///     // Discard, write zeroes, flush, copy offload: no memory to copy from or to.
///     let Some(segments) = rq.segments() else {
///         return Ok(());
///     };
///     let mut pos = usize::try_from(rq.sector() << SECTOR_SHIFT)?;
///     segments.for_each(|seg| {
///         let end = pos.checked_add(seg.len()).ok_or(EIO)?;
///         let bytes = store.get_mut(pos..end).ok_or(EIO)?;
///         if rq.op() == ReqOp::Write {
///             seg.read_at(0, bytes)?;
///         } else {
///             // SAFETY: The segments of `rq` are walked once, here, on this thread only, and the
///             // kernel leaves the memory of a read to the driver until the request ends.
///             unsafe { seg.write_at(0, bytes)? };
///         }
///         pos = end;
///         Ok(())
///     })
/// }
/// ```
///
/// # Invariants
///
/// - `bio` is the first bio of a request that the driver owns for `'a`, and `bio_has_data()`
///   holds for it. All bios of a request have the request's operation, so each bio of the chain
///   that starts at `bio` (linked by `bi_next`) has a `bi_io_vec` that its `bi_iter` indexes.
///   The bios, their `bio_vec`s and the pages these name stay valid for `'a`.
/// - `to_device` is whether the operation of that request moves data to the device
///   (`op_is_write()`).
///
/// [`Request::segments`]: crate::block::mq::Request::segments
pub struct Segments<'a> {
    bio: *mut bindings::bio,
    to_device: bool,
    _p: PhantomData<&'a ()>,
}

impl<'a> Segments<'a> {
    /// The data segments of `rq`, or [`None`] if it carries no data.
    ///
    /// # Safety
    ///
    /// `rq` must be a valid request that the driver owns for `'a`.
    pub(crate) unsafe fn new(rq: *mut bindings::request) -> Option<Self> {
        // SAFETY: By the safety requirements `rq` is valid.
        let (bio, opf) = unsafe { ((*rq).bio, (*rq).cmd_flags) };
        // SAFETY: `bio` is not null, so it is the first bio of `rq`, valid by the safety
        // requirements.
        if bio.is_null() || !unsafe { bindings::bio_has_data(bio) } {
            // No bio (a flush), an empty one, or an operation that names sectors only, without
            // memory: discard, write zeroes, copy offload.
            return None;
        }
        // INVARIANT: `bio` is the first bio of `rq`, which the driver owns for `'a`, and
        // `bio_has_data()` holds for it. The block layer merges only bios of the same operation
        // into one request (`blk_rq_merge_ok()`), and `blk_rq_cur_bytes()` relies on the same
        // check to use the `bio_vec`s of a request. The lowest bit of the operation is the data
        // direction, as `op_is_write()` reads it.
        Some(Self {
            bio,
            to_device: opf & 1 != 0,
            _p: PhantomData,
        })
    }

    /// Calls `f` on each single-page segment of every bio of the request, in order, until `f`
    /// fails.
    ///
    /// Returns the error of `f`, if it failed.
    pub fn for_each(&self, mut f: impl FnMut(&Segment<'_>) -> Result) -> Result {
        let mut bio = self.bio;
        while !bio.is_null() {
            // SAFETY: By the type invariants `bio` is a valid bio of the request.
            let mut iter = unsafe { (*bio).bi_iter };
            while iter.bi_size > 0 {
                // SAFETY: By the type invariants `bio` is valid and its `bi_io_vec` indexed by
                // its `bi_iter`, which `iter` only advances within. The helper returns the
                // single-page segment at `iter`.
                let bvec = unsafe { bindings::bio_iter_iovec(bio, iter) };
                // SAFETY: `bvec` is a single-page segment of `bio`, so of the memory of a
                // request that carries data and that the driver owns for `'a`; `to_device` is
                // that request's direction, by the type invariants.
                let segment = unsafe { Segment::new(bvec, self.to_device) };
                f(&segment)?;
                // SAFETY: `iter` indexes `bio`'s `bi_io_vec` and at least `bv_len` bytes remain
                // in it.
                unsafe { bindings::bio_advance_iter_single(bio, &mut iter, bvec.bv_len) };
            }
            // SAFETY: By the type invariants `bio` is valid; its `bi_next` is the next bio of the
            // request, or null after the last.
            bio = unsafe { (*bio).bi_next };
        }
        Ok(())
    }
}

/// A contiguous piece of the memory of a request that carries data, within one page.
///
/// The memory of a request that moves data to the device (a write) is the source of the
/// transfer: the driver reads it with [`Segment::read_at`] and must not change it. The memory of
/// any other request (a read) is its destination: the driver fills it with
/// [`Segment::write_at`] and [`Segment::fill_zero`], and has nothing to read from it.
///
/// # Races
///
/// The bytes are copied by C (`memcpy_from_page()`, `memcpy_to_page()`, `memzero_page()`), as C
/// drivers copy them. The block layer lends the memory to the driver until the request ends, but
/// the submitter does not always keep others away from it. User space may change the buffer of
/// an `O_DIRECT` write while the device stores it and, unless the queue asks for stable writes,
/// user space (through a mapping) and the page cache (through `write()`) may change a page of
/// the page cache while it is written back. User space may also read or write the buffer of an
/// `O_DIRECT` read while the device fills it, or lend one buffer to two requests at once. These
/// races, which the submitter's side causes, are allowed, as with [`UserSlice`]: the bytes they
/// leave (in the driver's buffer, or in the request's memory) are unspecified. They happen in C
/// copies, which the kernel lets race with them as it does the copies of C drivers, never in
/// Rust accesses. The driver must not expect what it reads to stay consistent.
///
/// The driver's own accesses must not race: writes are `unsafe`, and their callers ensure that
/// nothing else in the kernel reads or writes the same bytes at the same time, as with
/// [`Page::write_raw`]. As the kernel leaves the memory of a read to the driver until the request
/// ends, this is about the driver itself, e.g. two of its threads writing one segment. Reads need
/// no such care: the driver never writes the memory of a write.
///
/// # Invariants
///
/// - `bvec` describes `bv_len` bytes at `bv_offset` of `bv_page`, all inside that page, memory
///   of a request that carries data and that the driver owns for `'a`: the memory stays valid
///   until the request ends, and the kernel does not access the memory of a read before that,
///   but through the driver (user space may, see [Races](Segment#races)).
/// - `to_device` is whether that request moves data to the device (`op_is_write()`).
///
/// [`UserSlice`]: crate::uaccess::UserSlice
/// [`Page::write_raw`]: crate::page::Page::write_raw
pub struct Segment<'a> {
    bvec: bindings::bio_vec,
    to_device: bool,
    _p: PhantomData<&'a ()>,
}

impl<'a> Segment<'a> {
    /// Wraps one single-page segment of a request.
    ///
    /// # Safety
    ///
    /// `bvec` and `to_device` must satisfy the type invariants for `'a`.
    unsafe fn new(bvec: bindings::bio_vec, to_device: bool) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            bvec,
            to_device,
            _p: PhantomData,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bvec.bv_len as usize
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `dst.len()` bytes, starting `start` bytes into the segment, into `dst`.
    ///
    /// Fails with `EINVAL` if the range does not lie inside the segment, or if the request is a
    /// read, whose memory holds nothing to read yet. If user space changes the bytes meanwhile,
    /// `dst` gets unspecified bytes (see [Races](Segment#races)).
    pub fn read_at(&self, start: usize, dst: &mut [u8]) -> Result {
        let offset = self.check(start, dst.len(), true)?;
        // SAFETY: By the type invariants the page is valid and, by `check`, `offset + dst.len()`
        // lies inside it. `dst` is valid for writing `dst.len()` bytes and, borrowed exclusively,
        // cannot overlap the memory the submitter lent to the request. That memory is a write's
        // (`check` refused a read), which the driver never writes; others may (see the type
        // documentation), a race that this C copy allows, as the copies of C drivers do, and
        // that leaves unspecified bytes in `dst`.
        unsafe {
            bindings::memcpy_from_page(
                dst.as_mut_ptr().cast(),
                self.bvec.bv_page,
                offset,
                dst.len(),
            )
        };
        Ok(())
    }

    /// Copies `src` into the segment, starting `start` bytes into it.
    ///
    /// Fails with `EINVAL` if the range does not lie inside the segment, or if the request is a
    /// write, whose memory the driver must not change.
    ///
    /// # Safety
    ///
    /// Callers must ensure that this call does not race with a read or write of the same bytes
    /// by the kernel, e.g. through another [`Segment`] of the same memory on another thread.
    /// Races caused by user space are allowed (see [Races](Segment#races)).
    pub unsafe fn write_at(&self, start: usize, src: &[u8]) -> Result {
        let offset = self.check(start, src.len(), false)?;
        // SAFETY: By the type invariants the page is valid and, by `check`, `offset + src.len()`
        // lies inside it. `src` is valid for reading `src.len()` bytes and, a Rust slice, cannot
        // overlap the memory of a read (`check` refused a write), which the submitter lent to the
        // request. By the safety requirements no access of the kernel races with this write; a
        // race that user space causes is allowed for this C copy.
        unsafe {
            bindings::memcpy_to_page(self.bvec.bv_page, offset, src.as_ptr().cast(), src.len())
        };
        Ok(())
    }

    /// Fills `len` bytes of the segment, starting `start` bytes into it, with zeroes.
    ///
    /// Fails with `EINVAL` if the range does not lie inside the segment, or if the request is a
    /// write, whose memory the driver must not change.
    ///
    /// # Safety
    ///
    /// Callers must ensure that this call does not race with a read or write of the same bytes
    /// by the kernel, e.g. through another [`Segment`] of the same memory on another thread.
    /// Races caused by user space are allowed (see [Races](Segment#races)).
    pub unsafe fn fill_zero(&self, start: usize, len: usize) -> Result {
        let offset = self.check(start, len, false)?;
        // SAFETY: By the type invariants the page is valid and, by `check`, `offset + len` lies
        // inside it, the memory of a read (`check` refused a write). By the safety requirements no
        // access of the kernel races with this write; a race that user space causes is allowed
        // for this C write.
        unsafe { bindings::memzero_page(self.bvec.bv_page, offset, len) };
        Ok(())
    }

    /// The offset in the page of `len` bytes at `start` of the segment, if they lie inside it
    /// and the request moves data in the direction asked for: `to_device` to read the segment,
    /// to the memory to write it.
    fn check(&self, start: usize, len: usize, to_device: bool) -> Result<usize> {
        if self.to_device != to_device {
            return Err(EINVAL);
        }
        match start.checked_add(len) {
            // By the type invariants `bv_offset + bv_len` is at most `PAGE_SIZE`.
            Some(end) if end <= self.len() => Ok(self.bvec.bv_offset as usize + start),
            _ => Err(EINVAL),
        }
    }
}

/// One range of a copy offload request: sectors of the disk the request was queued on, or, for
/// a source range, of another disk of its copy domain ([`CopyRange::disk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRange {
    /// First sector.
    pub sector: u64,
    /// Length in sectors.
    pub nr_sectors: u32,
    /// The disk the range lies on when it is not the disk the request was queued on: a source
    /// range on another disk of the copy domain the driver put that disk in
    /// (`queue_limits.copy_domain`). The driver reads it from that disk, or fails the request
    /// with `EOPNOTSUPP` (the caller then copies another way) when it cannot, for example because
    /// that disk is being removed. Always `None` on a disk without a copy domain.
    pub disk: Option<DiskId>,
}
