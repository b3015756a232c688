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
    prelude::*, //
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
        )?;
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
        })
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

    /// The cgroup the copy is charged to, `None` for the root cgroup.
    pub(crate) fn blkcg(&self) -> Option<&Blkcg> {
        self.blkcg.as_ref()
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
        let (src, dst) = (self.src_bdev(), self.dst_bdev());
        let (len, done) = (part.end - part.start, copied.saturating_sub(part.start));
        stats::account(dst, method, len, done, result);
        copy::trace_complete(src, dst, len, done, result, method == Method::Offload);
    }

    /// The caller's parameters, to report the outcome with ([`CopyParams::complete`]).
    pub(crate) fn params(&self) -> &CopyParams {
        &self.params
    }
}
