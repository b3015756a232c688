// SPDX-License-Identifier: GPL-2.0

//! The state machine of a chunk's copy context ([`crate::ctx`]), on its own: no bios, devices
//! or locks, so that KUnit drives every path without a device.
//!
//! A chunk has source and destination pieces, each at its index on its side. A piece that
//! nothing could remap is parked when the chunk is submitted (a direct piece); the others go
//! down the stack as bios and are parked at their index when they reach the device that will
//! execute the copy, whatever order they arrive in, or fail on their way. Every bio the engine
//! submitted completes exactly once. Translation is over when every piece is parked or failed
//! and the submitter has submitted them all. Then, if nothing failed and the context's check of
//! the parked pieces passes, the first destination piece that came as a bio is dispatched as the
//! carrier of the whole chunk, and when it completes every other parked piece is ended with its
//! status; otherwise every parked piece is ended with the error at once. Whatever the path,
//! every piece handed to the state machine is handed back once to be ended (or, the carrier, to
//! be dispatched), and the chunk is reported exactly once, when every bio has completed and
//! translation is over.
//!
//! Each transition changes the state and returns its [`Effects`]: what the context does once it
//! has dropped its lock, in a fixed order ([`Effects::apply`]).

use core::mem;
use kernel::{
    block::status::Status,
    prelude::*, //
};

/// Where a chunk is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Pieces are on their way down the stack.
    Translate,
    /// One parked piece was dispatched as the request that does the copy.
    Copy,
    /// The outcome is known; remaining completions only count down.
    Done,
}

/// A piece of a chunk, as the state machine sees it.
pub(crate) trait Piece {
    /// What a parked piece that came as a bio gives up to carry the chunk to the driver.
    type Carrier;
    /// Where the piece lies, as the driver reads it.
    type Range;
    /// What keeps the device of a piece that came as a bio alive until the chunk is done, when
    /// nothing else does.
    type Pin;

    /// Takes the carrier out of a piece that came as a bio, leaving the piece parked as a range;
    /// `None` for a piece that never was a bio, or whose bio was taken.
    fn take_carrier(&mut self) -> Option<Self::Carrier>;

    /// Where the piece lies.
    fn range(&self) -> Self::Range;

    /// Ends the piece with `status`: its bio, if it still holds one.
    fn end(self, status: Status);
}

/// Every piece of a chunk, parked in its place, as the context's check sees them at the end of
/// translation.
///
/// # Invariants
///
/// Every place of `src` and `dst` holds a piece.
pub(crate) struct AllParked<'a, P> {
    src: &'a [Option<P>],
    dst: &'a [Option<P>],
}

impl<'a, P: 'a> AllParked<'a, P> {
    /// The pieces of both sides, if every one is parked.
    fn new(src: &'a [Option<P>], dst: &'a [Option<P>]) -> Option<Self> {
        let parked = |side: &[Option<P>]| side.iter().all(Option::is_some);
        // INVARIANT: Checked here.
        (parked(src) && parked(dst)).then_some(Self { src, dst })
    }

    /// The source pieces, in the copy's order.
    pub(crate) fn src(&self) -> impl Iterator<Item = &'a P> + Clone + 'a {
        self.src.iter().flatten()
    }

    /// The destination pieces, in the copy's order.
    pub(crate) fn dst(&self) -> impl Iterator<Item = &'a P> + Clone + 'a {
        self.dst.iter().flatten()
    }

    /// The number of source pieces.
    pub(crate) fn nr_src(&self) -> usize {
        self.src.len()
    }

    /// The number of destination pieces.
    pub(crate) fn nr_dst(&self) -> usize {
        self.dst.len()
    }
}

/// The carrier of a chunk to send down as the copy request, and the ranges it carries.
pub(crate) struct Dispatch<P: Piece> {
    pub(crate) carrier: P::Carrier,
    /// The ranges of the source pieces, then those of the destination pieces, in order.
    pub(crate) ranges: KVec<P::Range>,
    pub(crate) nr_src: usize,
    pub(crate) nr_dst: usize,
}

/// What the chunk does next, besides reporting.
enum Next<P: Piece> {
    /// Send the carrier down.
    Dispatch(Dispatch<P>),
    /// End every parked piece, sources first, with `status`.
    End {
        src: KVec<Option<P>>,
        dst: KVec<Option<P>>,
        status: Status,
    },
}

/// What a transition asks the context to do once it has dropped its lock.
#[must_use = "the context acts on what a transition returns, without its lock"]
pub(crate) struct Effects<P: Piece> {
    /// A piece that could not be parked (a second piece at its index, or one past the end of
    /// translation: a stacking driver split a piece), to end with `Status::IOERR`.
    refused: Option<P>,
    next: Option<Next<P>>,
    /// The chunk is done: report it to its job with this status.
    report: Option<Status>,
    /// The chunk is done and holds pins: queue the work that drops them.
    release: bool,
    /// A pin the state does not keep, dropped last.
    unpinned: Option<P::Pin>,
}

impl<P: Piece> Effects<P> {
    fn none() -> Self {
        Self {
            refused: None,
            next: None,
            report: None,
            release: false,
            unpinned: None,
        }
    }

    /// The dispatch to do, if any: the context records what the driver will read under its lock,
    /// before it drops it.
    pub(crate) fn dispatch_mut(&mut self) -> Option<&mut Dispatch<P>> {
        match &mut self.next {
            Some(Next::Dispatch(dispatch)) => Some(dispatch),
            _ => None,
        }
    }

    /// Acts on the effects, in this order: ends the refused piece; sends the carrier down with
    /// `dispatch`, or ends the parked pieces; reports the chunk with `report`; has the pins
    /// dropped with `release`; drops the pin not kept.
    pub(crate) fn apply(
        self,
        dispatch: impl FnOnce(Dispatch<P>),
        report: impl FnOnce(Status),
        release: impl FnOnce(),
    ) {
        if let Some(piece) = self.refused {
            piece.end(Status::IOERR);
        }
        match self.next {
            None => {}
            Some(Next::Dispatch(next)) => dispatch(next),
            Some(Next::End { src, dst, status }) => {
                for piece in Iterator::chain(src.into_iter(), dst).flatten() {
                    piece.end(status);
                }
            }
        }
        if let Some(status) = self.report {
            report(status);
        }
        if self.release {
            release();
        }
        drop(self.unpinned);
    }
}

/// The mutable state of a chunk's copy context.
///
/// # Invariants
///
/// - `pending` counts the pieces neither parked nor failed, plus one for the submitter until it
///   has submitted them all; `outstanding` counts the pieces that are or will be bios submitted
///   by the engine and have not completed.
/// - Until the chunk is done, `src` and `dst` have a place for every piece of their side.
/// - Until the chunk is dispatched, `ranges` has room for a range per piece.
/// - `pins` has room for a pin per piece.
/// - In [`Phase::Copy`], every piece is parked, the carrier's bio is taken, `status` is
///   `Status::OK` and the carrier has not completed.
pub(crate) struct ChunkState<P: Piece> {
    phase: Phase,
    pending: usize,
    outstanding: usize,
    /// First error, or `Status::OK`.
    status: Status,
    /// Parked source and destination pieces, each at its index in the chunk, until ended.
    src: KVec<Option<P>>,
    dst: KVec<Option<P>>,
    /// Room for the ranges of every piece, filled when the chunk is dispatched: nothing is
    /// allocated under the context's lock.
    ranges: KVec<P::Range>,
    /// What keeps the devices of the parked bios alive where nothing else does, dropped once
    /// the chunk is done.
    pins: KVec<P::Pin>,
}

impl<P: Piece> ChunkState<P> {
    /// A state for `nr_src` source and `nr_dst` destination pieces, none parked, all to be
    /// submitted.
    pub(crate) fn new(nr_src: usize, nr_dst: usize) -> Result<Self> {
        let unparked = |nr| -> Result<KVec<Option<P>>> {
            let mut side = KVec::with_capacity(nr, GFP_NOIO)?;
            for _ in 0..nr {
                // Cannot fail: there is room for every piece.
                side.push_within_capacity(None).map_err(|_| ENOMEM)?;
            }
            Ok(side)
        };
        // INVARIANT: Nothing parked, failed or submitted yet; room for every piece.
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

    /// Whether pieces may still be parked: translation is not over.
    pub(crate) fn translating(&self) -> bool {
        self.phase == Phase::Translate
    }

    fn fail(&mut self, status: Status) {
        if self.status.is_ok() {
            self.status = status;
        }
    }

    fn settled(&self) -> bool {
        self.pending == 0 && self.outstanding == 0
    }

    /// Places `piece` at `index` on the destination side (`dst`) or the source side. Gives the
    /// piece back, placing nothing, when the place is taken or out of the chunk: a piece that
    /// arrived twice, or that a stacking driver made by splitting one.
    fn place(&mut self, piece: P, dst: bool, index: usize) -> Result<(), P> {
        let side = if dst { &mut self.dst } else { &mut self.src };
        match side.get_mut(index) {
            Some(place @ None) => {
                *place = Some(piece);
                Ok(())
            }
            _ => Err(piece),
        }
    }

    /// The submitter parks a piece that is never a bio. It needs no translation and never
    /// completes. Gives the piece back when its place is taken or out of the chunk, which fails
    /// the chunk.
    ///
    /// Never ends translation: the submitter holds its count until [`ChunkState::submitted`].
    pub(crate) fn park_direct(&mut self, piece: P, dst: bool, index: usize) -> Result<(), P> {
        let placed = self.place(piece, dst, index);
        if placed.is_err() {
            self.fail(Status::IOERR);
        }
        self.pending -= 1;
        self.outstanding -= 1;
        placed
    }

    /// `nr` pieces could not be submitted: they neither park nor complete, and the chunk fails
    /// with `status`: `Status::NOTSUPP`, refused, so that the caller copies it another way, or
    /// `Status::AGAIN` when the submitter must not wait for what it lacked, so that it is issued
    /// again where it may.
    ///
    /// Never ends translation: the submitter holds its count until [`ChunkState::submitted`].
    pub(crate) fn not_submitted(&mut self, nr: usize, status: Status) {
        self.fail(status);
        self.pending -= nr;
        self.outstanding -= nr;
    }

    /// The submitter has submitted every piece (or given up on some, [`Self::not_submitted`]).
    ///
    /// Translation may end here: if nothing failed, `check` answers whether the parked pieces
    /// form one copy that can be executed.
    pub(crate) fn submitted(
        &mut self,
        check: impl FnOnce(AllParked<'_, P>) -> Status,
    ) -> Effects<P> {
        self.pending -= 1;
        self.advance(None, check)
    }

    /// A piece that came as a bio reached the device that will execute the copy, at `index` of
    /// the destination side (`dst`) or the source side, with `pin` keeping its device alive, or
    /// none when the copy's caller does. A chunk that keeps no pin asks for no release.
    ///
    /// A piece past the end of translation, or a second one at its index, is a piece a stacking
    /// driver split: it is refused, and ended with `Status::IOERR`, with no change to the chunk.
    /// Translation may end here, as in [`Self::submitted`].
    pub(crate) fn arrived(
        &mut self,
        piece: P,
        pin: Option<P::Pin>,
        dst: bool,
        index: usize,
        check: impl FnOnce(AllParked<'_, P>) -> Status,
    ) -> Effects<P> {
        if self.phase != Phase::Translate {
            return Effects {
                refused: Some(piece),
                unpinned: pin,
                ..Effects::none()
            };
        }
        if let Err(piece) = self.place(piece, dst, index) {
            return Effects {
                refused: Some(piece),
                unpinned: pin,
                ..Effects::none()
            };
        }
        // Cannot fail: there is room for a pin per piece. Should it, the piece is parked but its
        // device not pinned: refuse the chunk.
        let unpinned = pin.and_then(|pin| self.pins.push_within_capacity(pin).err().map(|e| e.0));
        if unpinned.is_some() {
            self.fail(Status::NOTSUPP);
        }
        self.pending -= 1;
        Effects {
            unpinned,
            ..self.advance(None, check)
        }
    }

    /// One of the engine's bios completed with `status`: a piece that failed on its way down, the
    /// carrier, or a parked piece the chunk ended.
    ///
    /// Translation may end here, as in [`Self::submitted`].
    pub(crate) fn completed(
        &mut self,
        status: Status,
        check: impl FnOnce(AllParked<'_, P>) -> Status,
    ) -> Effects<P> {
        self.outstanding -= 1;
        let next = match self.phase {
            Phase::Translate => {
                // Failed on its way down (a success here means something completed a copy
                // bio without copying: never count that as copied). A piece a stacking driver
                // could not take without waiting (`REQ_NOWAIT`) wrote nothing: the chunk is
                // refused, to be copied another way.
                self.fail(match status {
                    Status::OK => Status::IOERR,
                    Status::AGAIN | Status::RESOURCE => Status::NOTSUPP,
                    status => status,
                });
                self.pending -= 1;
                None
            }
            Phase::Copy => {
                // The dispatched request finished: the others share its outcome.
                self.phase = Phase::Done;
                self.fail(status);
                Some(self.end_parked())
            }
            Phase::Done => None,
        };
        self.advance(next, check)
    }

    /// Takes the pins, to be dropped where the last reference to a device may be: once the
    /// chunk is done, and reported, in process context.
    pub(crate) fn take_pins(&mut self) -> KVec<P::Pin> {
        mem::take(&mut self.pins)
    }

    /// Takes every parked piece, to be ended with the chunk's status.
    fn end_parked(&mut self) -> Next<P> {
        Next::End {
            src: mem::take(&mut self.src),
            dst: mem::take(&mut self.dst),
            status: self.status,
        }
    }

    /// Finishes translation if it is over and `next` is not set, and reports the chunk once
    /// everything settled.
    fn advance(
        &mut self,
        next: Option<Next<P>>,
        check: impl FnOnce(AllParked<'_, P>) -> Status,
    ) -> Effects<P> {
        let next = match next {
            None if self.phase == Phase::Translate && self.pending == 0 => {
                Some(self.translated(check))
            }
            next => next,
        };
        // Reported by the transition that settles the chunk, once: no chunk is settled in
        // `Phase::Copy`, where the carrier has yet to complete, and once no piece is pending and
        // no bio outstanding, no transition that reaches here comes any more.
        let report = self.settled() && self.phase != Phase::Copy;
        Effects {
            next,
            report: report.then_some(self.status),
            release: report && !self.pins.is_empty(),
            ..Effects::none()
        }
    }

    /// Every piece arrived or failed: decides whether the chunk can be offloaded.
    fn translated(&mut self, check: impl FnOnce(AllParked<'_, P>) -> Status) -> Next<P> {
        if self.status.is_ok() {
            // Every piece is in its place: a piece that is missing failed, and the chunk with it.
            self.status = match AllParked::new(&self.src, &self.dst) {
                Some(parked) => check(parked),
                None => Status::IOERR,
            };
        }
        // The first destination piece that came as a bio carries the chunk: there is one, as
        // every chunk sends at least one destination piece as a bio.
        let carrier = if self.status.is_ok() {
            self.dst.iter_mut().flatten().find_map(|p| p.take_carrier())
        } else {
            None
        };
        let Some(carrier) = carrier else {
            self.fail(Status::IOERR);
            self.phase = Phase::Done;
            return self.end_parked();
        };
        let mut ranges = mem::take(&mut self.ranges);
        // Cannot fail: there is room for every piece, and every piece is parked.
        for piece in Iterator::chain(self.src.iter(), self.dst.iter()).flatten() {
            let _ = ranges.push_within_capacity(piece.range());
        }
        // INVARIANT: Every piece is parked, the status is OK and the carrier's bio is taken.
        self.phase = Phase::Copy;
        Next::Dispatch(Dispatch {
            carrier,
            ranges,
            nr_src: self.src.len(),
            nr_dst: self.dst.len(),
        })
    }
}

#[cfg(CONFIG_BLK_COPY_OFFLOAD_KUNIT_TEST)]
#[kunit_tests(blk_copy_chunk_state)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// How the state machine treated a mock piece.
    #[derive(Default)]
    struct Record {
        /// Times the piece was ended, and the status it was last ended with.
        ends: Cell<u32>,
        status: Cell<Option<Status>>,
        /// Times its bio was taken to carry the chunk.
        carried: Cell<u32>,
    }

    impl Record {
        /// Ended exactly once, with `status`.
        fn ended_once(&self, status: Status) -> bool {
            self.ends.get() == 1 && self.status.get() == Some(status)
        }

        /// Not ended.
        fn unended(&self) -> bool {
            self.ends.get() == 0
        }
    }

    /// A piece at `sector`, whose treatment goes to `record`.
    struct Mock<'a> {
        record: &'a Record,
        sector: u64,
        /// Came as a bio, which was not taken.
        bio: bool,
    }

    impl Piece for Mock<'_> {
        /// The sector of the carrier.
        type Carrier = u64;
        type Range = u64;
        /// The sector of the piece whose device it pins.
        type Pin = u64;

        fn take_carrier(&mut self) -> Option<u64> {
            if !mem::take(&mut self.bio) {
                return None;
            }
            self.record.carried.set(self.record.carried.get() + 1);
            Some(self.sector)
        }

        fn range(&self) -> u64 {
            self.sector
        }

        fn end(self, status: Status) {
            self.record.ends.set(self.record.ends.get() + 1);
            self.record.status.set(Some(status));
        }
    }

    /// A piece at `sector` that came down the stack as a bio.
    fn bio(record: &Record, sector: u64) -> Mock<'_> {
        Mock {
            record,
            sector,
            bio: true,
        }
    }

    /// A piece at `sector` that never was a bio.
    fn direct(record: &Record, sector: u64) -> Mock<'_> {
        Mock {
            record,
            sector,
            bio: false,
        }
    }

    /// The check at the end of translation: counts the times it is asked, and answers `verdict`.
    fn check<'c, P>(
        checks: &'c mut u32,
        verdict: Status,
    ) -> impl FnOnce(AllParked<'_, P>) -> Status + 'c {
        move |_| {
            *checks += 1;
            verdict
        }
    }

    /// A chunk's state, and what its transitions asked for, acted on as a context does.
    struct Chunk<'a> {
        st: ChunkState<Mock<'a>>,
        /// What the check at the end of translation answers, and the times it was asked.
        verdict: Status,
        checks: u32,
        /// Dispatches, and the last one.
        dispatches: u32,
        dispatched: Option<Dispatch<Mock<'a>>>,
        /// Reports, and the status of the last one.
        reports: u32,
        reported: Option<Status>,
        /// Times the release work was queued.
        releases: u32,
    }

    impl<'a> Chunk<'a> {
        fn new(nr_src: usize, nr_dst: usize, verdict: Status) -> Result<Self> {
            Ok(Self {
                st: ChunkState::new(nr_src, nr_dst)?,
                verdict,
                checks: 0,
                dispatches: 0,
                dispatched: None,
                reports: 0,
                reported: None,
                releases: 0,
            })
        }

        fn act(&mut self, effects: Effects<Mock<'a>>) {
            let Self {
                dispatches,
                dispatched,
                reports,
                reported,
                releases,
                ..
            } = self;
            effects.apply(
                |dispatch| {
                    *dispatches += 1;
                    *dispatched = Some(dispatch);
                },
                |status| {
                    *reports += 1;
                    *reported = Some(status);
                },
                || *releases += 1,
            );
        }

        /// The submitter parks a direct piece; whether it was placed.
        fn park_direct(&mut self, piece: Mock<'a>, dst: bool, index: usize) -> bool {
            self.st.park_direct(piece, dst, index).is_ok()
        }

        /// A piece that came as a bio reaches the device, pinning it.
        fn arrive(&mut self, piece: Mock<'a>, dst: bool, index: usize) {
            let pin = piece.sector;
            let check = check(&mut self.checks, self.verdict);
            let effects = self.st.arrived(piece, Some(pin), dst, index, check);
            self.act(effects);
        }

        /// A piece that came as a bio reaches a device the copy's caller holds: no pin.
        fn arrive_held(&mut self, piece: Mock<'a>, dst: bool, index: usize) {
            let check = check(&mut self.checks, self.verdict);
            let effects = self.st.arrived(piece, None, dst, index, check);
            self.act(effects);
        }

        /// One of the engine's bios completes.
        fn complete(&mut self, status: Status) {
            let check = check(&mut self.checks, self.verdict);
            let effects = self.st.completed(status, check);
            self.act(effects);
        }

        /// The submitter is done.
        fn submitted(&mut self) {
            let check = check(&mut self.checks, self.verdict);
            let effects = self.st.submitted(check);
            self.act(effects);
        }

        /// The carrier and the ranges of the dispatch, if there was one.
        fn dispatch(&self) -> Option<(u64, &[u64])> {
            self.dispatched.as_ref().map(|d| (d.carrier, &d.ranges[..]))
        }
    }

    #[test]
    fn all_pieces_arrive_then_the_carrier_completes() -> Result {
        let rec: [Record; 4] = Default::default();
        let [s0, s1, d0, d1] = &rec;
        let mut c = Chunk::new(2, 2, Status::OK)?;
        c.arrive(bio(s0, 0), false, 0);
        c.arrive(bio(s1, 8), false, 1);
        c.arrive(bio(d0, 1000), true, 0);
        c.arrive(bio(d1, 1008), true, 1);
        // Every piece arrived, but the submitter has not finished: nothing is decided yet.
        assert_eq!((c.checks, c.dispatches, c.reports), (0, 0, 0));
        c.submitted();
        // The first destination piece carries all the ranges, in order.
        assert_eq!((c.checks, c.dispatches, c.reports), (1, 1, 0));
        assert_eq!(c.dispatch(), Some((1000, &[0, 8, 1000, 1008][..])));
        let sides = c.dispatched.as_ref().map(|d| (d.nr_src, d.nr_dst));
        assert_eq!(sides, Some((2, 2)));
        assert_eq!((d0.carried.get(), d1.carried.get()), (1, 0));
        assert!(!c.st.translating());
        // Nothing is ended while the carrier is with the driver.
        assert!(rec.iter().all(Record::unended));
        // The carrier completes: every other piece shares its status, once.
        c.complete(Status::OK);
        assert!(rec.iter().all(|r| r.ended_once(Status::OK)));
        // Their bios complete in turn; the chunk is reported with the last one, once.
        c.complete(Status::OK);
        c.complete(Status::OK);
        assert_eq!(c.reports, 0);
        c.complete(Status::OK);
        assert_eq!((c.reports, c.reported), (1, Some(Status::OK)));
        assert_eq!((c.releases, c.st.take_pins().len()), (1, 4));
        assert_eq!((c.checks, c.dispatches), (1, 1));
        assert!(rec.iter().all(|r| r.ended_once(Status::OK)));
        Ok(())
    }

    #[test]
    fn pieces_on_the_callers_devices_need_no_release() -> Result {
        let rec: [Record; 2] = Default::default();
        let [s0, d0] = &rec;
        // Both pieces reach devices the copy's caller holds open: nothing to pin or release.
        let mut c = Chunk::new(1, 1, Status::OK)?;
        c.arrive_held(bio(s0, 0), false, 0);
        c.arrive_held(bio(d0, 1000), true, 0);
        c.submitted();
        assert_eq!(c.dispatch(), Some((1000, &[0, 1000][..])));
        c.complete(Status::OK);
        c.complete(Status::OK);
        assert_eq!((c.reports, c.reported), (1, Some(Status::OK)));
        assert_eq!((c.releases, c.st.take_pins().len()), (0, 0));
        // One piece below a stacking driver, on a device the caller does not hold: its pin is
        // kept and released once the chunk is done.
        let rec: [Record; 2] = Default::default();
        let [s0, d0] = &rec;
        let mut c = Chunk::new(1, 1, Status::OK)?;
        c.arrive(bio(s0, 0), false, 0);
        c.arrive_held(bio(d0, 1000), true, 0);
        c.submitted();
        c.complete(Status::OK);
        c.complete(Status::OK);
        assert_eq!((c.reports, c.reported), (1, Some(Status::OK)));
        assert_eq!((c.releases, c.st.take_pins().len()), (1, 1));
        Ok(())
    }

    #[test]
    fn direct_pieces_share_the_status_of_the_carrier() -> Result {
        let rec: [Record; 3] = Default::default();
        let [s0, d0, d1] = &rec;
        // Between devices with request queues: only the last destination piece is a bio.
        let mut c = Chunk::new(1, 2, Status::OK)?;
        assert!(c.park_direct(direct(s0, 0), false, 0));
        assert!(c.park_direct(direct(d0, 1000), true, 0));
        c.arrive(bio(d1, 1008), true, 1);
        assert_eq!(c.dispatches, 0);
        c.submitted();
        assert_eq!(c.dispatch(), Some((1008, &[0, 1000, 1008][..])));
        assert_eq!(d1.carried.get(), 1);
        assert!(rec.iter().all(Record::unended));
        // The carrier fails: the chunk fails with its status, reported at once, as nothing
        // else is a bio.
        c.complete(Status::IOERR);
        assert!(rec.iter().all(|r| r.ended_once(Status::IOERR)));
        assert_eq!((c.reports, c.reported), (1, Some(Status::IOERR)));
        assert_eq!((c.releases, c.st.take_pins().len()), (1, 1));
        Ok(())
    }

    #[test]
    fn pieces_out_of_order() -> Result {
        let rec: [Record; 5] = Default::default();
        let [s0, s1, s2, d0, d1] = &rec;
        let mut c = Chunk::new(3, 2, Status::OK)?;
        // As a multipath requeue may resubmit them: the last source first, sides interleaved,
        // and the submitter done before the last piece arrives.
        c.arrive(bio(s2, 16), false, 2);
        c.arrive(bio(d1, 1008), true, 1);
        c.arrive(bio(s0, 0), false, 0);
        c.submitted();
        c.arrive(bio(d0, 1000), true, 0);
        assert_eq!((c.checks, c.dispatches), (0, 0));
        // The last piece ends translation.
        c.arrive(bio(s1, 8), false, 1);
        // Parked by index, not by arrival: the ranges are in the copy's order, and the first
        // destination piece carries them although the second arrived first.
        assert_eq!((c.checks, c.dispatches), (1, 1));
        assert_eq!(c.dispatch(), Some((1000, &[0, 8, 16, 1000, 1008][..])));
        assert_eq!((d0.carried.get(), d1.carried.get()), (1, 0));
        c.complete(Status::OK);
        assert!(rec.iter().all(|r| r.ended_once(Status::OK)));
        for _ in 0..4 {
            assert_eq!(c.reports, 0);
            c.complete(Status::OK);
        }
        assert_eq!(
            (c.reports, c.reported, c.releases),
            (1, Some(Status::OK), 1)
        );
        Ok(())
    }

    #[test]
    fn a_piece_parks_once_and_only_in_its_chunk() -> Result {
        let rec: [Record; 4] = Default::default();
        let mut st = ChunkState::new(1, 1)?;
        assert!(st.place(bio(&rec[0], 0), false, 0).is_ok());
        // A second piece at the same index (a split) and an index past the chunk are refused,
        // leaving the parked piece as it was.
        assert!(st.place(bio(&rec[1], 8), false, 0).is_err());
        assert!(st.place(bio(&rec[2], 16), true, 1).is_err());
        assert!(AllParked::new(&st.src, &st.dst).is_none());
        assert!(st.place(bio(&rec[3], 1000), true, 0).is_ok());
        let parked = AllParked::new(&st.src, &st.dst).ok_or(EINVAL)?;
        assert!(parked.src().map(|p| p.sector).eq([0]));
        assert!(parked.dst().map(|p| p.sector).eq([1000]));
        assert_eq!((parked.nr_src(), parked.nr_dst()), (1, 1));
        Ok(())
    }

    #[test]
    fn a_refusal_during_translation_ends_every_parked_piece() -> Result {
        let rec: [Record; 3] = Default::default();
        let [s0, s1, d0] = &rec;
        let mut c = Chunk::new(2, 1, Status::OK)?;
        c.arrive(bio(s0, 0), false, 0);
        // The second source piece is refused on its way down (beyond a device's limits): the
        // context ends it, and hears of it when its bio completes.
        bio(s1, 8).end(Status::NOTSUPP);
        c.complete(Status::NOTSUPP);
        c.arrive(bio(d0, 1000), true, 0);
        assert!(s0.unended() && d0.unended());
        c.submitted();
        // Nothing is checked or dispatched: every parked piece is ended with the refusal.
        assert_eq!((c.checks, c.dispatches), (0, 0));
        assert!(rec.iter().all(|r| r.ended_once(Status::NOTSUPP)));
        // The chunk is reported once the ended bios have completed.
        c.complete(Status::NOTSUPP);
        assert_eq!(c.reports, 0);
        c.complete(Status::NOTSUPP);
        assert_eq!(
            (c.reports, c.reported, c.releases),
            (1, Some(Status::NOTSUPP), 1)
        );
        assert_eq!(c.st.take_pins().len(), 2);
        Ok(())
    }

    #[test]
    fn a_piece_that_would_wait_refuses_the_chunk() -> Result {
        for would_wait in [Status::AGAIN, Status::RESOURCE] {
            let rec: [Record; 3] = Default::default();
            let [s0, d0, d1] = &rec;
            let mut c = Chunk::new(1, 2, Status::OK)?;
            // A stacking driver could not take the source piece without waiting.
            bio(s0, 0).end(would_wait);
            c.complete(would_wait);
            c.arrive(bio(d0, 1000), true, 0);
            c.submitted();
            assert_eq!(c.reports, 0);
            // The last piece ends translation: the chunk is refused, to be copied another way.
            c.arrive(bio(d1, 1008), true, 1);
            assert_eq!((c.checks, c.dispatches), (0, 0));
            assert!(d0.ended_once(Status::NOTSUPP) && d1.ended_once(Status::NOTSUPP));
            c.complete(Status::NOTSUPP);
            c.complete(Status::NOTSUPP);
            assert_eq!((c.reports, c.reported), (1, Some(Status::NOTSUPP)));
            // The refused piece was ended once, by whoever refused it, with what it said.
            assert!(s0.ended_once(would_wait));
        }
        Ok(())
    }

    #[test]
    fn a_success_during_translation_fails_the_chunk() -> Result {
        let rec: [Record; 2] = Default::default();
        let [s0, d0] = &rec;
        let mut c = Chunk::new(1, 1, Status::OK)?;
        c.arrive(bio(s0, 0), false, 0);
        // Something completed the destination bio without copying: never counted as copied.
        bio(d0, 1000).end(Status::OK);
        c.complete(Status::OK);
        c.submitted();
        assert_eq!((c.checks, c.dispatches), (0, 0));
        assert!(s0.ended_once(Status::IOERR));
        c.complete(Status::IOERR);
        assert_eq!((c.reports, c.reported), (1, Some(Status::IOERR)));
        Ok(())
    }

    #[test]
    fn the_check_refuses_the_chunk() -> Result {
        let rec: [Record; 3] = Default::default();
        let [s0, d0, d1] = &rec;
        // The pieces landed on disks that cannot copy between them, say.
        let mut c = Chunk::new(1, 2, Status::NOTSUPP)?;
        c.arrive(bio(s0, 0), false, 0);
        c.arrive(bio(d0, 1000), true, 0);
        c.arrive(bio(d1, 1008), true, 1);
        c.submitted();
        // Checked once, nothing dispatched, no bio taken: every parked piece is refused.
        assert_eq!((c.checks, c.dispatches), (1, 0));
        assert_eq!(d0.carried.get(), 0);
        assert!(rec.iter().all(|r| r.ended_once(Status::NOTSUPP)));
        for _ in 0..3 {
            assert_eq!(c.reports, 0);
            c.complete(Status::NOTSUPP);
        }
        assert_eq!(
            (c.reports, c.reported, c.releases),
            (1, Some(Status::NOTSUPP), 1)
        );
        Ok(())
    }

    #[test]
    fn the_carrier_fails_before_the_submitter_finished() -> Result {
        let rec: [Record; 3] = Default::default();
        let [s0, d0, d1] = &rec;
        let mut c = Chunk::new(1, 2, Status::OK)?;
        assert!(c.park_direct(direct(s0, 0), false, 0));
        assert!(c.park_direct(direct(d0, 1000), true, 0));
        // The only bio fails on its way down (a read-only disk, say) and completes while the
        // submitter is still in `submit_bio()`: every bio completed, but the submitter's count
        // holds the chunk.
        bio(d1, 1008).end(Status::IOERR);
        c.complete(Status::IOERR);
        assert_eq!(c.reports, 0);
        assert!(s0.unended() && d0.unended());
        c.submitted();
        assert_eq!((c.checks, c.dispatches), (0, 0));
        assert!(rec.iter().all(|r| r.ended_once(Status::IOERR)));
        // No bio was parked: nothing is pinned.
        assert_eq!(
            (c.reports, c.reported, c.releases),
            (1, Some(Status::IOERR), 0)
        );
        Ok(())
    }

    #[test]
    fn an_allocation_failure_refuses_the_chunk() -> Result {
        // Every piece a bio, and their allocation failed: nothing was submitted.
        let mut c = Chunk::new(2, 1, Status::OK)?;
        c.st.not_submitted(3, Status::NOTSUPP);
        assert_eq!(c.reports, 0);
        c.submitted();
        assert_eq!((c.checks, c.dispatches), (0, 0));
        assert_eq!(
            (c.reports, c.reported, c.releases),
            (1, Some(Status::NOTSUPP), 0)
        );

        // Between devices with request queues: the direct pieces were parked, and the bio of
        // the last destination piece could not be allocated.
        let rec: [Record; 2] = Default::default();
        let [s0, d0] = &rec;
        let mut c = Chunk::new(1, 2, Status::OK)?;
        assert!(c.park_direct(direct(s0, 0), false, 0));
        assert!(c.park_direct(direct(d0, 1000), true, 0));
        c.st.not_submitted(1, Status::NOTSUPP);
        assert_eq!(c.reports, 0);
        c.submitted();
        assert_eq!((c.checks, c.dispatches), (0, 0));
        assert!(rec.iter().all(|r| r.ended_once(Status::NOTSUPP)));
        assert_eq!(
            (c.reports, c.reported, c.releases),
            (1, Some(Status::NOTSUPP), 0)
        );
        Ok(())
    }

    #[test]
    fn a_submitter_that_must_not_wait_fails_the_chunk_to_be_issued_again() -> Result {
        // The carrier's bio could not be had without waiting: the chunk fails with what the
        // submitter said, and so do the pieces parked meanwhile.
        let rec: [Record; 2] = Default::default();
        let [s0, d0] = &rec;
        let mut c = Chunk::new(1, 2, Status::OK)?;
        assert!(c.park_direct(direct(s0, 0), false, 0));
        assert!(c.park_direct(direct(d0, 1000), true, 0));
        c.st.not_submitted(1, Status::AGAIN);
        c.submitted();
        assert_eq!((c.checks, c.dispatches), (0, 0));
        assert!(rec.iter().all(|r| r.ended_once(Status::AGAIN)));
        assert_eq!((c.reports, c.reported), (1, Some(Status::AGAIN)));
        Ok(())
    }

    #[test]
    fn a_split_piece_is_refused_and_the_chunk_fails() -> Result {
        let rec: [Record; 3] = Default::default();
        let [s0, split, d0] = &rec;
        // The check finds the parked pieces short of the chunk, as the other part is missing.
        let mut c = Chunk::new(1, 1, Status::IOERR)?;
        c.arrive(bio(s0, 0), false, 0);
        // A stacking driver split the source piece: the second part comes at the same index.
        c.arrive(bio(split, 4), false, 0);
        assert!(split.ended_once(Status::IOERR));
        assert!(s0.unended() && c.reports == 0);
        c.arrive(bio(d0, 1000), true, 0);
        c.submitted();
        assert_eq!((c.checks, c.dispatches), (1, 0));
        assert!(rec.iter().all(|r| r.ended_once(Status::IOERR)));
        // The engine submitted two bios: the chunk is reported when both have completed.
        c.complete(Status::IOERR);
        assert_eq!(c.reports, 0);
        c.complete(Status::IOERR);
        assert_eq!((c.reports, c.reported), (1, Some(Status::IOERR)));
        // The refused part's pin was not kept.
        assert_eq!((c.releases, c.st.take_pins().len()), (1, 2));
        Ok(())
    }

    #[test]
    fn a_piece_after_translation_is_refused() -> Result {
        let rec: [Record; 3] = Default::default();
        let [s0, d0, extra] = &rec;
        let mut c = Chunk::new(1, 1, Status::OK)?;
        c.arrive(bio(s0, 0), false, 0);
        c.arrive(bio(d0, 1000), true, 0);
        c.submitted();
        assert_eq!(c.dispatches, 1);
        // A piece after the chunk was dispatched: refused, and the chunk goes on.
        c.arrive(bio(extra, 0), false, 0);
        assert!(extra.ended_once(Status::IOERR));
        assert!(s0.unended() && d0.unended());
        c.complete(Status::OK);
        c.complete(Status::OK);
        assert!(rec.iter().all(|r| r.ends.get() == 1));
        assert!(s0.ended_once(Status::OK) && d0.ended_once(Status::OK));
        assert_eq!((c.reports, c.reported), (1, Some(Status::OK)));
        assert_eq!(c.st.take_pins().len(), 2);
        Ok(())
    }
}
