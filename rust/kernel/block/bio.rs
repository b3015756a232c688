// SPDX-License-Identifier: GPL-2.0

//! Block I/O: `struct bio`.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)

use crate::{
    alloc::Flags,
    bindings,
    block::{
        bdev::BlockDevice,
        req_op::ReqOp,
        status::Status, //
    },
    error::{
        code::{
            EINVAL,
            ENOMEM, //
        },
        to_result,
        Result, //
    },
    page::{
        Page,
        PAGE_SIZE, //
    },
    types::Opaque, //
};
#[cfg(CONFIG_BLK_COPY_OFFLOAD)]
use crate::{
    error::code::EBUSY,
    ffi::c_void,
    sync::{
        Arc,
        ArcBorrow, //
    },
    types::ForeignOwnable, //
};
use core::{
    mem::{
        self,
        MaybeUninit, //
    },
    ops::Deref,
    ptr::NonNull, //
};

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

/// The block cgroup a bio is charged to: a reference to a `struct cgroup_subsys_state` of the io
/// controller.
///
/// A task's bios are charged to its own cgroup. Work it hands to another task, such as a
/// workqueue, takes the cgroup along with [`Blkcg::current`] and charges the bios it allocates
/// for the task with [`OwnedBio::set_blkcg`], so that the work counts against the task's I/O
/// limits and statistics, not those of the root cgroup.
///
/// # Examples
///
/// ```no_run
/// use kernel::block::{bdev::BlockDevice, bio::{Blkcg, BioSet, OwnedBio}, req_op::ReqOp};
/// use kernel::prelude::*;
///
/// /// A read of the first page of `bdev` that another task submits for the task that asked
/// /// for it, whose cgroup `blkcg` is (taken in that task with `Blkcg::current()`).
/// fn read_for(bdev: &BlockDevice, blkcg: Option<&Blkcg>) -> Result<OwnedBio> {
///     let mut bio = OwnedBio::alloc(bdev, ReqOp::Read, 1, BioSet::fs(), GFP_NOIO)?;
///     // The root cgroup is not charged: nothing to do for it.
///     if let Some(blkcg) = blkcg.filter(|blkcg| !blkcg.is_root()) {
///         bio.set_blkcg(blkcg);
///     }
///     Ok(bio)
/// }
/// ```
///
/// # Invariants
///
/// `self.0` is a css of the io controller on which this holds a reference.
pub struct Blkcg(NonNull<bindings::cgroup_subsys_state>);

// SAFETY: A css reference may be dropped from any task: its count is atomic.
unsafe impl Send for Blkcg {}
// SAFETY: Nothing changes through a shared `Blkcg`.
unsafe impl Sync for Blkcg {}

impl Blkcg {
    /// The block cgroup of the current task: the one `bio_associate_blkg()` charges the bios it
    /// allocates to. `None` in a kernel without blk-cgroup.
    pub fn current() -> Option<Self> {
        #[cfg(CONFIG_BLK_CGROUP)]
        // SAFETY: Any task has a css of the io controller; this takes a reference on it.
        let css = unsafe { bindings::blkcg_get_current_css() };
        #[cfg(not(CONFIG_BLK_CGROUP))]
        let css = core::ptr::null_mut();
        // INVARIANT: `blkcg_get_current_css()` returned a css with a reference for us.
        NonNull::new(css).map(Self)
    }

    /// Whether this is the root cgroup, whose I/O is neither limited nor counted apart from the
    /// system's.
    pub fn is_root(&self) -> bool {
        #[cfg(CONFIG_BLK_CGROUP)]
        // SAFETY: `blkcg_root_css` is a constant.
        let root = unsafe { bindings::blkcg_root_css };
        #[cfg(not(CONFIG_BLK_CGROUP))]
        let root: *mut bindings::cgroup_subsys_state = core::ptr::null_mut();
        core::ptr::eq(self.0.as_ptr(), root)
    }
}

impl Drop for Blkcg {
    fn drop(&mut self) {
        #[cfg(CONFIG_BLK_CGROUP)]
        // SAFETY: By the type invariant this holds a reference on the css; it is dropped once.
        unsafe {
            bindings::css_put(self.0.as_ptr())
        };
    }
}

/// A bio: `struct bio`, borrowed from whoever owns it.
///
/// The owned forms are [`OwnedBio`], a bio allocated here and not in flight, and [`PendingBio`],
/// a bio in flight whose completion was handed over; both dereference to `Bio`, and only they
/// change it. Fields are read one at a time, through the raw bio: other parts of it (the
/// remaining count, the status of a parent) may be written concurrently by completing children.
///
/// # Invariants
///
/// `self.0` is a valid bio whose fields this reads are not changed while it is borrowed.
#[repr(transparent)]
pub struct Bio(Opaque<bindings::bio>);

impl Bio {
    /// Borrows a bio from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid bio whose operation, sector, size, status and copy context
    /// nobody changes during `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::bio) -> &'a Self {
        // SAFETY: `Bio` is `repr(transparent)` over the C struct; by the safety requirements
        // `ptr` is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Borrows the first bio of a request, `rq->bio`; `None` for a request without one.
    ///
    /// # Safety
    ///
    /// `rq` must point to a valid request that a driver is executing and does not complete, even
    /// in part, during `'a`.
    pub unsafe fn first_of_request<'a>(rq: *mut bindings::request) -> Option<&'a Self> {
        // SAFETY: By the safety requirements `rq` is valid.
        let bio = unsafe { (*rq).bio };
        // SAFETY: The bios of a request being executed stay valid, and unchanged until it
        // completes, which it does not during `'a`.
        (!bio.is_null()).then(|| unsafe { Self::from_raw(bio) })
    }

    /// The raw pointer to the C `struct bio`.
    pub fn as_raw(&self) -> *mut bindings::bio {
        self.0.get()
    }

    /// The operation.
    pub fn op(&self) -> ReqOp {
        // SAFETY: By the type invariant the bio is valid and this field unchanged.
        ReqOp::from_opf(unsafe { (*self.as_raw()).bi_opf })
    }

    /// The first sector: of the device, or, once the bio is past `submit_bio_noacct()`'s
    /// partition remap, of its disk.
    pub fn sector(&self) -> u64 {
        // SAFETY: As in `op`.
        unsafe { (*self.as_raw()).bi_iter.bi_sector }
    }

    /// The number of bytes left to do.
    pub fn size(&self) -> u32 {
        // SAFETY: As in `op`.
        unsafe { (*self.as_raw()).bi_iter.bi_size }
    }

    /// The status the bio completed with, `Status::OK` before it completes.
    pub fn status(&self) -> Status {
        // SAFETY: As in `op`.
        Status::from_raw(unsafe { (*self.as_raw()).bi_status })
    }

    /// Where a copy bio keeps its copy context: `bi_copy_ctx`, which shares its slot with
    /// `bi_io_vec`; `None` for a bio of any other operation, whose slot is its vec list.
    ///
    /// Copy bios carry no data: the engine allocates them without a vec list, and clones
    /// inherit the slot of the bio they are cloned from, so the slot of a copy bio holds its
    /// context or null.
    #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
    fn copy_ctx_slot(&self) -> Option<*mut *mut bindings::blk_copy_ctx> {
        if !self.op().is_copy() {
            return None;
        }
        // SAFETY: By the type invariant the bio is valid; this only computes the address of a
        // field, it reads nothing.
        Some(unsafe { &raw mut (*self.as_raw()).__bindgen_anon_1.bi_copy_ctx })
    }

    /// Borrows the copy context of a copy bio, attached with [`OwnedBio::set_copy_ctx`] to the
    /// bio or to the one it was cloned from; `None` if there is none.
    #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
    pub fn copy_ctx<T: CopyContext>(&self) -> Option<ArcBorrow<'_, T>> {
        let slot = self.copy_ctx_slot()?;
        // SAFETY: `slot` is a field of the valid bio that is not changed while it is borrowed
        // (as in `op`); for a copy bio it holds a context or null.
        let ctx = unsafe { *slot }.cast::<c_void>();
        // SAFETY: `T` is the only `CopyContext`, so a non-NULL context came from
        // `Arc::<T>::into_foreign`. It is taken back only from an `OwnedBio` the context was
        // attached to, once it has completed: not while `self` is borrowed (the type invariant),
        // nor while a clone of it is in flight, as an original completes after its clones.
        (!ctx.is_null()).then(|| unsafe { Arc::<T>::borrow(ctx) })
    }
}

/// The type of the copy contexts that tie the bios of one copy together (`bi_copy_ctx`).
///
/// # Safety
///
/// Only one type implements this trait: that of the block layer's copy engine, which alone
/// attaches copy contexts to bios, so that every context is read back as the type it was
/// attached as.
#[cfg(CONFIG_BLK_COPY_OFFLOAD)]
pub unsafe trait CopyContext: Send + Sync + 'static {}

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
/// `ptr` is a valid bio that is not in flight and that nothing else refers to; this handle holds
/// its only reference. A copy bio has no vec list.
pub struct OwnedBio {
    ptr: NonNull<bindings::bio>,
}

// SAFETY: Nothing else refers to the bio; it may be submitted or freed from any task.
unsafe impl Send for OwnedBio {}

impl OwnedBio {
    /// Allocates a bio for `op` on `bdev` from `bio_set`, with room for `nr_vecs` pages.
    ///
    /// Fails with `EINVAL` for a copy operation with room for pages: copy bios carry no data,
    /// and their copy context takes the place of the vec list.
    pub fn alloc(
        bdev: &BlockDevice,
        op: ReqOp,
        nr_vecs: u16,
        bio_set: &'static BioSet,
        flags: Flags,
    ) -> Result<Self> {
        if nr_vecs != 0 && op.is_copy() {
            return Err(EINVAL);
        }
        // SAFETY: `bdev` is valid, as is `bio_set` by its type invariant.
        let ptr = unsafe {
            bindings::bio_alloc_bioset(
                bdev.as_raw(),
                nr_vecs,
                op.as_raw(),
                flags.as_raw(),
                bio_set.0.get(),
            )
        };
        // INVARIANT: A new bio, with its one reference; a copy bio got no vec list (checked
        // above).
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// Sets the first sector.
    pub fn set_sector(&mut self, sector: u64) {
        // SAFETY: By the type invariant the bio is valid and ours alone.
        unsafe { (*self.ptr.as_ptr()).bi_iter.bi_sector = sector };
    }

    /// Sets the length of a copy bio, which carries no data.
    ///
    /// Fails with `EINVAL` for any other bio: the length of a bio with data is that of its
    /// pages, which [`OwnedBio::add_page`] sets.
    pub fn set_size(&mut self, size: u32) -> Result {
        if !self.op().is_copy() {
            return Err(EINVAL);
        }
        // SAFETY: As in `set_sector`.
        unsafe { (*self.ptr.as_ptr()).bi_iter.bi_size = size };
        Ok(())
    }

    /// Keeps the block layer from merging the bio with others (`REQ_NOMERGE`).
    pub fn set_nomerge(&mut self) {
        // SAFETY: As in `set_sector`.
        unsafe { (*self.ptr.as_ptr()).bi_opf |= bindings::REQ_NOMERGE };
    }

    /// Marks the bio as one its submitter waits for (`REQ_SYNC`), as the I/O of a task that
    /// blocks on it.
    pub fn set_sync(&mut self) {
        // SAFETY: As in `set_sector`.
        unsafe { (*self.ptr.as_ptr()).bi_opf |= bindings::REQ_SYNC };
    }

    /// Charges the bio to `blkcg` instead of the cgroup of the task that allocated it.
    pub fn set_blkcg(&mut self, blkcg: &Blkcg) {
        #[cfg(CONFIG_BLK_CGROUP)]
        // SAFETY: The bio is ours alone and has a device (`alloc`); by the type invariant of
        // `Blkcg` the css is valid while `blkcg` is borrowed, and the association takes its own
        // reference.
        unsafe {
            bindings::bio_associate_blkg_from_css(self.ptr.as_ptr(), blkcg.0.as_ptr())
        };
        #[cfg(not(CONFIG_BLK_CGROUP))]
        let _ = blkcg;
    }

    /// Sets or clears `REQ_NOWAIT`, see [`PendingBio::set_nowait`].
    pub fn set_nowait(&mut self, nowait: bool) {
        // SAFETY: As in `set_sector`.
        unsafe { set_nowait(self.ptr.as_ptr(), nowait) };
    }

    /// Adds the first `len` bytes of `page` to the bio. Fails with `EINVAL` when they do not
    /// fit, or for no bytes.
    ///
    /// # Safety
    ///
    /// `page` must stay allocated until the bio has completed or is freed.
    pub unsafe fn add_page(&mut self, page: &Page, len: u32) -> Result {
        if len == 0 || len as usize > PAGE_SIZE {
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
    /// it. Fails, dropping `ctx`, with `EINVAL` if the bio is not a copy bio, and with `EBUSY` if
    /// a context is attached already.
    #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
    pub fn set_copy_ctx<T: CopyContext>(&mut self, ctx: Arc<T>) -> Result {
        let slot = self.copy_ctx_slot().ok_or(EINVAL)?;
        // SAFETY: The bio is ours alone, so is its slot; a copy bio allocated here has no vec
        // list (`alloc`), so the slot holds a context or null.
        unsafe {
            if !(*slot).is_null() {
                return Err(EBUSY);
            }
            *slot = ctx.into_foreign().cast();
        }
        Ok(())
    }

    /// Takes back the copy context attached with [`OwnedBio::set_copy_ctx`].
    #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
    pub fn take_copy_ctx<T: CopyContext>(&mut self) -> Option<Arc<T>> {
        let slot = self.copy_ctx_slot()?;
        // SAFETY: The bio is ours alone, so is its slot, which holds a context or null; null is
        // what `bio_init()` leaves in the slot of a bio without a vec list.
        let ctx = unsafe { mem::replace(&mut *slot, core::ptr::null_mut()) };
        // SAFETY: `T` is the only `CopyContext`, so a non-NULL context came from
        // `Arc::<T>::into_foreign`, on this bio: an `OwnedBio` is allocated here, never a clone.
        // It was detached above, so it is taken back once. The bio is not in flight, so no clone
        // borrows it any more.
        unsafe { Arc::<T>::try_from_foreign(ctx.cast()) }
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
        // A copy context still attached would leak: C does not know it.
        #[cfg(CONFIG_BLK_COPY_OFFLOAD)]
        {
            if let Some(slot) = self.copy_ctx_slot() {
                // SAFETY: By the type invariant the bio is valid and ours alone.
                let attached = unsafe { !(*slot).is_null() };
                crate::warn_on!(attached);
            }
        }
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

/// Sets or clears `REQ_NOWAIT` of `bio`.
///
/// # Safety
///
/// `bio` must be valid, and its flags not accessed by anyone else meanwhile.
unsafe fn set_nowait(bio: *mut bindings::bio, nowait: bool) {
    // SAFETY: By the safety requirements.
    let opf = unsafe { &mut (*bio).bi_opf };
    if nowait {
        *opf |= bindings::REQ_NOWAIT;
    } else {
        *opf &= !bindings::REQ_NOWAIT;
    }
}

/// `bi_end_io` of bios submitted with [`OwnedBio::submit`].
///
/// # Safety
///
/// `bio` must be a bio submitted by [`OwnedBio::submit::<E>`], completing.
unsafe extern "C" fn end_io_trampoline<E: EndIo>(bio: *mut bindings::bio) {
    // SAFETY: The bio completed: it is ours again, and its completion hook is spent.
    unsafe {
        (*bio).bi_end_io = None;
        (*bio).bi_private = core::ptr::null_mut();
    }
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
/// Dropping the chain does what [`BioChain::submit_wait`] does: it submits the last bio and waits
/// for all of them, so it may sleep.
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
            // SAFETY: Both bios are ours and valid, neither in flight, so neither has a
            // completion hook (`end_io_trampoline` clears it); `bio_chain_and_submit()` makes
            // `prev` complete into `next`, which stays in the chain until it is waited for, and
            // frees `prev` when it completes.
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
/// `ptr` is a valid bio in flight whose device stays valid while this handle lives, and this
/// handle is the only one that may end, submit or change it.
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
    /// that nothing else ends, submits or changes from now on. Its device must stay valid for
    /// as long as the returned handle lives: the submitter keeps it open until the bio
    /// completes, or the caller holds a reference to it.
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

    /// The device the bio is for.
    pub fn bdev(&self) -> &BlockDevice {
        // SAFETY: By the type invariant the bio is valid and its device stays valid while
        // `self` lives.
        unsafe { BlockDevice::from_raw((*self.ptr.as_ptr()).bi_bdev) }
    }

    /// Sets or clears `REQ_NOWAIT`: whether the block layer and the drivers below fail the bio
    /// with `BLK_STS_AGAIN` rather than wait for memory or tags.
    pub fn set_nowait(&mut self, nowait: bool) {
        // SAFETY: By the type invariant the bio is valid and ours alone to change.
        unsafe { set_nowait(self.ptr.as_ptr(), nowait) };
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
