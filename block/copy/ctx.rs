// SPDX-License-Identifier: GPL-2.0

//! The copy context: what ties the source and destination bios of one chunk.
//!
//! For each chunk the engine submits one `REQ_OP_COPY_SRC` bio per source piece and one
//! `REQ_OP_COPY_DST` bio per destination piece, all pointing at one [`CopyCtx`] through
//! `bi_copy_ctx`. Each bio travels down the stack on its own; a stacking driver may remap it
//! (its clone inherits `bi_copy_ctx`) but never split it. `submit_bio_noacct()` hands every copy
//! bio to [`blk_copy_submit_bio`]: on a stacking device with copy limits the bio goes on to its
//! driver to be remapped; on a device with a request queue and copy limits it is parked in the
//! context instead of being queued; elsewhere it fails. When both devices have request queues
//! nothing could remap a piece, so only the last destination piece goes as a bio and the others
//! are parked as ranges at once, which saves two bios per range of a many-range copy.
//!
//! `bi_copy_ctx` points to the bio's [`Slot`]: the context and the piece's place in the chunk,
//! so that a piece is parked at its index whatever order the pieces arrive in (a multipath
//! requeue, for one, resubmits them in another order), and the driver reads the ranges in the
//! copy's order. A parked bio holds a reference to its device (taken with
//! [`BlockDevice::get_ref`]) until the chunk is done, as nothing else keeps a disk the caller did
//! not open, such as a multipath path, from being freed when it is removed; the references are
//! dropped on the engine's workqueue, as the last one frees the disk.
//!
//! Translation is over when every bio has either been parked or failed. The context then checks
//! what arrived: no failure, all destinations on one disk, all sources on that disk or on one
//! its driver can copy from (one copy domain), within the disk's copy limits. If so it
//! dispatches one parked destination bio, which becomes the request that carries the whole
//! chunk to the driver; the driver reads all ranges through [`blk_copy_nr_ranges`] and
//! [`blk_copy_get_range`]. Otherwise it ends every parked bio with the error. When the
//! dispatched request completes, every other parked bio is ended with its status. A dispatched
//! request that comes back down on another disk (a multipath failover to another path) is
//! refused, as its other pieces are on the first one: the caller copies the chunk another way.
//!
//! Every bio the engine submitted completes exactly once, through [`copy_bio_end_io`], and the
//! chunk is reported to its job once all of them have and translation is over, whatever path
//! was taken.
//!
//! A parked piece holds its bio, and a stacking driver's clone of it, until the chunk is done, so
//! a chunk never waits for memory while it holds some: its bios are allocated before any is
//! submitted, only the first of them waiting, and travel with `REQ_NOWAIT`, which stacking
//! drivers honour by allocating without waiting too. A chunk that cannot get what it needs at
//! once, or whose piece a driver could not take without waiting, is refused (`BLK_STS_NOTSUPP`)
//! before anything was written, and the caller copies it in the kernel instead.

use core::{
    mem,
    ptr::NonNull, //
};
use kernel::{
    alloc::kvec::PushError,
    bindings,
    block::bdev::BlockDevice,
    device::Device,
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
    workqueue::{
        Work,
        WorkItem, //
    }, //
};

use crate::offload::OffloadJob;
use crate::{
    trace,
    BLK_STS_OK, //
};
use bindings::{
    blk_status_t as BlkStatus,
    BLK_STS_AGAIN,
    BLK_STS_IOERR,
    BLK_STS_NOTSUPP,
    BLK_STS_RESOURCE, //
};

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

/// A piece of the chunk at the device that will execute the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parked {
    /// A bio that came down the stack and was held back here.
    Bio(NonNull<bindings::bio>),
    /// A piece on a device with a request queue, never sent as a bio: no stacking driver could
    /// have remapped it. `sector` is on the disk, as a bio's after the partition remap.
    Direct {
        bdev: NonNull<bindings::block_device>,
        sector: u64,
        nr_sectors: u32,
    },
}

// SAFETY: A parked bio belongs to the context until the context ends or dispatches it, which may
// happen on any CPU; its device is referenced by the context (`State::pins`), that of a direct
// piece held open by the copy's caller.
unsafe impl Send for Parked {}

impl Parked {
    /// A direct piece of `len` bytes at `pos` of `bdev`.
    fn direct(bdev: &BlockDevice, pos: u64, len: u64) -> Self {
        Self::Direct {
            bdev: NonNull::from(bdev).cast(),
            sector: (pos >> kernel::block::SECTOR_SHIFT) + bdev.start_sector(),
            // Chunks are limited to `u32::MAX` bytes.
            nr_sectors: (len >> kernel::block::SECTOR_SHIFT) as u32,
        }
    }

    /// The bio, for a piece that came as one.
    fn bio(self) -> Option<NonNull<bindings::bio>> {
        match self {
            Self::Bio(bio) => Some(bio),
            Self::Direct { .. } => None,
        }
    }

    /// The range on the disk the piece covers.
    fn range(self) -> bindings::blk_copy_range {
        match self {
            // SAFETY: A parked bio is valid until the context ends it.
            Self::Bio(bio) => unsafe {
                let bio = bio.as_ptr();
                bindings::blk_copy_range {
                    bdev: (*bio).bi_bdev,
                    sector: (*bio).bi_iter.bi_sector,
                    nr_sectors: (*bio).bi_iter.bi_size >> kernel::block::SECTOR_SHIFT,
                }
            },
            Self::Direct {
                bdev,
                sector,
                nr_sectors,
            } => bindings::blk_copy_range {
                bdev: bdev.as_ptr(),
                sector,
                nr_sectors,
            },
        }
    }

    /// Sectors the piece covers.
    fn sectors(self) -> u64 {
        self.range().nr_sectors.into()
    }

    /// Whether the piece still lies inside its device: always for a bio, which was checked on
    /// its way down.
    fn within_device(self) -> bool {
        match self {
            Self::Bio(_) => true,
            Self::Direct {
                sector, nr_sectors, ..
            } => {
                let bdev = self.bdev();
                let end = sector - bdev.start_sector() + u64::from(nr_sectors);
                end <= bdev.nr_bytes() >> kernel::block::SECTOR_SHIFT
            }
        }
    }

    /// The device the piece lies on.
    fn bdev<'a>(self) -> &'a BlockDevice {
        // SAFETY: The context holds a reference to the device of a parked bio until the chunk is
        // done, and the caller of the copy holds the device of a direct piece open until the
        // copy has finished; the returned reference is only used while the piece is parked.
        unsafe { BlockDevice::from_raw(self.range().bdev) }
    }
}

/// What `bi_copy_ctx` of a piece's bios points to: its context and its place in the chunk.
///
/// # Invariants
///
/// `ctx` points to the [`CopyCtx`] whose `slots` hold this slot.
struct Slot {
    ctx: NonNull<CopyCtx>,
    /// On the destination side rather than the source side.
    dst: bool,
    /// Index of the piece on its side, in the copy's order.
    index: usize,
}

// SAFETY: A slot is only read, from any CPU a bio of its piece reaches, while the context lives.
unsafe impl Send for Slot {}
// SAFETY: Nothing changes a slot once its context is built.
unsafe impl Sync for Slot {}

/// Mutable state of a context, under [`CopyCtx::state`].
struct State {
    phase: Phase,
    /// Pieces neither parked nor failed yet, plus one for the submitter until it has submitted
    /// them all.
    pending: usize,
    /// Pieces that are or will be bios submitted by the engine and have not completed.
    outstanding: usize,
    /// First error, or `BLK_STS_OK`.
    status: BlkStatus,
    /// Parked source and destination pieces, each at its index in the chunk, until dispatched.
    src: KVec<Option<Parked>>,
    dst: KVec<Option<Parked>>,
    /// References to the devices of the parked bios, dropped once the chunk is done.
    pins: KVec<ARef<Device>>,
}

impl State {
    fn fail(&mut self, status: BlkStatus) {
        if self.status == BLK_STS_OK {
            self.status = status;
        }
    }

    /// A state for `nr_src` source and `nr_dst` destination pieces, none parked.
    fn new(nr_src: usize, nr_dst: usize) -> Result<Self> {
        let unparked = |nr| KVec::from_elem(None, nr, GFP_NOIO);
        Ok(Self {
            phase: Phase::Translate,
            pending: nr_src + nr_dst + 1,
            outstanding: nr_src + nr_dst,
            status: BLK_STS_OK,
            src: unparked(nr_src)?,
            dst: unparked(nr_dst)?,
            pins: KVec::with_capacity(nr_src + nr_dst, GFP_NOIO)?,
        })
    }

    /// Parks `piece` at `index` on the destination side (`dst`) or the source side. Returns
    /// `false`, parking nothing, when the place is taken or out of the chunk: a piece that
    /// arrived twice, or that a stacking driver made by splitting one.
    fn park(&mut self, piece: Parked, dst: bool, index: usize) -> bool {
        let list = if dst { &mut self.dst } else { &mut self.src };
        match list.get_mut(index) {
            Some(place @ None) => {
                *place = Some(piece);
                true
            }
            _ => false,
        }
    }

    /// Parks a piece that was never a bio.
    fn park_direct(&mut self, piece: Parked, dst: bool, index: usize) {
        if !self.park(piece, dst, index) {
            self.fail(BLK_STS_IOERR);
        }
        // It needs no translation and never completes.
        self.pending -= 1;
        self.outstanding -= 1;
    }

    fn settled(&self) -> bool {
        self.pending == 0 && self.outstanding == 0
    }
}

/// The pieces of a chunk that went to the driver as one copy request.
///
/// Fixed once dispatched: the driver reads the ranges without taking the context's lock.
struct Dispatched {
    /// The parked bio sent down as the request.
    carrier: NonNull<bindings::bio>,
    /// The disk it was sent to, which holds the other pieces.
    disk: *mut bindings::gendisk,
    src: KVec<Option<Parked>>,
    dst: KVec<Option<Parked>>,
}

// SAFETY: The carrier bio and the disk are only compared with, or read while the request the
// carrier became is in flight; the pieces are `Send`.
unsafe impl Send for Dispatched {}
// SAFETY: Nothing changes a `Dispatched` once it is shared.
unsafe impl Sync for Dispatched {}

impl Dispatched {
    fn side(&self, op: bindings::req_op) -> &[Option<Parked>] {
        if op == bindings::req_op_REQ_OP_COPY_SRC {
            &self.src
        } else {
            &self.dst
        }
    }
}

/// What to do after the state lock is dropped.
enum Next {
    Nothing,
    /// Send this parked bio down as the copy request of `nr_src` and `nr_dst` ranges.
    Dispatch(NonNull<bindings::bio>, usize, usize),
    /// End the parked bios among these pieces with the status.
    End(KVec<Option<Parked>>, KVec<Option<Parked>>, BlkStatus),
    /// End the dispatched pieces' bios but the carrier with the status.
    EndDispatched(BlkStatus),
}

/// The copy context of one chunk.
///
/// # Invariants
///
/// Each bio the engine submitted for the chunk holds one reference, taken in
/// [`CopyCtx::submit_bio`] and released in [`copy_bio_end_io`]; clones of those bios point to
/// the context without a reference of their own, as they never outlive their original. `slots`
/// has a slot for every piece, sources first, and is never resized, so that its slots stay
/// where the bios point.
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
        for (dst, index) in sides {
            let slot = Slot {
                ctx: NonNull::dangling(),
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
        src_bdev: &BlockDevice,
        src: impl Iterator<Item = (u64, u64)>,
        dst_bdev: &BlockDevice,
        dst: impl Iterator<Item = (u64, u64)>,
    ) {
        let (src_slots, dst_slots) = this.sides();
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
                st.park_direct(Parked::direct(src_bdev, pos, len), false, slot.index);
            }
            while let Some(((pos, len), slot)) = dst.next() {
                if dst.peek().is_none() {
                    carrier = Some((pos, len, slot));
                    break;
                }
                st.park_direct(Parked::direct(dst_bdev, pos, len), true, slot.index);
            }
            drop(st);
            if let Some((pos, len, slot)) = carrier {
                // The only bio of the chunk: waiting for it holds nothing another copy needs.
                match new_bio(dst_bdev, slot, pos, len, bindings::GFP_NOIO) {
                    Some(bio) => Self::submit_bio(&this, bio, slot),
                    None => this.not_submitted(1),
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
        let Ok(mut bios) = KVec::with_capacity(nr, GFP_NOIO) else {
            this.not_submitted(nr);
            return;
        };
        for (bdev, pos, len, slot) in pieces {
            let gfp = if bios.is_empty() {
                bindings::GFP_NOIO
            } else {
                bindings::GFP_NOWAIT
            };
            let Some(bio) = new_bio(bdev, slot, pos, len, gfp) else {
                break;
            };
            // SAFETY: `bio` was just allocated and is ours.
            unsafe { (*bio.as_ptr()).bi_opf |= bindings::REQ_NOWAIT };
            // Cannot fail: there is room for every piece of the chunk. Should it, the bio is
            // not in `bios`, and the clean-up below puts it with the others.
            if let Err(PushError((bio, _))) = bios.push_within_capacity((bio, slot)) {
                // SAFETY: `bio` was allocated above and never submitted.
                unsafe { bindings::bio_put(bio.as_ptr()) };
                break;
            }
        }
        if bios.len() != nr {
            for (bio, _) in bios.drain_all() {
                // SAFETY: The bios were allocated above and never submitted.
                unsafe { bindings::bio_put(bio.as_ptr()) };
            }
            this.not_submitted(nr);
            return;
        }
        for (bio, slot) in bios.drain_all() {
            Self::submit_bio(this, bio, slot);
        }
    }

    /// `nr` pieces could not be submitted: they neither park nor complete, and the chunk is
    /// refused, so that the caller copies it another way.
    fn not_submitted(&self, nr: usize) {
        let mut st = self.state.lock();
        st.fail(BLK_STS_NOTSUPP);
        st.pending -= nr;
        st.outstanding -= nr;
        // The submitter still holds its count: nothing to act on yet.
        drop(st);
    }

    /// Submits `bio`, the piece of this chunk at `slot`, from [`new_bio`], with a reference to
    /// the context.
    fn submit_bio(this: &Arc<Self>, bio: NonNull<bindings::bio>, slot: &Slot) {
        // Released by `copy_bio_end_io`, which finds the context through the slot.
        let _ = Arc::into_raw(this.clone());
        let slot: *const Slot = slot;
        // SAFETY: `bio` was just allocated and is ours until submitted. `copy_bio_end_io` is
        // called exactly once; the slot lives as long as the context, which the bio holds.
        unsafe {
            let bio = bio.as_ptr();
            (*bio).bi_end_io = Some(copy_bio_end_io);
            (*bio).bi_copy_ctx = slot.cast_mut().cast();
            bindings::submit_bio(bio);
        }
    }

    /// A bio of this context, the piece at `slot`, reached `submit_bio_noacct()` on its way
    /// down.
    ///
    /// Returns `true` when the bio is to be submitted further.
    fn arrive(this: ArcBorrow<'_, Self>, slot: &Slot, bio: NonNull<bindings::bio>) -> bool {
        let parked = Parked::Bio(bio);
        let bdev = parked.bdev();
        let lim = bdev.limits();
        let mut st = this.state.lock();
        if let Some(d) = this.dispatched.as_ref().filter(|d| d.carrier == bio) {
            // The carrier on its way to the driver, or back after a path failed and the request
            // was failed over: on to a stacking driver or the disk that holds the chunk's other
            // pieces, but not to another path, where they are not.
            if bdev.is_bio_based() || bdev.disk() == d.disk {
                return true;
            }
            drop(st);
            end_bio(bio, BLK_STS_NOTSUPP);
            return false;
        }
        let refuse = if st.phase != Phase::Translate {
            // Stacking drivers must not split copy bios: this is an extra piece.
            BLK_STS_IOERR
        } else if lim.max_copy_sectors == 0 || parked.sectors() > u64::from(lim.max_copy_sectors) {
            BLK_STS_NOTSUPP
        } else if bdev.is_bio_based() {
            // A stacking driver that opted in: it remaps the bio and submits it further down.
            return true;
        } else if st.park(parked, slot.dst, slot.index) {
            // Cannot fail: there is room for a reference per piece. Should it, the piece is
            // parked but its device not pinned: refuse the chunk.
            if st.pins.push_within_capacity(bdev.get_ref()).is_err() {
                st.fail(BLK_STS_NOTSUPP);
            }
            st.pending -= 1;
            // Keep the context alive while acting on it: ending parked bios may drop the last
            // reference.
            let this: Arc<Self> = this.into();
            Self::advance(&this, st, None);
            return false;
        } else {
            // A second bio for this piece: a stacking driver split it.
            BLK_STS_IOERR
        };
        drop(st);
        end_bio(bio, refuse);
        false
    }

    /// One of the engine's bios completed with `status`.
    fn completed(this: Arc<Self>, status: BlkStatus) {
        let mut st = this.state.lock();
        st.outstanding -= 1;
        let next = match st.phase {
            Phase::Translate => {
                // Failed on its way down (a success here means something completed a copy
                // bio without copying: never count that as copied). A piece a stacking driver
                // could not take without waiting (`REQ_NOWAIT`) wrote nothing: the chunk is
                // refused, to be copied another way.
                st.fail(match status {
                    BLK_STS_OK => BLK_STS_IOERR,
                    BLK_STS_AGAIN | BLK_STS_RESOURCE => BLK_STS_NOTSUPP,
                    status => status,
                });
                st.pending -= 1;
                None
            }
            Phase::Copy => {
                // The dispatched request finished: the others share its outcome.
                st.phase = Phase::Done;
                st.fail(status);
                Some(Next::EndDispatched(st.status))
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
            Next::Dispatch(bio, nr_src, nr_dst) => {
                let parked = Parked::Bio(bio);
                let nr_sectors = this.len >> kernel::block::SECTOR_SHIFT;
                let sector = parked.range().sector;
                trace::dispatch(parked.bdev(), sector, nr_sectors, nr_src, nr_dst);
                // SAFETY: The bio is parked, so it is ours to change and submit; the hook will
                // let it pass. As the request that executes the chunk it may wait for a tag:
                // tags come back as requests complete, whatever the memory.
                unsafe {
                    (*bio.as_ptr()).bi_opf &= !bindings::REQ_NOWAIT;
                    bindings::submit_bio_noacct(bio.as_ptr());
                }
            }
            Next::End(src, dst, status) => {
                let pieces = Iterator::chain(src.into_iter(), dst).flatten();
                for bio in pieces.filter_map(Parked::bio) {
                    end_bio(bio, status);
                }
            }
            Next::EndDispatched(status) => {
                if let Some(d) = this.dispatched.as_ref() {
                    let pieces = Iterator::chain(d.src.iter(), d.dst.iter()).flatten();
                    for bio in pieces.filter_map(|p| p.bio()) {
                        if bio != d.carrier {
                            end_bio(bio, status);
                        }
                    }
                }
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
        if st.status == BLK_STS_OK {
            st.status = self.check_parked(st);
        }
        if st.status != BLK_STS_OK {
            st.phase = Phase::Done;
            return Next::End(mem::take(&mut st.src), mem::take(&mut st.dst), st.status);
        }
        // The first destination bio carries the chunk: there is one, as every chunk sends at
        // least one destination piece as a bio.
        let Some(bio) = st.dst.iter().flatten().find_map(|p| p.bio()) else {
            st.fail(BLK_STS_IOERR);
            st.phase = Phase::Done;
            return Next::End(mem::take(&mut st.src), mem::take(&mut st.dst), st.status);
        };
        let (nr_src, nr_dst) = (st.src.len(), st.dst.len());
        st.phase = Phase::Copy;
        // A context dispatches once, so this populates it.
        self.dispatched.populate(Dispatched {
            carrier: bio,
            disk: Parked::Bio(bio).bdev().disk(),
            src: mem::take(&mut st.src),
            dst: mem::take(&mut st.dst),
        });
        Next::Dispatch(bio, nr_src, nr_dst)
    }

    /// Checks that the parked bios form one copy the device they landed on can execute.
    fn check_parked(&self, st: &State) -> BlkStatus {
        // Every piece is in its place: a piece that is missing failed, and the chunk with it.
        let (Some(src), Some(dst)) = (all_parked(&st.src), all_parked(&st.dst)) else {
            return BLK_STS_IOERR;
        };
        let Some(first) = dst.clone().next() else {
            return BLK_STS_IOERR;
        };
        let Some(first_src) = src.clone().next() else {
            return BLK_STS_NOTSUPP;
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
            return BLK_STS_NOTSUPP;
        }
        let bytes = |list: &mut dyn Iterator<Item = Parked>| -> u64 {
            list.map(|p| p.sectors() << kernel::block::SECTOR_SHIFT)
                .sum()
        };
        if bytes(&mut src.clone()) != self.len || bytes(&mut dst.clone()) != self.len {
            return BLK_STS_IOERR;
        }
        // Bios were checked against the end of their device when submitted; direct pieces are
        // checked here, against what the device is now, as a partition may have shrunk since the
        // copy was validated.
        if Iterator::chain(src.clone(), dst.clone()).any(|p| !p.within_device()) {
            return BLK_STS_IOERR;
        }
        if st.src.len() > usize::from(lim.max_copy_src_segments)
            || st.dst.len() > usize::from(lim.max_copy_dst_segments)
            || self.len >> kernel::block::SECTOR_SHIFT > u64::from(lim.max_copy_sectors)
        {
            return BLK_STS_NOTSUPP;
        }
        BLK_STS_OK
    }
}

/// The pieces of one side of a chunk, in order, if all are parked.
fn all_parked(side: &[Option<Parked>]) -> Option<impl Iterator<Item = Parked> + Clone + '_> {
    side.iter()
        .all(Option::is_some)
        .then(|| side.iter().flatten().copied())
}

/// The copy bio of the piece at `slot`, `len` bytes at byte `pos` of `bdev`, not submitted yet,
/// or `None` when none could be allocated with `gfp`.
fn new_bio(
    bdev: &BlockDevice,
    slot: &Slot,
    pos: u64,
    len: u64,
    gfp: bindings::gfp_t,
) -> Option<NonNull<bindings::bio>> {
    let opf = if slot.dst {
        bindings::req_op_REQ_OP_COPY_DST
    } else {
        bindings::req_op_REQ_OP_COPY_SRC
    };
    // SAFETY: `bdev` is open; `fs_bio_set` is the kernel's bio set for this use. A bio without
    // pages needs no vector.
    let bio = unsafe {
        bindings::bio_alloc_bioset(
            bdev.as_raw(),
            0,
            opf | bindings::REQ_NOMERGE,
            gfp,
            &raw mut bindings::fs_bio_set,
        )
    };
    let bio = NonNull::new(bio)?;
    // SAFETY: `bio` was just allocated and is ours. `len` fits `bi_size`: chunks are limited to
    // `u32::MAX` bytes.
    unsafe {
        (*bio.as_ptr()).bi_iter.bi_sector = pos >> kernel::block::SECTOR_SHIFT;
        (*bio.as_ptr()).bi_iter.bi_size = len as u32;
    }
    Some(bio)
}

/// Ends `bio` with `status`.
fn end_bio(bio: NonNull<bindings::bio>, status: BlkStatus) {
    // SAFETY: The caller owns the bio (it is parked, or was handed to the hook) and gives it up.
    unsafe {
        (*bio.as_ptr()).bi_status = status;
        bindings::bio_endio(bio.as_ptr());
    }
}

/// Completion of every bio the engine submits.
///
/// # Safety
///
/// `bio` is a bio submitted by [`CopyCtx::submit_bio`], completing.
unsafe extern "C" fn copy_bio_end_io(bio: *mut bindings::bio) {
    // SAFETY: By the safety requirements `bio` is one of ours, so `bi_copy_ctx` points to its
    // slot, valid while the context lives, and the bio holds the reference to the context taken
    // at submission, released here, once.
    let (ctx, status) = unsafe {
        let slot = (*bio).bi_copy_ctx.cast::<Slot>();
        let ctx = Arc::from_raw((*slot).ctx.as_ptr().cast_const());
        let status = (*bio).bi_status;
        bindings::bio_put(bio);
        (ctx, status)
    };
    CopyCtx::completed(ctx, status);
}

/// The slot of a bio that carries one, and its context, borrowed for as long as the bio is in
/// flight.
///
/// # Safety
///
/// `bio` must be a valid bio in flight.
unsafe fn slot_of<'a>(bio: *mut bindings::bio) -> Option<(&'a Slot, ArcBorrow<'a, CopyCtx>)> {
    // SAFETY: `bio` is valid by the safety requirements.
    let slot = unsafe { (*bio).bi_copy_ctx }.cast::<Slot>();
    if slot.is_null() {
        return None;
    }
    // SAFETY: A non-NULL `bi_copy_ctx` was set by `submit_bio` (or copied by a clone) to a slot
    // of the context, and the original bio holds a reference to the context until it completes,
    // which is after this bio completes. By the type invariant of `Slot`, `ctx` is that context.
    unsafe {
        let slot = &*slot;
        Some((slot, ArcBorrow::from_raw(slot.ctx.as_ptr().cast_const())))
    }
}

/// Called by `submit_bio_noacct()` for `REQ_OP_COPY_SRC` and `REQ_OP_COPY_DST` bios.
///
/// Returns `true` when the bio is to be submitted further, `false` when the engine took it:
/// parked, or ended with an error.
///
/// # Safety
///
/// `bio` must be a valid copy bio being submitted, owned by the caller.
#[export]
pub(crate) unsafe extern "C" fn blk_copy_submit_bio(bio: *mut bindings::bio) -> bool {
    let Some(bio) = NonNull::new(bio) else {
        return false;
    };
    // SAFETY: `bio` is valid and in flight by the safety requirements.
    match unsafe { slot_of(bio.as_ptr()) } {
        Some((slot, ctx)) => CopyCtx::arrive(ctx, slot, bio),
        None => {
            // Copy bios only come from the engine.
            end_bio(bio, BLK_STS_NOTSUPP);
            false
        }
    }
}

/// The context of a copy request the driver is executing.
///
/// # Safety
///
/// `rq` must be a request the driver owns whose bio is a dispatched copy bio.
unsafe fn ctx_of_request<'a>(rq: *mut bindings::request) -> Option<ArcBorrow<'a, CopyCtx>> {
    // SAFETY: By the safety requirements `rq` is valid and its bio is in flight.
    unsafe { slot_of((*rq).bio) }.map(|(_, ctx)| ctx)
}

/// Number of source (`REQ_OP_COPY_SRC`) or destination (`REQ_OP_COPY_DST`) ranges of the copy
/// request `rq`.
///
/// # Safety
///
/// `rq` must be a copy request the calling driver is executing.
#[export]
pub(crate) unsafe extern "C" fn blk_copy_rust_nr_ranges(
    rq: *mut bindings::request,
    op: bindings::req_op,
) -> kernel::ffi::c_uint {
    // SAFETY: By the safety requirements.
    let Some(ctx) = (unsafe { ctx_of_request(rq) }) else {
        return 0;
    };
    ctx.dispatched
        .as_ref()
        .map_or(0, |d| d.side(op).len().try_into().unwrap_or(0))
}

/// Range `idx` of one side of the copy request `rq`.
///
/// # Safety
///
/// `rq` must be a copy request the calling driver is executing, `range` valid for writes.
#[export]
pub(crate) unsafe extern "C" fn blk_copy_rust_get_range(
    rq: *mut bindings::request,
    op: bindings::req_op,
    idx: kernel::ffi::c_uint,
    range: *mut bindings::blk_copy_range,
) {
    // SAFETY: By the safety requirements.
    let Some(ctx) = (unsafe { ctx_of_request(rq) }) else {
        return;
    };
    let Some(parked) = ctx
        .dispatched
        .as_ref()
        .and_then(|d| d.side(op).get(idx as usize).copied().flatten())
    else {
        return;
    };
    // SAFETY: `range` is valid for writes by the safety requirements.
    unsafe { range.write(parked.range()) };
}

#[cfg(CONFIG_BLK_COPY_OFFLOAD_KUNIT_TEST)]
#[kunit_tests(blk_copy_ctx)]
mod tests {
    use super::*;

    /// A direct piece of 8 sectors at `sector`, on no device: parking never looks at it.
    fn piece(sector: u64) -> Parked {
        Parked::Direct {
            bdev: NonNull::dangling(),
            sector,
            nr_sectors: 8,
        }
    }

    /// The sectors of one side's pieces, in the chunk's order, if all are parked.
    fn sectors(side: &[Option<Parked>]) -> Option<impl Iterator<Item = u64> + '_> {
        all_parked(side).map(|pieces| pieces.map(|p| p.range().sector))
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
            assert!(st.park(piece(sector), dst, index));
        }
        // One source is still missing: the chunk cannot be dispatched.
        assert!(sectors(&st.src).is_none());
        assert!(sectors(&st.dst).is_some_and(|s| s.eq([1000, 1100])));
        assert!(st.park(piece(100), false, 1));
        assert!(sectors(&st.src).is_some_and(|s| s.eq([0, 100, 200])));
        Ok(())
    }

    #[test]
    fn a_piece_parks_once_and_only_in_its_chunk() -> Result {
        let mut st = State::new(1, 1)?;
        assert!(st.park(piece(0), false, 0));
        // A second bio for the same piece (a split) and an index past the chunk are refused,
        // leaving the parked piece as it was.
        assert!(!st.park(piece(8), false, 0));
        assert!(!st.park(piece(16), true, 1));
        assert!(sectors(&st.src).is_some_and(|s| s.eq([0])));
        assert!(sectors(&st.dst).is_none());
        Ok(())
    }
}
