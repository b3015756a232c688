// SPDX-License-Identifier: GPL-2.0

//! The copy context: what ties the source and destination bios of one chunk.
//!
//! For each chunk the engine submits one `REQ_OP_COPY_SRC` bio per source piece and one
//! `REQ_OP_COPY_DST` bio per destination piece, all pointing at one [`CopyCtx`] through their copy
//! context (a [`PieceRef`]). Each bio travels down the stack on its own; a stacking driver may
//! remap it (its clone inherits the context) but never split it. Once blk-throttle has let it
//! through and blk-cgroup has counted it, as a read of its source bytes or a write of its
//! destination bytes, `submit_bio_noacct_nocheck()` hands every copy bio to
//! `blk_copy_submit_bio()` ([`submit_bio`]): on a stacking device with copy limits the
//! bio goes on to its driver to be remapped; on a device with a request queue and copy limits it is
//! parked in the context instead of being queued; elsewhere it fails. When both devices have
//! request queues nothing could remap a piece, so only the last destination piece goes as a bio and
//! the others are parked as ranges at once, which saves two bios per range of a many-range copy;
//! unless the copy is charged to a cgroup other than the root: then every piece goes as a bio, so
//! that blk-throttle and blk-cgroup see every byte.
//!
//! A bio's copy context holds its context and the piece's place in the chunk, so that a piece is
//! parked at its index whatever order the pieces arrive in (a multipath requeue, for one,
//! resubmits them in another order), and the driver reads the ranges in the copy's order.
//! A bio parked on a device the copy's caller did not open (below a stacking driver: a dm target's
//! disk, a multipath path) holds a reference to it (taken with [`BlockDevice::get_ref`]) until the
//! chunk is done, as nothing else keeps that disk from being freed when it is removed; the
//! references are dropped on the engine's workqueue, as the last one frees the disk. A bio parked
//! on one of the caller's two devices needs none: the caller holds them open until the copy
//! completes, after every chunk is done.
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
//! taken. The counting, the phases and the decisions are a state machine of their own,
//! [`ChunkState`] in [`crate::chunk_state`], without bios, devices or locks; this file holds it
//! under the context's lock, checks the parked pieces against their devices for it, and acts on
//! what its transitions return once the lock is dropped.
//!
//! A parked piece holds its bio, and a stacking driver's clone of it, until the chunk is done, so a
//! chunk never waits for memory while it holds some: its bios are allocated before any is
//! submitted, only the first of them waiting, and travel with `REQ_NOWAIT`, which stacking drivers
//! honour by allocating without waiting too. A chunk that cannot get what it needs at once, or
//! whose piece a driver could not take without waiting, is refused (`BLK_STS_NOTSUPP`) before
//! anything was written, and the caller copies it in the kernel instead; unless its submitter
//! must not wait at all (`nowait`, between devices with request queues only): then its carrier
//! waits for no bio and no tag either, and the chunk fails with `BLK_STS_AGAIN`, to be issued
//! again where it may wait.

use core::{mem, ptr};
use kernel::{
    alloc::Flags,
    bindings,
    block::{
        bdev::BlockDevice,
        bio::{
            Bio,
            BioSet,
            CopyContext,
            EndIo,
            OwnedBio,
            PendingBio, //
        },
        copy,
        req_op::ReqOp,
        status::Status,
        SECTOR_SHIFT, //
    },
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

use crate::{
    chunk_state::{
        AllParked,
        ChunkState,
        Dispatch,
        Effects,
        Piece, //
    },
    CopyArgs, //
};

/// The copy a chunk is part of, as the chunk's context sees it: [`crate::offload::OffloadJob`],
/// behind this trait so that the job depends on the context and not the other way round.
pub(crate) trait Chunks: Send + Sync {
    /// The copy.
    fn args(&self) -> &CopyArgs;

    /// The chunk at byte `offset` of the copy finished with `status`. Called once per chunk,
    /// maybe from interrupt context.
    fn chunk_done(self: ArcBorrow<'_, Self>, offset: u64, status: Status);
}

/// A range of a piece on its disk, as the driver reads it: `struct blk_copy_range`.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct Range(pub(crate) bindings::blk_copy_range);

// SAFETY: A range is plain data. The engine never dereferences its device pointer; drivers read
// it only while the chunk is in flight, when its device is valid: it is one of the two devices the
// copy's caller (`CopyParams`) holds open until the copy completes (every direct piece, and a bio
// piece that reached one of them), or the chunk holds a pin on it (any other bio piece).
unsafe impl Send for Range {}
// SAFETY: As for `Send`: nothing changes through a shared range.
unsafe impl Sync for Range {}

/// A piece of the chunk at the device that will execute the copy.
struct Parked {
    /// Where the piece lies: a bio's sector is on the disk, after the partition remap.
    range: Range,
    /// On the destination side rather than the source side.
    dst: bool,
    /// The bio held back here, for a piece that came down the stack as one, until it is ended
    /// or dispatched.
    bio: Option<PendingBio>,
}

impl Parked {
    /// A piece of `len` bytes at `pos` of `bdev`, the copy's destination (`dst`) or source, that
    /// is never sent as a bio, as no stacking driver could remap it.
    fn direct(bdev: &BlockDevice, dst: bool, pos: u64, len: u64) -> Self {
        Self {
            range: Range(bindings::blk_copy_range {
                bdev: bdev.as_raw(),
                sector: (pos >> SECTOR_SHIFT) + bdev.start_sector(),
                // Chunks are limited to `u32::MAX` bytes.
                nr_sectors: (len >> SECTOR_SHIFT) as u32,
            }),
            dst,
            bio: None,
        }
    }

    /// A bio of the destination (`dst`) or source side that reached the disk that will execute
    /// the copy; the caller pins its device for as long as it is parked, unless it is one of the
    /// two devices the copy's caller holds open.
    fn bio(bio: PendingBio, dst: bool) -> Self {
        Self {
            range: Range(bindings::blk_copy_range {
                bdev: bio.bdev().as_raw(),
                sector: bio.sector(),
                nr_sectors: bio.size() >> SECTOR_SHIFT,
            }),
            dst,
            bio: Some(bio),
        }
    }

    /// Sectors the piece covers.
    fn sectors(&self) -> u64 {
        self.range.0.nr_sectors.into()
    }

    /// The device the piece lies on, of the copy `args`: its bio's, which stays valid while the
    /// bio is parked, or for a piece that never was a bio, the copy's own device, which its
    /// caller holds open until the copy has finished.
    fn bdev<'a>(&'a self, args: &'a CopyArgs) -> &'a BlockDevice {
        match &self.bio {
            Some(bio) => bio.bdev(),
            None if self.dst => args.dst_bdev(),
            None => args.src_bdev(),
        }
    }

    /// Whether the piece of the copy `args` still lies inside its device: always for a bio,
    /// which was checked on its way down.
    fn within_device(&self, args: &CopyArgs) -> bool {
        if self.bio.is_some() {
            return true;
        }
        let bdev = self.bdev(args);
        let end = self.range.0.sector - bdev.start_sector() + self.sectors();
        end <= bdev.nr_bytes() >> SECTOR_SHIFT
    }
}

/// The parked bio that carries its chunk to the driver, and the disk it is on.
struct Carrier {
    bio: PendingBio,
    /// The address of the disk, which holds the chunk's other pieces.
    disk: usize,
}

impl Piece for Parked {
    type Carrier = Carrier;
    type Range = Range;
    type Pin = ARef<Device>;

    fn take_carrier(&mut self) -> Option<Carrier> {
        self.bio.take().map(|bio| {
            let disk = bio.bdev().disk() as usize;
            Carrier { bio, disk }
        })
    }

    fn range(&self) -> Range {
        self.range
    }

    /// Ends the piece's bio, if it came as one and still holds it, with `status`.
    fn end(self, status: Status) {
        if let Some(bio) = self.bio {
            bio.end(status);
        }
    }
}

/// The copy context of a bio of the chunk: a reference to its context, and the piece's place
/// in the chunk. Clones that stacking drivers make of the bio inherit it and borrow it.
struct PieceRef {
    ctx: Arc<CopyCtx>,
    /// On the destination side rather than the source side.
    dst: bool,
    /// Index of the piece on its side, in the copy's order.
    index: usize,
}

// SAFETY: `PieceRef` is the only `CopyContext`: this is the block layer's copy engine.
unsafe impl CopyContext for PieceRef {}

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

/// The copy context of one chunk.
///
/// # Invariants
///
/// Each bio the engine submitted for the chunk holds one reference, through a [`PieceRef`]
/// attached in [`CopyCtx::submit_bio`] and taken back in its [`EndIo`]; clones of those bios
/// borrow it, as they never outlive their original.
#[pin_data]
pub(crate) struct CopyCtx {
    #[pin]
    state: SpinLockIrq<ChunkState<Parked>>,
    /// Pieces of the chunk, sources and destinations.
    nr_pieces: usize,
    /// Drops the pins of `state` once the chunk is done.
    #[pin]
    release: Work<CopyCtx>,
    /// Set under `state`'s lock when the chunk is dispatched.
    dispatched: SetOnce<Dispatched>,
    job: Arc<dyn Chunks>,
    /// Offset of the chunk in the whole copy, and its length, in bytes.
    offset: u64,
    len: u64,
    /// Submitted by a task that must not wait for I/O, between devices with request queues: the
    /// carrier neither waits for a bio nor for a tag, and the chunk fails with `Status::AGAIN`
    /// when it would have had to.
    nowait: bool,
}

impl_has_work! {
    impl HasWork<Self> for CopyCtx { self.release }
}

impl WorkItem for CopyCtx {
    type Pointer = Arc<CopyCtx>;

    fn run(this: Arc<CopyCtx>) {
        let pins = this.state.lock().take_pins();
        // Dropped here, in process context: the last reference to a removed disk frees it.
        drop(pins);
    }
}

impl EndIo for CopyCtx {
    /// Completion of every bio the engine submits.
    fn end_io(mut bio: OwnedBio) {
        let status = bio.status();
        let ctx = bio
            .take_copy_ctx::<PieceRef>()
            .map(|piece| piece.ctx.clone());
        drop(bio);
        // Every bio the engine submits carries its context.
        if let Some(ctx) = ctx {
            CopyCtx::completed(ctx, status);
        } else {
            kernel::warn_on!(true);
        }
    }
}

impl CopyCtx {
    /// Makes the context of a chunk of `len` bytes at `offset` of `job`'s copy, to be submitted
    /// as `nr_src` source and `nr_dst` destination bios, without waiting for I/O when `nowait`
    /// (only where the pieces are parked at once, [`CopyArgs::parks_directly`]).
    pub(crate) fn new(
        job: Arc<dyn Chunks>,
        offset: u64,
        len: u64,
        nr_src: usize,
        nr_dst: usize,
        nowait: bool,
    ) -> Result<Arc<Self>> {
        let state = ChunkState::<Parked>::new(nr_src, nr_dst)?;
        Arc::pin_init(
            pin_init!(Self {
                state <- new_spinlock_irq!(state, "blk_copy_ctx"),
                nr_pieces: nr_src + nr_dst,
                release <- new_work!("blk_copy_ctx_release"),
                dispatched: SetOnce::new(),
                nowait: nowait && job.args().parks_directly(),
                job,
                offset,
                len,
            }),
            GFP_NOIO,
        )
    }

    /// Submits the pieces of the chunk, sources first, then lets translation finish.
    ///
    /// Between devices with request queues only the last destination piece travels as a bio:
    /// nothing below could remap the others, so they are parked at once, and the bio checks
    /// the destination on its way down (read-only, fault injection) and carries the chunk to
    /// the driver. Otherwise every piece is a bio, for the stacking drivers to remap, or for
    /// blk-throttle and blk-cgroup to charge to the cgroup of the copy (a read of each source
    /// piece, a write of each destination piece).
    pub(crate) fn submit(
        this: Arc<Self>,
        src: impl Iterator<Item = (u64, u64)>,
        dst: impl Iterator<Item = (u64, u64)>,
    ) {
        let args = this.job.args();
        let (src_bdev, dst_bdev) = (args.src_bdev(), args.dst_bdev());
        let (src, dst) = (src.enumerate(), dst.enumerate());
        if !args.parks_directly() {
            let src = src.map(|(index, (pos, len))| (src_bdev, false, index, pos, len));
            let dst = dst.map(|(index, (pos, len))| (dst_bdev, true, index, pos, len));
            Self::submit_bios(&this, Iterator::chain(src, dst));
        } else {
            let mut dst = dst.peekable();
            let mut carrier = None;
            let mut st = this.state.lock();
            for (index, (pos, len)) in src {
                // Every piece has an index of its own, so the place is free. Were it not, the
                // chunk fails; a direct piece holds no bio to end.
                let _ = st.park_direct(Parked::direct(src_bdev, false, pos, len), false, index);
            }
            while let Some((index, (pos, len))) = dst.next() {
                if dst.peek().is_none() {
                    carrier = Some((index, pos, len));
                    break;
                }
                let _ = st.park_direct(Parked::direct(dst_bdev, true, pos, len), true, index);
            }
            drop(st);
            if let Some((index, pos, len)) = carrier {
                // The only bio of the chunk: waiting for it holds nothing another copy needs,
                // unless the submitter must not wait at all.
                let (gfp, lacking) = if this.nowait {
                    (GFP_NOWAIT, Status::AGAIN)
                } else {
                    (GFP_NOIO, Status::NOTSUPP)
                };
                match new_bio(&this, dst_bdev, true, index, pos, len, gfp) {
                    Ok((mut bio, piece)) => {
                        bio.set_nowait(this.nowait);
                        Self::submit_bio(&this, bio, piece)
                    }
                    Err(_) => this.not_submitted(1, lacking),
                }
            }
        }
        let mut st = this.state.lock();
        let effects = st.submitted(|parked| this.check_parked(parked));
        Self::act(&this, st, effects);
    }

    /// Submits every piece of a chunk as a bio of its own.
    ///
    /// A submitted piece stays parked until every other piece of the chunk has arrived, so no
    /// piece may wait for memory another one holds: the bios are all allocated before any is
    /// submitted, and only the first allocation may wait (it holds nothing yet). They travel
    /// with `REQ_NOWAIT`, so that the stacking drivers do not wait either (dm allocates its
    /// clones with `GFP_NOWAIT` then). A chunk that cannot get its memory at once is refused,
    /// and the caller copies it in the kernel.
    fn submit_bios<'a>(
        this: &'a Arc<Self>,
        pieces: impl Iterator<Item = (&'a BlockDevice, bool, usize, u64, u64)>,
    ) {
        let nr = this.nr_pieces;
        let mut bios = KVec::new();
        let allocate = || -> Result {
            bios.reserve(nr, GFP_NOIO)?;
            for (bdev, dst, index, pos, len) in pieces {
                let gfp = if bios.is_empty() {
                    GFP_NOIO
                } else {
                    GFP_NOWAIT
                };
                let (mut bio, piece) = new_bio(this, bdev, dst, index, pos, len, gfp)?;
                bio.set_nowait(true);
                // Cannot fail: there is room for every piece of the chunk.
                bios.push_within_capacity((bio, piece))
                    .map_err(|_| ENOMEM)?;
            }
            Ok(())
        };
        if allocate().is_err() || bios.len() != nr {
            // Dropping the bios frees them: none was submitted.
            drop(bios);
            this.not_submitted(nr, Status::NOTSUPP);
            return;
        }
        for (bio, piece) in bios {
            Self::submit_bio(this, bio, piece);
        }
    }

    /// `nr` pieces could not be submitted: they neither park nor complete, and the chunk fails
    /// with `status` (see [`ChunkState::not_submitted`]).
    fn not_submitted(&self, nr: usize, status: Status) {
        // The submitter still holds its count: nothing to act on yet.
        self.state.lock().not_submitted(nr, status);
    }

    /// Submits `bio`, a piece of this chunk from [`new_bio`], with `piece` as its copy context.
    fn submit_bio(this: &Arc<Self>, mut bio: OwnedBio, piece: Arc<PieceRef>) {
        match bio.set_copy_ctx(piece) {
            Ok(()) => bio.submit::<CopyCtx>(),
            // Cannot happen: a new bio has no context. Should it, the piece is not submitted.
            Err(_) => this.not_submitted(1, Status::NOTSUPP),
        }
    }

    /// A bio of this context, the piece at `index` of the destination side (`dst`) or the
    /// source side, reached `submit_bio_noacct_nocheck()` on its way down.
    ///
    /// Returns the bio when it is to be submitted further.
    fn arrive(this: Arc<Self>, dst: bool, index: usize, bio: PendingBio) -> Option<PendingBio> {
        let bdev = bio.bdev();
        let lim = bdev.limits();
        let mut st = this.state.lock();
        if let Some(d) = this.dispatched.as_ref() {
            if d.carrier == bio.as_raw() as usize {
                // The carrier back after a path failed and the request was failed over (it goes
                // to its disk without coming here): on to a stacking driver or the disk that
                // holds the chunk's other pieces, but not to another path, where they are not.
                if bdev.is_bio_based() || bdev.disk() as usize == d.disk {
                    return Some(bio);
                }
                drop(st);
                bio.end(Status::NOTSUPP);
                return None;
            }
        }
        let refuse = if !st.translating() {
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
            // The copy's caller holds its own two devices open until the copy completes, after
            // every chunk is done: a piece that reached one of them needs no pin, and a chunk
            // with no pin no work item to drop it. Any other device (below a stacking driver:
            // a dm target's disk, a multipath path) needs one.
            let args = this.job.args();
            let held = [args.src_bdev(), args.dst_bdev()]
                .iter()
                .any(|held| ptr::eq(held.as_raw(), bdev.as_raw()));
            let pin = (!held).then(|| bdev.get_ref());
            // A second bio for this piece (a stacking driver split it) is refused, and ended
            // with an I/O error once the lock is dropped.
            let effects = st.arrived(Parked::bio(bio, dst), pin, dst, index, |parked| {
                this.check_parked(parked)
            });
            // `this` keeps the context alive while acting on it: ending parked bios may drop
            // every other reference.
            Self::act(&this, st, effects);
            return None;
        };
        drop(st);
        bio.end(refuse);
        None
    }

    /// One of the engine's bios completed with `status`.
    fn completed(this: Arc<Self>, status: Status) {
        let mut st = this.state.lock();
        let effects = st.completed(status, |parked| this.check_parked(parked));
        Self::act(&this, st, effects);
    }

    /// Acts on what a transition of `st` returned: records a dispatch under the lock, as the
    /// carrier must be known when it comes back through [`submit_bio`] and the driver reads its
    /// ranges without the lock, then drops the lock and acts on the rest, in the order
    /// [`Effects::apply`] gives: ends the other parked bios, reports the chunk to its job, then
    /// queues the work that drops the pins, when the chunk took any.
    fn act(
        this: &Arc<Self>,
        st: SpinLockIrqGuard<'_, ChunkState<Parked>>,
        mut effects: Effects<Parked>,
    ) {
        if let Some(d) = effects.dispatch_mut() {
            // A context dispatches once, so this populates it.
            this.dispatched.populate(Dispatched {
                carrier: d.carrier.bio.as_raw() as usize,
                disk: d.carrier.disk,
                ranges: mem::take(&mut d.ranges),
                nr_src: d.nr_src,
            });
        }
        drop(st);
        effects.apply(
            |dispatch| {
                let Dispatch {
                    carrier,
                    nr_src,
                    nr_dst,
                    ..
                } = dispatch;
                let mut bio = carrier.bio;
                let nr_sectors = this.len >> SECTOR_SHIFT;
                copy::trace_dispatch(bio.bdev(), bio.sector(), nr_sectors, nr_src, nr_dst);
                // As the request that executes the chunk it may wait for a tag: tags come back
                // as requests complete, whatever the memory. Unless its submitter must not
                // wait: then blk-mq ends it with `BLK_STS_AGAIN`, and the chunk fails with it.
                bio.set_nowait(this.nowait);
                // SAFETY: The carrier is in flight and ours to pass on, once; it was checked,
                // throttled and accounted on its way to being parked.
                unsafe { bindings::blk_copy_dispatch_bio(bio.into_raw().as_ptr()) };
            },
            |status| this.job.as_arc_borrow().chunk_done(this.offset, status),
            || {
                // Cannot fail: the chunk is done once, so its work is not queued yet.
                let _ = this.job.args().params().workqueue().enqueue(this.clone());
            },
        );
    }

    /// Checks that the parked bios form one copy the device they landed on can execute: the
    /// verdict [`ChunkState`] asks for at the end of translation, under the lock, when nothing
    /// failed and every piece is in its place.
    fn check_parked(&self, parked: AllParked<'_, Parked>) -> Status {
        let (src, dst) = (parked.src(), parked.dst());
        let Some(first) = dst.clone().next() else {
            return Status::IOERR;
        };
        let Some(first_src) = src.clone().next() else {
            return Status::NOTSUPP;
        };
        let args = self.job.args();
        let (bdev, src_bdev) = (first.bdev(args), first_src.bdev(args));
        let lim = bdev.limits();
        // Offload to one disk, from itself or one disk of its copy domain; anything else
        // falls back. So does a chunk on a disk being removed (a multipath path that went away
        // while its pieces were parked): its driver may have freed what it would look at.
        if dst.clone().any(|p| !p.bdev(args).same_disk(bdev))
            || src.clone().any(|p| !p.bdev(args).same_disk(src_bdev))
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
        if Iterator::chain(src.clone(), dst.clone()).any(|p| !p.within_device(args)) {
            return Status::IOERR;
        }
        if parked.nr_src() > usize::from(lim.max_copy_src_segments)
            || parked.nr_dst() > usize::from(lim.max_copy_dst_segments)
            || self.len >> SECTOR_SHIFT > u64::from(lim.max_copy_sectors)
        {
            return Status::NOTSUPP;
        }
        Status::OK
    }
}

/// The copy bio of a piece of `ctx`'s chunk, not submitted yet: the piece at `index` of the
/// destination side (`dst`) or the source side, `len` bytes at byte `pos` of `bdev`; and the copy
/// context it is to carry. Both allocated with `gfp`.
fn new_bio(
    ctx: &Arc<CopyCtx>,
    bdev: &BlockDevice,
    dst: bool,
    index: usize,
    pos: u64,
    len: u64,
    gfp: Flags,
) -> Result<(OwnedBio, Arc<PieceRef>)> {
    let op = if dst { ReqOp::CopyDst } else { ReqOp::CopySrc };
    let piece = PieceRef {
        ctx: ctx.clone(),
        dst,
        index,
    };
    let piece = Arc::new(piece, gfp)?;
    // A bio without pages needs no vector, and copy bios never merge.
    let mut bio = OwnedBio::alloc(bdev, op, 0, BioSet::fs(), gfp)?;
    ctx.job.args().charge(&mut bio);
    bio.set_nomerge();
    bio.set_sector(pos >> SECTOR_SHIFT);
    // Chunks are limited to `u32::MAX` bytes.
    bio.set_size(len as u32)?;
    Ok((bio, piece))
}

/// A copy bio reached `submit_bio_noacct_nocheck()`: returns it when it is to be submitted
/// further, or takes it (parked, or ended with an error).
pub(crate) fn submit_bio(bio: PendingBio) -> Option<PendingBio> {
    let piece = bio.copy_ctx::<PieceRef>();
    let Some((ctx, dst, index)) = piece.map(|p| (p.ctx.clone(), p.dst, p.index)) else {
        bio.end(Status::NOTSUPP);
        return None;
    };
    CopyCtx::arrive(ctx, dst, index, bio)
}

/// Runs `f` on the source (`ReqOp::CopySrc`) or destination ranges of the copy request whose
/// first bio is `bio`, as the driver reads them; `None` when it is no copy the engine dispatched.
pub(crate) fn with_request_ranges<T>(
    bio: &Bio,
    side: ReqOp,
    f: impl FnOnce(&[Range]) -> T,
) -> Option<T> {
    let piece = bio.copy_ctx::<PieceRef>()?;
    let dispatched = piece.ctx.dispatched.as_ref()?;
    Some(f(dispatched.side(side)))
}
