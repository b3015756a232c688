// SPDX-License-Identifier: GPL-2.0

//! A copy as a caller described it in `struct blk_copy_params`: validated once, then counted,
//! traced and reported to the caller phase by phase.

use core::ops::Range;

use kernel::{
    block::{
        bdev::BlockDevice,
        bio::{
            Blkcg,
            OwnedBio, //
        },
        copy::{
            self,
            CopyParams,
            CopySegs,
            CopyStat, //
        },
    },
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        barrier::{
            smp_mb,
            Read, //
        },
        Arc, //
    }, //
};

use crate::{
    plan::{
        self,
        Limits,
        Seg, //
    },
    stats,
    Method, //
};

/// A request that a copy stop early, made by whoever may cancel it (io_uring's cancellation of a
/// `BLOCK_URING_CMD_COPY`, [`crate::uring`]) and shared with the copy through [`Stop`].
///
/// The engine looks at it before each chunk it issues and each batch it copies in the kernel: a
/// stopped copy issues nothing more, waits for what is in flight, and ends with `ECANCELED` at
/// the first chunk or batch it did not issue, as a killed synchronous copy ends with `EINTR`.
pub(crate) struct StopFlag(Atomic<bool>);

impl StopFlag {
    /// A flag that is not set.
    pub(crate) fn new() -> Self {
        Self(Atomic::new(false))
    }

    /// Asks the copy to stop. Idempotent.
    pub(crate) fn stop(&self) {
        // A hint that orders nothing else: the engine reads it with its own locks held or not.
        self.0.store(true, Relaxed);
    }

    /// Whether the copy was asked to stop.
    pub(crate) fn is_stopped(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// What holds the [`StopFlag`] of a copy, shared with the copy: the caller's own object, so that
/// the flag costs no allocation of its own.
pub(crate) trait Stop: Send + Sync {
    /// The flag.
    fn stop_flag(&self) -> &StopFlag;
}

/// A copy as a caller described it, validated, with the engine's own copy of the segment lists.
pub(crate) struct CopyArgs {
    params: CopyParams,
    pub(crate) src: KVec<Seg>,
    pub(crate) dst: KVec<Seg>,
    /// Length of the copy in bytes.
    pub(crate) total: u64,
    /// Whether the kernel copies what the devices do not (no `BLKDEV_COPY_NOFALLBACK`).
    fallback: bool,
    /// The cgroup of the caller, which every bio of the copy is charged to, whatever task
    /// submits it; `None` for the root cgroup, which is not charged.
    blkcg: Option<Blkcg>,
    /// Asks the copy to stop early; `None` for a copy that only a fatal signal stops.
    stop: Option<Arc<dyn Stop>>,
}

impl CopyArgs {
    /// Validates the copy `params` describes, with its segments `segs`; the kernel copies what
    /// the devices do not when `fallback` is set.
    pub(crate) fn new(params: CopyParams, segs: CopySegs, fallback: bool) -> Result<Self> {
        let CopySegs { mut src, mut dst } = segs;
        let (sb, db) = (params.src_bdev(), params.dst_bdev());
        if db.is_read_only() {
            return Err(EPERM);
        }
        let total = plan::validate(
            &src,
            &Limits::of(sb),
            &dst,
            &Limits::of(db),
            sb.same_disk(db),
        )
        .map_err(|e| {
            // A disk being removed has no capacity left: say that it is gone, not that the
            // ranges are wrong. `__blk_mark_disk_dead()` sets `GD_DEAD` before it zeroes the
            // capacity, so read the state after the capacity.
            smp_mb(Read);
            if e == EINVAL && !(sb.is_live() && db.is_live()) {
                ENODEV
            } else {
                e
            }
        })?;
        // Counted once it finishes, on the destination's disk.
        CopyStat::prepare(db)?;
        plan::merge_contiguous(&mut src);
        plan::merge_contiguous(&mut dst);
        Ok(Self {
            params,
            src,
            dst,
            total,
            fallback,
            blkcg: Blkcg::current().filter(|blkcg| !blkcg.is_root()),
            stop: None,
        })
    }

    /// Lets the [`StopFlag`] of `stop` stop the copy early.
    pub(crate) fn set_stop(&mut self, stop: Arc<dyn Stop>) {
        self.stop = Some(stop);
    }

    /// Whether the copy was asked to stop early: it is to issue nothing more.
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|stop| stop.stop_flag().is_stopped())
    }

    /// The device to read from.
    pub(crate) fn src_bdev(&self) -> &BlockDevice {
        self.params.src_bdev()
    }

    /// The device to write to.
    pub(crate) fn dst_bdev(&self) -> &BlockDevice {
        self.params.dst_bdev()
    }

    /// Whether the caller asked for completion through `end_io`.
    pub(crate) fn is_async(&self) -> bool {
        self.params.is_async()
    }

    /// Whether the pieces of a chunk are parked at once, all but the carrier without a bio of
    /// their own: both devices have request queues, so nothing could remap a piece, and the copy
    /// is charged to no cgroup, so that no piece needs to be seen as I/O.
    pub(crate) fn parks_directly(&self) -> bool {
        !self.src_bdev().is_bio_based() && !self.dst_bdev().is_bio_based() && self.blkcg.is_none()
    }

    /// Charges `bio`, a bio of the copy, as I/O of the caller: to the caller's cgroup, and as
    /// I/O it waits for (`REQ_SYNC`) when it waits for the copy.
    pub(crate) fn charge(&self, bio: &mut OwnedBio) {
        if let Some(blkcg) = &self.blkcg {
            bio.set_blkcg(blkcg);
        }
        if !self.is_async() {
            bio.set_sync();
        }
    }

    /// Whether the kernel copies what the devices do not.
    pub(crate) fn fallback(&self) -> bool {
        self.fallback
    }

    /// Traces that `part` of the copy (its bytes from `part.start` to `part.end`) is to be done by
    /// `method`.
    pub(crate) fn trace_start(&self, method: Method, part: Range<u64>) {
        copy::trace_submit(
            self.src_bdev(),
            self.dst_bdev(),
            part.end - part.start,
            plan::nr_segs_in(&self.src, part.clone()),
            plan::nr_segs_in(&self.dst, part),
            method == Method::Offload,
        );
    }

    /// Counts and traces the end of `part` of the copy, done by `method`, which stopped after
    /// `copied` bytes of the whole copy with `result`.
    pub(crate) fn record(&self, method: Method, part: Range<u64>, copied: u64, result: Result) {
        let (len, done) = (part.end - part.start, copied.saturating_sub(part.start));
        stats::account(self.dst_bdev(), method, len, done, result);
        self.trace_end(method, part, copied, result);
    }

    /// Traces the end of `part` of the copy, as [`CopyArgs::record`] does, without counting it:
    /// for a part that starts again.
    pub(crate) fn trace_end(&self, method: Method, part: Range<u64>, copied: u64, result: Result) {
        let (len, done) = (part.end - part.start, copied.saturating_sub(part.start));
        copy::trace_complete(
            self.src_bdev(),
            self.dst_bdev(),
            len,
            done,
            result,
            method == Method::Offload,
        );
    }

    /// The caller's parameters, to report the outcome with ([`CopyParams::complete`]).
    pub(crate) fn params(&self) -> &CopyParams {
        &self.params
    }
}
