// SPDX-License-Identifier: GPL-2.0

//! Block I/O: bios, their data segments and copy ranges.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)

use crate::{
    alloc::Flags,
    bindings,
    block::{
        bdev::BlockDevice,
        req_op::ReqOp,
        status::Status,
        DiskId, //
    },
    error::{
        code::{
            EINVAL,
            ENOMEM, //
        },
        to_result,
        Result, //
    },
    ffi::c_void,
    page::{
        Page,
        PAGE_SIZE, //
    },
    types::Opaque, //
};
#[cfg(CONFIG_BLK_COPY_OFFLOAD)]
use crate::{
    error::code::EBUSY,
    types::ForeignOwnable, //
};
use core::{
    marker::PhantomData,
    mem::{
        self,
        MaybeUninit, //
    },
    ops::{
        Deref,
        DerefMut, //
    },
    ptr::NonNull, //
};

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

/// A set of bios to allocate from: `struct bio_set`.
///
/// # Invariants
///
/// `self.0` is an initialised bio set that is never torn down.
#[repr(transparent)]
pub struct BioSet(Opaque<bindings::bio_set>);

// SAFETY: A bio set allocates from any task; C serialises what it needs to.
unsafe impl Sync for BioSet {}

impl BioSet {
    /// `fs_bio_set`: the bio set of file systems and of the block layer's own users, such as
    /// `blkdev_issue_zeroout()`.
    pub fn fs() -> &'static Self {
        // SAFETY: `fs_bio_set` is initialised at boot, before any user can run, and never torn
        // down; `BioSet` is `repr(transparent)` over it.
        unsafe { &*(&raw mut bindings::fs_bio_set).cast::<Self>() }
    }
}

/// A bio: `struct bio`, borrowed from whoever owns it.
///
/// The owned forms are [`OwnedBio`], a bio allocated here and not in flight, and [`PendingBio`],
/// a bio in flight whose completion was handed over; both dereference to `Bio`.
///
/// # Invariants
///
/// `self.0` is a valid bio that nobody changes while it is borrowed, except through a `&mut Bio`.
#[repr(transparent)]
pub struct Bio(Opaque<bindings::bio>);

impl Bio {
    /// Borrows a bio from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid bio that nobody changes during `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::bio) -> &'a Self {
        // SAFETY: `Bio` is `repr(transparent)` over the C struct; by the safety requirements
        // `ptr` is valid and unchanged for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer to the C `struct bio`.
    pub fn as_raw(&self) -> *mut bindings::bio {
        self.0.get()
    }

    fn raw(&self) -> &bindings::bio {
        // SAFETY: By the type invariant the bio is valid and unchanged while `self` is borrowed.
        unsafe { &*self.as_raw() }
    }

    fn raw_mut(&mut self) -> &mut bindings::bio {
        // SAFETY: By the type invariant the bio is valid, and `&mut self` makes this the only
        // access to it.
        unsafe { &mut *self.as_raw() }
    }

    /// The operation.
    pub fn op(&self) -> ReqOp {
        ReqOp::from_opf(self.raw().bi_opf)
    }

    /// The first sector: of the device, or, once the bio is past `submit_bio_noacct()`'s
    /// partition remap, of its disk.
    pub fn sector(&self) -> u64 {
        self.raw().bi_iter.bi_sector
    }

    /// The number of bytes left to do.
    pub fn size(&self) -> u32 {
        self.raw().bi_iter.bi_size
    }

    /// The device the bio is for.
    pub fn bdev(&self) -> &BlockDevice {
        // SAFETY: Whoever submits a bio keeps its device open, or referenced, until the bio
        // completes, which is after this borrow ends.
        unsafe { BlockDevice::from_raw(self.raw().bi_bdev) }
    }

    /// The status the bio completed with, `Status::OK` before it completes.
    pub fn status(&self) -> Status {
        Status::from_raw(self.raw().bi_status)
    }

    /// Sets the first sector.
    pub fn set_sector(&mut self, sector: u64) {
        self.raw_mut().bi_iter.bi_sector = sector;
    }

    /// Sets the length of a bio that carries no data, such as a copy bio.
    pub fn set_size(&mut self, size: u32) {
        self.raw_mut().bi_iter.bi_size = size;
    }

    /// Sets or clears `REQ_NOWAIT`: whether the block layer and the drivers below fail the bio
    /// with `BLK_STS_AGAIN` rather than wait for memory or tags.
    pub fn set_nowait(&mut self, nowait: bool) {
        let opf = &mut self.raw_mut().bi_opf;
        if nowait {
            *opf |= bindings::REQ_NOWAIT;
        } else {
            *opf &= !bindings::REQ_NOWAIT;
        }
    }

    /// Borrows the copy context of a copy bio, attached with [`OwnedBio::set_copy_ctx`] to the
    /// bio or to the one it was cloned from; `None` if there is none.
    ///
    /// # Safety
    ///
    /// A context attached to the bio, or inherited by a clone, must have been attached as a `T`,
    /// and the bio it was attached to must not have been given back with
    /// [`OwnedBio::take_copy_ctx`] before `'a` ends.
    #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
    pub unsafe fn copy_ctx<'a, T: ForeignOwnable + 'a>(&'a self) -> Option<T::Borrowed<'a>> {
        let ctx = self.raw().bi_copy_ctx.cast::<c_void>();
        // SAFETY: By the safety requirements a non-NULL context came from `T::into_foreign` and
        // is not taken back during `'a`.
        (!ctx.is_null()).then(|| unsafe { T::borrow(ctx) })
    }
}

/// What runs when a bio submitted with [`OwnedBio::submit`] completes.
pub trait EndIo {
    /// `bio` completed: it is back, with its [`Bio::status`].
    fn end_io(bio: OwnedBio);
}

/// A bio allocated here and not in flight: not submitted yet, or back from completion.
///
/// Dropping it frees it (`bio_put()`).
///
/// # Invariants
///
/// `ptr` is a valid bio that nothing else refers to, and this handle holds its only reference.
pub struct OwnedBio {
    ptr: NonNull<bindings::bio>,
}

// SAFETY: Nothing else refers to the bio; it may be submitted or freed from any task.
unsafe impl Send for OwnedBio {}

impl OwnedBio {
    /// Allocates a bio for `op` on `bdev` from `bio_set`, with room for `nr_vecs` pages.
    ///
    /// The bio does not merge with others (`REQ_NOMERGE`) when `op` carries no data.
    pub fn alloc(
        bdev: &BlockDevice,
        op: ReqOp,
        nr_vecs: u16,
        bio_set: &'static BioSet,
        flags: Flags,
    ) -> Result<Self> {
        let mut opf = op.as_raw();
        if nr_vecs == 0 {
            opf |= bindings::REQ_NOMERGE;
        }
        // SAFETY: `bdev` is valid, as is `bio_set` by its type invariant.
        let ptr = unsafe {
            bindings::bio_alloc_bioset(bdev.as_raw(), nr_vecs, opf, flags.as_raw(), bio_set.0.get())
        };
        // INVARIANT: A new bio, with its one reference.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// Adds the first `len` bytes of `page` to the bio. Fails with `EINVAL` when they do not
    /// fit.
    ///
    /// # Safety
    ///
    /// `page` must stay allocated until the bio has completed or is freed.
    pub unsafe fn add_page(&mut self, page: &Page, len: u32) -> Result {
        if len as usize > PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: The bio is ours; by the safety requirements the page outlives its use.
        let added = unsafe { bindings::bio_add_page(self.ptr.as_ptr(), page.as_ptr(), len, 0) };
        if added != len as i32 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Attaches a copy context to a copy bio; clones made of it while it is in flight inherit
    /// it. Fails with `EBUSY`, dropping `ctx`, if one is attached already.
    #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
    pub fn set_copy_ctx<T: ForeignOwnable>(&mut self, ctx: T) -> Result {
        let bio = self.raw_mut();
        if !bio.bi_copy_ctx.is_null() {
            return Err(EBUSY);
        }
        bio.bi_copy_ctx = ctx.into_foreign().cast();
        Ok(())
    }

    /// Takes back the copy context attached with [`OwnedBio::set_copy_ctx`].
    ///
    /// # Safety
    ///
    /// A context attached to the bio must have been attached as a `T`.
    #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
    pub unsafe fn take_copy_ctx<T: ForeignOwnable>(&mut self) -> Option<T> {
        let ctx = mem::replace(&mut self.raw_mut().bi_copy_ctx, core::ptr::null_mut());
        // SAFETY: By the safety requirements a non-NULL context came from `T::into_foreign`; it
        // was detached from the bio above, so it is taken back once. The bio is not in flight,
        // so no clone borrows it any more.
        unsafe { T::try_from_foreign(ctx.cast()) }
    }

    /// Submits the bio (`submit_bio()`); `E::end_io` gets it back when it completes.
    pub fn submit<E: EndIo>(self) {
        let bio = self.into_raw();
        // SAFETY: The bio is ours and valid; `end_io_trampoline` turns it back into an
        // `OwnedBio` once it completes, which happens exactly once.
        unsafe {
            (*bio).bi_end_io = Some(end_io_trampoline::<E>);
            bindings::submit_bio(bio);
        }
    }

    fn into_raw(self) -> *mut bindings::bio {
        let ptr = self.ptr.as_ptr();
        mem::forget(self);
        ptr
    }
}

impl Drop for OwnedBio {
    fn drop(&mut self) {
        // SAFETY: By the type invariant this is the bio's only reference, and it is not in
        // flight.
        unsafe { bindings::bio_put(self.ptr.as_ptr()) };
    }
}

impl Deref for OwnedBio {
    type Target = Bio;

    fn deref(&self) -> &Bio {
        // SAFETY: By the type invariant the bio is valid, and only changed through `&mut self`.
        unsafe { Bio::from_raw(self.ptr.as_ptr()) }
    }
}

impl DerefMut for OwnedBio {
    fn deref_mut(&mut self) -> &mut Bio {
        // SAFETY: As in `deref`; `&mut self` makes this the only access.
        unsafe { &mut *self.ptr.as_ptr().cast() }
    }
}

/// `bi_end_io` of bios submitted with [`OwnedBio::submit`].
///
/// # Safety
///
/// `bio` must be a bio submitted by [`OwnedBio::submit::<E>`], completing.
unsafe extern "C" fn end_io_trampoline<E: EndIo>(bio: *mut bindings::bio) {
    // INVARIANT: The bio completed, so it is no longer in flight, and `OwnedBio::submit` gave
    // up its only reference to the block layer, which hands it back here.
    let bio = OwnedBio {
        // SAFETY: A completing bio is not NULL.
        ptr: unsafe { NonNull::new_unchecked(bio) },
    };
    E::end_io(bio);
}

/// Bios submitted one after another, completing as one: the last one completes once all have,
/// with the first error (`bio_chain_and_submit()`), as `blkdev_issue_zeroout()` chains its bios.
///
/// Dropping the chain waits for the bios in flight.
///
/// # Examples
///
/// ```no_run
/// use kernel::block::{bdev::BlockDevice, bio::{BioChain, BioSet, OwnedBio}, req_op::ReqOp};
/// use kernel::{page::Page, prelude::*};
///
/// /// Writes `page` to the first two pages of `bdev`.
/// fn write_twice(bdev: &BlockDevice, page: &Page) -> Result {
///     let mut chain = BioChain::new();
///     for pos in [0u64, 4096] {
///         let mut bio = OwnedBio::alloc(bdev, ReqOp::Write, 1, BioSet::fs(), GFP_NOIO)?;
///         bio.set_sector(pos >> 9);
///         // SAFETY: `page` outlives the chain, which waits for the bio.
///         unsafe { bio.add_page(page, 4096)? };
///         chain.push(bio);
///     }
///     chain.submit_wait()
/// }
/// ```
pub struct BioChain {
    last: Option<OwnedBio>,
}

impl BioChain {
    /// An empty chain.
    pub fn new() -> Self {
        Self { last: None }
    }

    /// Submits the bio added before, chained to `bio`, which becomes the last one.
    pub fn push(&mut self, bio: OwnedBio) {
        let prev = self.last.replace(bio);
        if let (Some(prev), Some(next)) = (prev, self.last.as_ref()) {
            // SAFETY: Both bios are ours and valid; `bio_chain_and_submit()` makes `prev`
            // complete into `next`, which stays in the chain until it is waited for, and frees
            // `prev` when it completes.
            unsafe { bindings::bio_chain_and_submit(prev.into_raw(), next.ptr.as_ptr()) };
        }
    }

    /// Submits the last bio and waits for it and every bio before it.
    pub fn submit_wait(mut self) -> Result {
        self.wait()
    }

    fn wait(&mut self) -> Result {
        let Some(last) = self.last.take() else {
            return Ok(());
        };
        // SAFETY: The bio is ours and valid; `submit_bio_wait()` returns once it and the bios
        // chained to it completed, and leaves it to us to free (dropping `last`).
        to_result(unsafe { bindings::submit_bio_wait(last.ptr.as_ptr()) })
    }
}

impl Default for BioChain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BioChain {
    fn drop(&mut self) {
        // The bios in flight complete into the last one: it must outlive them.
        let _ = self.wait();
    }
}

/// A bio in flight whose completion was handed over: what a submission hook took, to end it or
/// pass it on.
///
/// Dropping it ends it with an I/O error, so that its submitter hears back exactly once.
///
/// # Invariants
///
/// `ptr` is a valid bio in flight, and this handle is the only one that may end or submit it.
pub struct PendingBio {
    ptr: NonNull<bindings::bio>,
}

// SAFETY: A bio in flight may be ended or submitted from any task or CPU.
unsafe impl Send for PendingBio {}

impl PendingBio {
    /// Takes over a bio in flight.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid bio in flight that the caller was handed to end or submit, and
    /// that nothing else ends, submits or changes from now on.
    pub unsafe fn from_raw(ptr: NonNull<bindings::bio>) -> Self {
        // INVARIANT: By the safety requirements.
        Self { ptr }
    }

    /// Gives the bio back to whoever handed it over, for them to submit it further.
    pub fn into_raw(self) -> NonNull<bindings::bio> {
        let ptr = self.ptr;
        mem::forget(self);
        ptr
    }

    /// Ends the bio with `status` (`bio_endio()`).
    pub fn end(self, status: Status) {
        let bio = self.into_raw().as_ptr();
        // SAFETY: By the type invariant the bio is in flight and ours to end, once.
        unsafe {
            (*bio).bi_status = status.as_raw();
            bindings::bio_endio(bio);
        }
    }

    /// Submits the bio further down (`submit_bio_noacct()`).
    pub fn submit_noacct(self) {
        // SAFETY: By the type invariant the bio is in flight and ours to pass on, once.
        unsafe { bindings::submit_bio_noacct(self.into_raw().as_ptr()) };
    }
}

impl Drop for PendingBio {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the bio is ours to end; `self` is not used again.
        let bio = unsafe { PendingBio::from_raw(self.ptr) };
        bio.end(Status::IOERR);
    }
}

impl Deref for PendingBio {
    type Target = Bio;

    fn deref(&self) -> &Bio {
        // SAFETY: By the type invariant the bio is valid and nothing else changes it.
        unsafe { Bio::from_raw(self.ptr.as_ptr()) }
    }
}

impl DerefMut for PendingBio {
    fn deref_mut(&mut self) -> &mut Bio {
        // SAFETY: As in `deref`; `&mut self` makes this the only access.
        unsafe { &mut *self.ptr.as_ptr().cast() }
    }
}

/// Runs `f` with the current task's bios plugged (`blk_start_plug()`): the bios it submits are
/// held back and reach the drivers together when it returns, merged where they are contiguous.
pub fn with_plug<T>(f: impl FnOnce() -> T) -> T {
    let mut plug = MaybeUninit::<bindings::blk_plug>::uninit();
    // SAFETY: `plug` stays in this frame, unmoved, until `blk_finish_plug()` below, which every
    // path reaches (a panic does not unwind in the kernel); `blk_start_plug()` initialises it.
    unsafe { bindings::blk_start_plug(plug.as_mut_ptr()) };
    let res = f();
    // SAFETY: Started above by this task.
    unsafe { bindings::blk_finish_plug(plug.as_mut_ptr()) };
    res
}
