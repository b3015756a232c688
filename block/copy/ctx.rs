// SPDX-License-Identifier: GPL-2.0

//! The copy context: what ties the source and destination bios of one chunk.
//!
//! For each chunk the engine submits one `REQ_OP_COPY_SRC` bio per source piece and one
//! `REQ_OP_COPY_DST` bio per destination piece, all pointing at one [`CopyCtx`] through their copy
//! context (a [`PieceRef`]). Each bio travels down the stack on its own; a stacking driver may
//! remap it (its clone inherits the context) but never split it. `submit_bio_noacct()` hands every
//! copy bio to `blk_copy_submit_bio()` ([`submit_bio`]): on a stacking device with copy limits the
//! bio goes on to its driver to be remapped; on a device with a request queue and copy limits it is
//! parked in the context instead of being queued; elsewhere it fails. When both devices have
//! request queues nothing could remap a piece, so only the last destination piece goes as a bio and
//! the others are parked as ranges at once, which saves two bios per range of a many-range copy.
//!
//! The context points to the bio's [`Slot`]: the context and the piece's place in the chunk, so
//! that a piece is parked at its index whatever order the pieces arrive in (a multipath requeue,
//! for one, resubmits them in another order), and the driver reads the ranges in the copy's order.
//! A parked bio holds a reference to its device (taken with [`BlockDevice::get_ref`]) until the
//! chunk is done, as nothing else keeps a disk the caller did not open, such as a multipath path,
//! from being freed when it is removed; the references are dropped on the engine's workqueue, as
//! the last one frees the disk.
//!
//! Translation is over when every bio has either been parked or failed. The context then checks
//! what arrived: no failure, all destinations on one disk, all sources on that disk or on one its
//! driver can copy from (one copy domain), within the disk's copy limits. If so it dispatches one
//! parked destination bio, which becomes the request that carries the whole chunk to the driver;
//! the driver reads all ranges through `blk_copy_nr_ranges()` and `blk_copy_get_range()`
//! ([`with_request_ranges`]). Otherwise it ends every parked bio with the error. When the
//! dispatched request completes, every other parked bio is ended with its status. A dispatched
//! request that comes back down on another disk (a multipath failover to another path) is refused,
//! as its other pieces are on the first one: the caller copies the chunk another way.
//!
//! Every bio the engine submitted completes exactly once, through [`CopyCtx`]'s [`EndIo`], and the
//! chunk is reported to its job once all of them have and translation is over, whatever path was
//! taken.
//!
//! A parked piece holds its bio, and a stacking driver's clone of it, until the chunk is done, so a
//! chunk never waits for memory while it holds some: its bios are allocated before any is
//! submitted, only the first of them waiting, and travel with `REQ_NOWAIT`, which stacking drivers
//! honour by allocating without waiting too. A chunk that cannot get what it needs at once, or
//! whose piece a driver could not take without waiting, is refused (`BLK_STS_NOTSUPP`) before
//! anything was written, and the caller copies it in the kernel instead.

use core::{
    mem,
    ptr::NonNull, //
};
use kernel::{
    alloc::Flags,
    bindings,
    block::{
        bdev::BlockDevice,
        bio::{
            Bio,
            BioSet,
            EndIo,
            OwnedBio,
            PendingBio, //
        },
        req_op::ReqOp,
        status::Status,
        SECTOR_SHIFT, //
    },
    device::Device,
    ffi::c_void,
    impl_has_work,
    new_work,
    prelude::*,
    sync::{
        aref::ARef,
        new_spinlock_irq,
        Arc,
        ArcBorrow,
        SetOnce,
        SpinLockIrq,
        SpinLockIrqGuard, //
    },
    types::ForeignOwnable,
    workqueue::{
        Work,
        WorkItem, //
    }, //
};

use crate::offload::OffloadJob;
use crate::trace;

/// Where a context is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Bios are on their way down the stack.
    Translate,
    /// One parked bio was dispatched as the request that does the copy.
    Copy,
    /// The outcome is known; remaining completions only count down.
    Done,
}

/// A range of a piece on its disk, as the driver reads it: `struct blk_copy_range`.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct Range(pub(crate) bindings::blk_copy_range);

// SAFETY: A range is plain data; its device is only used where `Parked` says it is valid.
unsafe impl Send for Range {}
// SAFETY: As for `Send`: nothing changes through a shared range.
unsafe impl Sync for Range {}

/// A piece of the chunk at the device that will execute the copy.
///
/// # Invariants
///
/// `range.bdev` stays valid while the piece is parked: the context holds a reference to the
/// device of a piece that came as a bio (in `State::pins`), and the copy's caller holds the
/// device of a piece that never was a bio open until the copy has finished.
struct Parked {
    /// Where the piece lies: a bio's sector is on the disk, after the partition remap.
    range: Range,
    /// The bio held back here, for a piece that came down the stack as one, until it is ended
    /// or dispatched.
    bio: Option<PendingBio>,
}

impl Parked {
    /// A piece of `len` bytes at `pos` of `bdev` that is never sent as a bio, as no stacking
    /// driver could remap it.
    ///
    /// # Safety
    ///
    /// `bdev` must stay open until the copy has finished.
    unsafe fn direct(bdev: &BlockDevice, pos: u64, len: u64) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            range: Range(bindings::blk_copy_range {
                bdev: bdev.as_raw(),
                sector: (pos >> SECTOR_SHIFT) + bdev.start_sector(),
                // Chunks are limited to `u32::MAX` bytes.
                nr_sectors: (len >> SECTOR_SHIFT) as u32,
            }),
            bio: None,
        }
    }

    /// A bio that reached the disk that will execute the copy; the caller pins its device for
    /// as long as it is parked.
    fn bio(bio: PendingBio) -> Self {
        // INVARIANT: The caller holds a reference to the device.
        Self {
            range: Range(bindings::blk_copy_range {
                bdev: bio.bdev().as_raw(),
                sector: bio.sector(),
                nr_sectors: bio.size() >> SECTOR_SHIFT,
            }),
            bio: Some(bio),
        }
    }

    /// Sectors the piece covers.
    fn sectors(&self) -> u64 {
        self.range.0.nr_sectors.into()
    }

    /// Whether the piece still lies inside its device: always for a bio, which was checked on
    /// its way down.
    fn within_device(&self) -> bool {
        if self.bio.is_some() {
            return true;
        }
        let bdev = self.bdev();
        let end = self.range.0.sector - bdev.start_sector() + self.sectors();
        end <= bdev.nr_bytes() >> SECTOR_SHIFT
    }

    /// The device the piece lies on.
    fn bdev(&self) -> &BlockDevice {
        // SAFETY: By the type invariant the device is valid while the piece is parked.
        unsafe { BlockDevice::from_raw(self.range.0.bdev) }
    }

    /// Ends the piece's bio, if it came as one, with `status`.
    fn end(self, status: Status) {
        if let Some(bio) = self.bio {
            bio.end(status);
        }
    }
}

/// Ends the bios among `pieces` with `status`.
fn end_all(pieces: impl IntoIterator<Item = Option<Parked>>, status: Status) {
    for piece in pieces.into_iter().flatten() {
        piece.end(status);
    }
}

/// What the copy context of a piece's bios points to: its context and its place in the chunk.
///
/// # Invariants
///
/// `ctx` points to the [`CopyCtx`] whose `slots` hold this slot.
struct Slot {
    ctx: NonNull<CopyCtx>,
    /// Where the slot is in `CopyCtx::slots`.
    at: usize,
    /// On the destination side rather than the source side.
    dst: bool,
    /// Index of the piece on its side, in the copy's order.
    index: usize,
}

// SAFETY: A slot is only read, from any CPU a bio of its piece reaches, while the context lives.
unsafe impl Send for Slot {}
// SAFETY: Nothing changes a slot once its context is built.
unsafe impl Sync for Slot {}

/// The reference to its context that a bio of the chunk holds, attached as its copy context.
///
/// In C it is a pointer to the piece's [`Slot`], which leads to the context; clones that
/// stacking drivers make of the bio inherit the pointer and borrow through it.
///
/// # Invariants
///
/// `slot` is the index of a slot in `ctx.slots`.
struct PieceRef {
    ctx: Arc<CopyCtx>,
    slot: usize,
}

/// A [`PieceRef`] borrowed from a bio in flight.
struct PieceBorrow<'a> {
    ctx: ArcBorrow<'a, CopyCtx>,
    slot: &'a Slot,
}

// SAFETY: `into_foreign` returns a pointer to a slot, which is aligned for `Slot` and not NULL.
unsafe impl ForeignOwnable for PieceRef {
    const FOREIGN_ALIGN: usize = core::mem::align_of::<Slot>();
    type Borrowed<'a> = PieceBorrow<'a>;
    type BorrowedMut<'a> = PieceBorrow<'a>;

    fn into_foreign(self) -> *mut c_void {
        // By the type invariant the slot exists; the slots never move (see `CopyCtx`).
        let slot = self.ctx.slots.as_ptr().wrapping_add(self.slot);
        // The context's reference moves into the pointer, which leads back to it.
        let _ = Arc::into_raw(self.ctx);
        slot.cast_mut().cast()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        let slot = ptr.cast::<Slot>();
        // SAFETY: By the safety requirements `ptr` came from `into_foreign`: it points to a slot
        // of a context whose reference `into_foreign` gave up, which this takes back, once. By
        // the type invariant of `Slot` its `ctx` is that context.
        let (ctx, at) = unsafe { (Arc::from_raw((*slot).ctx.as_ptr().cast_const()), (*slot).at) };
        // INVARIANT: The slot is at `at` in `ctx.slots`.
        Self { ctx, slot: at }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> PieceBorrow<'a> {
        // SAFETY: By the safety requirements `ptr` came from `into_foreign` and the reference it
        // holds is not taken back during `'a`: the slot and its context live at least that long.
        unsafe {
            let slot = &*ptr.cast::<Slot>();
            PieceBorrow {
                ctx: ArcBorrow::from_raw(slot.ctx.as_ptr().cast_const()),
                slot,
            }
        }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> PieceBorrow<'a> {
        // SAFETY: By the safety requirements, which are those of `borrow`.
        unsafe { Self::borrow(ptr) }
    }
}

/// Mutable state of a context, under [`CopyCtx::state`].
struct State {
    phase: Phase,
    /// Pieces neither parked nor failed yet, plus one for the submitter until it has submitted
    /// them all.
    pending: usize,
    /// Pieces that are or will be bios submitted by the engine and have not completed.
    outstanding: usize,
    /// First error, or `Status::OK`.
    status: Status,
    /// Parked source and destination pieces, each at its index in the chunk, until ended.
    src: KVec<Option<Parked>>,
    dst: KVec<Option<Parked>>,
    /// Room for the ranges of every piece, filled when the chunk is dispatched: nothing is
    /// allocated under the lock.
    ranges: KVec<Range>,
    /// References to the devices of the parked bios, dropped once the chunk is done.
    pins: KVec<ARef<Device>>,
}

impl State {
    fn fail(&mut self, status: Status) {
        if self.status.is_ok() {
            self.status = status;
        }
    }

    /// A state for `nr_src` source and `nr_dst` destination pieces, none parked.
    fn new(nr_src: usize, nr_dst: usize) -> Result<Self> {
        let unparked = |nr| -> Result<KVec<Option<Parked>>> {
            let mut side = KVec::with_capacity(nr, GFP_NOIO)?;
            for _ in 0..nr {
                // Cannot fail: there is room for every piece.
                side.push_within_capacity(None).map_err(|_| ENOMEM)?;
            }
            Ok(side)
        };
        Ok(Self {
            phase: Phase::Translate,
            pending: nr_src + nr_dst + 1,
            outstanding: nr_src + nr_dst,
            status: Status::OK,
            src: unparked(nr_src)?,
            dst: unparked(nr_dst)?,
            ranges: KVec::with_capacity(nr_src + nr_dst, GFP_NOIO)?,
            pins: KVec::with_capacity(nr_src + nr_dst, GFP_NOIO)?,
        })
    }

    /// Parks `piece` at `index` on the destination side (`dst`) or the source side. Gives the
    /// piece back, parking nothing, when the place is taken or out of the chunk: a piece that
    /// arrived twice, or that a stacking driver made by splitting one.
    fn park(&mut self, piece: Parked, dst: bool, index: usize) -> Result<(), Parked> {
        let list = if dst { &mut self.dst } else { &mut self.src };
        match list.get_mut(index) {
            Some(place @ None) => {
                *place = Some(piece);
                Ok(())
            }
            _ => Err(piece),
        }
    }

    /// Parks a piece that was never a bio.
    fn park_direct(&mut self, piece: Parked, dst: bool, index: usize) {
        if self.park(piece, dst, index).is_err() {
            self.fail(Status::IOERR);
        }
        // It needs no translation and never completes.
        self.pending -= 1;
        self.outstanding -= 1;
    }

    fn settled(&self) -> bool {
        self.pending == 0 && self.outstanding == 0
    }

    /// Takes every parked piece, to be ended without the lock.
    fn take_parked(&mut self) -> (KVec<Option<Parked>>, KVec<Option<Parked>>) {
        (mem::take(&mut self.src), mem::take(&mut self.dst))
    }
}

/// The ranges of a chunk that went to the driver as one copy request.
///
/// Fixed once dispatched: the driver reads the ranges without taking the context's lock.
struct Dispatched {
    /// The address of the parked bio sent down as the request, to know it when it comes back.
    carrier: usize,
    /// The address of the disk it was sent to, which holds the other pieces.
    disk: usize,
    /// The source ranges, then the destination ranges.
    ranges: KVec<Range>,
    nr_src: usize,
}

impl Dispatched {
    fn side(&self, op: ReqOp) -> &[Range] {
        let (src, dst) = self.ranges.split_at(self.nr_src);
        if op == ReqOp::CopySrc {
            src
        } else {
            dst
        }
    }
}

/// What to do after the state lock is dropped.
enum Next {
    Nothing,
    /// Send this parked bio down as the copy request of `nr_src` and `nr_dst` ranges.
    Dispatch(PendingBio, usize, usize),
    /// End the parked bios among these pieces with the status.
    End(KVec<Option<Parked>>, KVec<Option<Parked>>, Status),
}

/// The copy context of one chunk.
///
/// # Invariants
///
/// Each bio the engine submitted for the chunk holds one reference, a [`PieceRef`] attached in
/// [`CopyCtx::submit_bio`] and taken back in its [`EndIo`]; clones of those bios borrow it, as
/// they never outlive their original. `slots` has a slot for every piece, sources first, and is
/// never resized, so that its slots stay where the bios point.
#[pin_data]
pub(crate) struct CopyCtx {
    #[pin]
    state: SpinLockIrq<State>,
    slots: KVec<Slot>,
    /// Drops the references in `State::pins` once the chunk is done.
    #[pin]
    release: Work<CopyCtx>,
    /// Set under `state`'s lock when the phase becomes [`Phase::Copy`].
    dispatched: SetOnce<Dispatched>,
    job: Arc<OffloadJob>,
    /// Offset of the chunk in the whole copy, and its length, in bytes.
    offset: u64,
    len: u64,
}

impl_has_work! {
    impl HasWork<Self> for CopyCtx { self.release }
}

impl WorkItem for CopyCtx {
    type Pointer = Arc<CopyCtx>;

    fn run(this: Arc<CopyCtx>) {
        let pins = mem::take(&mut this.state.lock().pins);
        // Dropped here, in process context: the last reference to a removed disk frees it.
        drop(pins);
    }
}

impl EndIo for CopyCtx {
    /// Completion of every bio the engine submits.
    fn end_io(mut bio: OwnedBio) {
        let status = bio.status();
        // SAFETY: The engine attaches only `PieceRef`s to the bios it submits.
        let piece = unsafe { bio.take_copy_ctx::<PieceRef>() };
        drop(bio);
        // Every bio the engine submits carries its context.
        if let Some(piece) = piece {
            CopyCtx::completed(piece.ctx, status);
        } else {
            kernel::warn_on!(true);
        }
    }
}

impl CopyCtx {
    /// Makes the context of a chunk of `len` bytes at `offset` of `job`'s copy, to be submitted
    /// as `nr_src` source and `nr_dst` destination bios.
    pub(crate) fn new(
        job: Arc<OffloadJob>,
        offset: u64,
        len: u64,
        nr_src: usize,
        nr_dst: usize,
    ) -> Result<Arc<Self>> {
        let state = State::new(nr_src, nr_dst)?;
        let mut slots = KVec::with_capacity(nr_src + nr_dst, GFP_NOIO)?;
        let sides = Iterator::chain(
            (0..nr_src).map(|i| (false, i)),
            (0..nr_dst).map(|i| (true, i)),
        );
        for (at, (dst, index)) in sides.enumerate() {
            let slot = Slot {
                ctx: NonNull::dangling(),
                at,
                dst,
                index,
            };
            // Cannot fail: there is room for every piece.
            slots.push_within_capacity(slot).map_err(|_| ENOMEM)?;
        }
        Arc::pin_init(
            pin_init!(&this in Self {
                state <- new_spinlock_irq!(state, "blk_copy_ctx"),
                // INVARIANT: A slot for every piece, pointing to the context being built.
                slots: {
                    for slot in slots.iter_mut() {
                        slot.ctx = this;
                    }
                    slots
                },
                release <- new_work!("blk_copy_ctx_release"),
                dispatched: SetOnce::new(),
                job,
                offset,
                len,
            }),
            GFP_NOIO,
        )
    }

    /// The slots of the source pieces and those of the destination pieces, in order.
    fn sides(&self) -> (&[Slot], &[Slot]) {
        let nr_src = self.slots.iter().take_while(|slot| !slot.dst).count();
        self.slots.split_at(nr_src)
    }

    /// Submits the pieces of the chunk, sources first, then lets translation finish.
    ///
    /// Between devices with request queues only the last destination piece travels as a bio:
    /// nothing below could remap the others, so they are parked at once, and the bio checks
    /// the destination on its way down (read-only, fault injection) and carries the chunk to
    /// the driver. Otherwise every piece is a bio, for the stacking drivers to remap.
    pub(crate) fn submit(
        this: Arc<Self>,
        src: impl Iterator<Item = (u64, u64)>,
        dst: impl Iterator<Item = (u64, u64)>,
    ) {
        let (src_slots, dst_slots) = this.sides();
        let args = this.job.args();
        let (src_bdev, dst_bdev) = (args.src_bdev(), args.dst_bdev());
        if src_bdev.is_bio_based() || dst_bdev.is_bio_based() {
            let src =
                Iterator::zip(src, src_slots).map(|((pos, len), slot)| (src_bdev, pos, len, slot));
            let dst =
                Iterator::zip(dst, dst_slots).map(|((pos, len), slot)| (dst_bdev, pos, len, slot));
            Self::submit_stacked(&this, Iterator::chain(src, dst));
        } else {
            let mut dst = Iterator::zip(dst, dst_slots).peekable();
            let mut carrier = None;
            let mut st = this.state.lock();
            for ((pos, len), slot) in Iterator::zip(src, src_slots) {
                // SAFETY: The caller of the copy keeps its devices open until it has finished
                // (`CopyArgs`), after the last of its chunks.
                let piece = unsafe { Parked::direct(src_bdev, pos, len) };
                st.park_direct(piece, false, slot.index);
            }
            while let Some(((pos, len), slot)) = dst.next() {
                if dst.peek().is_none() {
                    carrier = Some((pos, len, slot));
                    break;
                }
                // SAFETY: As for the sources.
                let piece = unsafe { Parked::direct(dst_bdev, pos, len) };
                st.park_direct(piece, true, slot.index);
            }
            drop(st);
            if let Some((pos, len, slot)) = carrier {
                // The only bio of the chunk: waiting for it holds nothing another copy needs.
                match new_bio(dst_bdev, slot, pos, len, GFP_NOIO) {
                    Ok(bio) => Self::submit_bio(&this, bio, slot),
                    Err(_) => this.not_submitted(1),
                }
            }
        }
        let mut st = this.state.lock();
        st.pending -= 1;
        Self::advance(&this, st, None);
    }

    /// Submits every piece of a chunk to a stacked device as a bio of its own.
    ///
    /// A submitted piece stays parked until every other piece of the chunk has arrived, so no
    /// piece may wait for memory another one holds: the bios are all allocated before any is
    /// submitted, and only the first allocation may wait (it holds nothing yet). They travel
    /// with `REQ_NOWAIT`, so that the stacking drivers do not wait either (dm allocates its
    /// clones with `GFP_NOWAIT` then). A chunk that cannot get its memory at once is refused,
    /// and the caller copies it in the kernel.
    fn submit_stacked<'a>(
        this: &'a Arc<Self>,
        pieces: impl Iterator<Item = (&'a BlockDevice, u64, u64, &'a Slot)>,
    ) {
        let nr = this.slots.len();
        let mut bios = KVec::new();
        let allocate = || -> Result {
            bios.reserve(nr, GFP_NOIO)?;
            for (bdev, pos, len, slot) in pieces {
                let gfp = if bios.is_empty() {
                    GFP_NOIO
                } else {
                    GFP_NOWAIT
                };
                let mut bio = new_bio(bdev, slot, pos, len, gfp)?;
                bio.set_nowait(true);
                // Cannot fail: there is room for every piece of the chunk.
                bios.push_within_capacity((bio, slot)).map_err(|_| ENOMEM)?;
            }
            Ok(())
        };
        if allocate().is_err() || bios.len() != nr {
            // Dropping the bios frees them: none was submitted.
            drop(bios);
            this.not_submitted(nr);
            return;
        }
        for (bio, slot) in bios {
            Self::submit_bio(this, bio, slot);
        }
    }

    /// `nr` pieces could not be submitted: they neither park nor complete, and the chunk is
    /// refused, so that the caller copies it another way.
    fn not_submitted(&self, nr: usize) {
        let mut st = self.state.lock();
        st.fail(Status::NOTSUPP);
        st.pending -= nr;
        st.outstanding -= nr;
        // The submitter still holds its count: nothing to act on yet.
        drop(st);
    }

    /// Submits `bio`, the piece of this chunk at `slot`, from [`new_bio`], with a reference to
    /// the context.
    fn submit_bio(this: &Arc<Self>, mut bio: OwnedBio, slot: &Slot) {
        // INVARIANT: `slot` is one of `this.slots`.
        let piece = PieceRef {
            ctx: this.clone(),
            slot: slot.at,
        };
        // SAFETY: The engine alone attaches copy contexts, all of them `PieceRef`s.
        match unsafe { bio.set_copy_ctx(piece) } {
            Ok(()) => bio.submit::<CopyCtx>(),
            // Cannot happen: a new bio has no context. Should it, the piece is not submitted.
            Err(_) => this.not_submitted(1),
        }
    }

    /// A bio of this context, the piece at `index` of the destination side (`dst`) or the
    /// source side, reached `submit_bio_noacct()` on its way
    /// down.
    ///
    /// Returns the bio when it is to be submitted further.
    fn arrive(this: Arc<Self>, dst: bool, index: usize, bio: PendingBio) -> Option<PendingBio> {
        let bdev = bio.bdev();
        let lim = bdev.limits();
        let mut st = this.state.lock();
        if let Some(d) = this.dispatched.as_ref() {
            if d.carrier == bio.as_raw() as usize {
                // The carrier on its way to the driver, or back after a path failed and the
                // request was failed over: on to a stacking driver or the disk that holds the
                // chunk's other pieces, but not to another path, where they are not.
                if bdev.is_bio_based() || bdev.disk() as usize == d.disk {
                    return Some(bio);
                }
                drop(st);
                bio.end(Status::NOTSUPP);
                return None;
            }
        }
        let refuse = if st.phase != Phase::Translate {
            // Stacking drivers must not split copy bios: this is an extra piece.
            Status::IOERR
        } else if lim.max_copy_sectors == 0
            || u64::from(bio.size() >> SECTOR_SHIFT) > u64::from(lim.max_copy_sectors)
        {
            Status::NOTSUPP
        } else if bdev.is_bio_based() {
            // A stacking driver that opted in: it remaps the bio and submits it further down.
            return Some(bio);
        } else {
            // The submitter keeps the device alive until the bio completes; the pin keeps it
            // alive until the chunk is done. Not the last reference, so it may be dropped here.
            let pin = bdev.get_ref();
            match st.park(Parked::bio(bio), dst, index) {
                Ok(()) => {
                    // Cannot fail: there is room for a reference per piece. Should it, the piece
                    // is parked but its device not pinned: refuse the chunk.
                    let unpinned = st.pins.push_within_capacity(pin).err();
                    if unpinned.is_some() {
                        st.fail(Status::NOTSUPP);
                    }
                    st.pending -= 1;
                    // `this` keeps the context alive while acting on it: ending parked bios may
                    // drop every other reference.
                    Self::advance(&this, st, None);
                    drop(unpinned);
                    return None;
                }
                // A second bio for this piece: a stacking driver split it.
                Err(piece) => {
                    drop(st);
                    piece.end(Status::IOERR);
                    drop(pin);
                    return None;
                }
            }
        };
        drop(st);
        bio.end(refuse);
        None
    }

    /// One of the engine's bios completed with `status`.
    fn completed(this: Arc<Self>, status: Status) {
        let mut st = this.state.lock();
        st.outstanding -= 1;
        let next = match st.phase {
            Phase::Translate => {
                // Failed on its way down (a success here means something completed a copy
                // bio without copying: never count that as copied). A piece a stacking driver
                // could not take without waiting (`REQ_NOWAIT`) wrote nothing: the chunk is
                // refused, to be copied another way.
                st.fail(match status {
                    Status::OK => Status::IOERR,
                    Status::AGAIN | Status::RESOURCE => Status::NOTSUPP,
                    status => status,
                });
                st.pending -= 1;
                None
            }
            Phase::Copy => {
                // The dispatched request finished: the others share its outcome.
                st.phase = Phase::Done;
                st.fail(status);
                let (src, dst) = st.take_parked();
                Some(Next::End(src, dst, st.status))
            }
            Phase::Done => Some(Next::Nothing),
        };
        Self::advance(&this, st, next);
    }

    /// Finishes translation if it is over, acts on `next` without the lock, and reports the
    /// chunk once everything settled.
    fn advance(this: &Arc<Self>, mut st: SpinLockIrqGuard<'_, State>, next: Option<Next>) {
        let next = match next {
            Some(next) => next,
            None if st.phase == Phase::Translate && st.pending == 0 => this.translated(&mut st),
            None => Next::Nothing,
        };
        let report = st.settled() && st.phase != Phase::Copy;
        let status = st.status;
        let release = report && !st.pins.is_empty();
        drop(st);
        match next {
            Next::Nothing => {}
            Next::Dispatch(mut bio, nr_src, nr_dst) => {
                let nr_sectors = this.len >> SECTOR_SHIFT;
                trace::dispatch(bio.bdev(), bio.sector(), nr_sectors, nr_src, nr_dst);
                // As the request that executes the chunk it may wait for a tag: tags come back
                // as requests complete, whatever the memory. The hook lets it pass.
                bio.set_nowait(false);
                bio.submit_noacct();
            }
            Next::End(src, dst, status) => {
                end_all(src, status);
                end_all(dst, status);
            }
        }
        if report {
            OffloadJob::chunk_done(&this.job, this.offset, status);
        }
        if release {
            // Cannot fail: the chunk is done once, so its work is not queued yet.
            let _ = crate::copy_wq().enqueue(this.clone());
        }
    }

    /// Every bio arrived or failed: decide whether the chunk can be offloaded.
    fn translated(&self, st: &mut State) -> Next {
        if st.status.is_ok() {
            st.status = self.check_parked(st);
        }
        // The first destination bio carries the chunk: there is one, as every chunk sends at
        // least one destination piece as a bio.
        let carrier = st.status.is_ok().then(|| {
            st.dst.iter_mut().flatten().find_map(|p| {
                let disk = p.bdev().disk() as usize;
                p.bio.take().map(|bio| (disk, bio))
            })
        });
        let Some((disk, carrier)) = carrier.flatten() else {
            st.fail(Status::IOERR);
            st.phase = Phase::Done;
            let (src, dst) = st.take_parked();
            return Next::End(src, dst, st.status);
        };
        let mut ranges = mem::take(&mut st.ranges);
        let pieces = Iterator::chain(st.src.iter(), st.dst.iter()).flatten();
        // Cannot fail: there is room for every piece, and every piece is parked.
        for piece in pieces {
            let _ = ranges.push_within_capacity(piece.range);
        }
        let (nr_src, nr_dst) = (st.src.len(), st.dst.len());
        st.phase = Phase::Copy;
        // A context dispatches once, so this populates it.
        self.dispatched.populate(Dispatched {
            carrier: carrier.as_raw() as usize,
            disk,
            ranges,
            nr_src,
        });
        Next::Dispatch(carrier, nr_src, nr_dst)
    }

    /// Checks that the parked bios form one copy the device they landed on can execute.
    fn check_parked(&self, st: &State) -> Status {
        // Every piece is in its place: a piece that is missing failed, and the chunk with it.
        let (Some(src), Some(dst)) = (all_parked(&st.src), all_parked(&st.dst)) else {
            return Status::IOERR;
        };
        let Some(first) = dst.clone().next() else {
            return Status::IOERR;
        };
        let Some(first_src) = src.clone().next() else {
            return Status::NOTSUPP;
        };
        let (bdev, src_bdev) = (first.bdev(), first_src.bdev());
        let lim = bdev.limits();
        // Offload to one disk, from itself or one disk of its copy domain; anything else
        // falls back. So does a chunk on a disk being removed (a multipath path that went away
        // while its pieces were parked): its driver may have freed what it would look at.
        if dst.clone().any(|p| !p.bdev().same_disk(bdev))
            || src.clone().any(|p| !p.bdev().same_disk(src_bdev))
            || !bdev.is_live()
            || !src_bdev.is_live()
            || !bdev.can_copy_from(src_bdev)
        {
            return Status::NOTSUPP;
        }
        let bytes = |side: &mut dyn Iterator<Item = &Parked>| -> u64 {
            side.map(|p| p.sectors() << SECTOR_SHIFT).sum()
        };
        if bytes(&mut src.clone()) != self.len || bytes(&mut dst.clone()) != self.len {
            return Status::IOERR;
        }
        // Bios were checked against the end of their device when submitted; direct pieces are
        // checked here, against what the device is now, as a partition may have shrunk since the
        // copy was validated.
        if Iterator::chain(src.clone(), dst.clone()).any(|p| !p.within_device()) {
            return Status::IOERR;
        }
        if st.src.len() > usize::from(lim.max_copy_src_segments)
            || st.dst.len() > usize::from(lim.max_copy_dst_segments)
            || self.len >> SECTOR_SHIFT > u64::from(lim.max_copy_sectors)
        {
            return Status::NOTSUPP;
        }
        Status::OK
    }
}

/// The pieces of one side of a chunk, in order, if all are parked.
fn all_parked(side: &[Option<Parked>]) -> Option<impl Iterator<Item = &Parked> + Clone + '_> {
    side.iter()
        .all(Option::is_some)
        .then(|| side.iter().flatten())
}

/// The copy bio of the piece at `slot`, `len` bytes at byte `pos` of `bdev`, not submitted yet.
fn new_bio(bdev: &BlockDevice, slot: &Slot, pos: u64, len: u64, gfp: Flags) -> Result<OwnedBio> {
    let op = if slot.dst {
        ReqOp::CopyDst
    } else {
        ReqOp::CopySrc
    };
    // A bio without pages needs no vector, and copy bios never merge.
    let mut bio = OwnedBio::alloc(bdev, op, 0, BioSet::fs(), gfp)?;
    bio.set_nomerge();
    bio.set_sector(pos >> SECTOR_SHIFT);
    // Chunks are limited to `u32::MAX` bytes.
    bio.set_size(len as u32);
    Ok(bio)
}

/// A copy bio reached `submit_bio_noacct()`: returns it when it is to be submitted further, or
/// takes it (parked, or ended with an error).
///
/// # Safety
///
/// `bio` must be a copy bio being submitted, which only the engine makes: its copy context, if
/// any, is a [`PieceRef`].
pub(crate) unsafe fn submit_bio(bio: PendingBio) -> Option<PendingBio> {
    // SAFETY: By the safety requirements the context is a `PieceRef`, inherited by clones; the
    // original holds its reference until it completes, after this bio does.
    let piece = unsafe { bio.copy_ctx::<PieceRef>() };
    let Some((ctx, dst, index)) = piece.map(|p| (Arc::from(p.ctx), p.slot.dst, p.slot.index))
    else {
        bio.end(Status::NOTSUPP);
        return None;
    };
    CopyCtx::arrive(ctx, dst, index, bio)
}

/// Runs `f` on the source (`ReqOp::CopySrc`) or destination ranges of the copy request whose
/// first bio is `bio`, as the driver reads them; `None` when it is no copy the engine dispatched.
///
/// # Safety
///
/// `bio` must be the first bio of a copy request a driver is executing.
pub(crate) unsafe fn with_request_ranges<T>(
    bio: &Bio,
    side: ReqOp,
    f: impl FnOnce(&[Range]) -> T,
) -> Option<T> {
    // SAFETY: By the safety requirements the bio is one of the engine's in flight, which holds
    // a `PieceRef` until it completes, after the driver ends the request.
    let ctx = unsafe { bio.copy_ctx::<PieceRef>() }?.ctx;
    let dispatched = ctx.dispatched.as_ref()?;
    Some(f(dispatched.side(side)))
}

#[cfg(CONFIG_BLK_COPY_OFFLOAD_KUNIT_TEST)]
#[kunit_tests(blk_copy_ctx)]
mod tests {
    use super::*;

    /// A piece of 8 sectors at `sector`, on no device: parking never looks at it.
    fn piece(sector: u64) -> Parked {
        Parked {
            range: Range(bindings::blk_copy_range {
                bdev: core::ptr::null_mut(),
                sector,
                nr_sectors: 8,
            }),
            bio: None,
        }
    }

    /// The sectors of one side's pieces, in the chunk's order, if all are parked.
    fn sectors(side: &[Option<Parked>]) -> Option<impl Iterator<Item = u64> + '_> {
        all_parked(side).map(|pieces| pieces.map(|p| p.range.0.sector))
    }

    #[test]
    fn pieces_are_placed_by_index_not_by_arrival() -> Result {
        let mut st = State::new(3, 2)?;
        // As a multipath requeue may resubmit them: the last source first, sides interleaved.
        let arrivals = [
            (false, 2, 200),
            (true, 1, 1100),
            (false, 0, 0),
            (true, 0, 1000),
        ];
        for (dst, index, sector) in arrivals {
            assert!(st.park(piece(sector), dst, index).is_ok());
        }
        // One source is still missing: the chunk cannot be dispatched.
        assert!(sectors(&st.src).is_none());
        assert!(sectors(&st.dst).is_some_and(|s| s.eq([1000, 1100])));
        assert!(st.park(piece(100), false, 1).is_ok());
        assert!(sectors(&st.src).is_some_and(|s| s.eq([0, 100, 200])));
        Ok(())
    }

    #[test]
    fn a_piece_parks_once_and_only_in_its_chunk() -> Result {
        let mut st = State::new(1, 1)?;
        assert!(st.park(piece(0), false, 0).is_ok());
        // A second bio for the same piece (a split) and an index past the chunk are refused,
        // leaving the parked piece as it was.
        assert!(st.park(piece(8), false, 0).is_err());
        assert!(st.park(piece(16), true, 1).is_err());
        assert!(sectors(&st.src).is_some_and(|s| s.eq([0])));
        assert!(sectors(&st.dst).is_none());
        Ok(())
    }
}
