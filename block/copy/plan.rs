// SPDX-License-Identifier: GPL-2.0

//! Validation of a copy and its division into chunks the devices accept.
//!
//! A copy names source segments on one block device and destination segments on another (or
//! the same) one, all in bytes. The source segments are read in order as one stream and written
//! in order over the destination segments, so both lists must add up to the same length.

use core::ops::Range;

use kernel::{
    block::{
        bdev::BlockDevice,
        SECTOR_SHIFT, //
    },
    prelude::*, //
};

/// A byte range of a block device, `struct blk_copy_seg`.
pub(crate) type Seg = kernel::block::copy::CopySeg;

/// The copy limits of one block device, in bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Logical block size.
    pub(crate) lbs: u32,
    /// Size of the device.
    pub(crate) capacity: u64,
    /// Largest offloaded copy (`max_copy_sectors`), 0 when the device cannot offload.
    pub(crate) max_copy: u64,
    /// Source ranges one offloaded copy may have.
    pub(crate) max_src_segs: u16,
    /// Destination ranges one offloaded copy may have.
    pub(crate) max_dst_segs: u16,
    /// Offset of the device on its disk (non-zero for a partition).
    pub(crate) start: u64,
}

impl Limits {
    /// The limits of `bdev`.
    pub(crate) fn of(bdev: &BlockDevice) -> Self {
        let lim = bdev.limits();
        Self {
            lbs: lim.logical_block_size,
            capacity: bdev.nr_bytes(),
            max_copy: u64::from(lim.max_copy_sectors) << SECTOR_SHIFT,
            max_src_segs: lim.max_copy_src_segments,
            max_dst_segs: lim.max_copy_dst_segments,
            start: bdev.start_sector() << SECTOR_SHIFT,
        }
    }
}

/// The largest value of `bi_iter.bi_size`: no single copy bio may be longer.
const BIO_MAX_BYTES: u64 = u32::MAX as u64;

/// Checks that `segs` are non-empty, aligned to `align` (a power of two, as logical block sizes
/// are) and inside a device of `capacity` bytes.
///
/// Returns their total length.
fn check_side(segs: &[Seg], align: u64, capacity: u64) -> Result<u64> {
    if segs.is_empty() {
        return Err(EINVAL);
    }
    let mut total: u64 = 0;
    for seg in segs {
        if seg.len == 0 || (seg.pos | seg.len) & (align - 1) != 0 {
            return Err(EINVAL);
        }
        let end = seg.pos.checked_add(seg.len).ok_or(EINVAL)?;
        if end > capacity {
            return Err(EINVAL);
        }
        total = total.checked_add(seg.len).ok_or(EINVAL)?;
    }
    Ok(total)
}

/// `segs` in the order of their positions: `segs` itself when already in order (the usual
/// case), else a sorted copy kept in `buf`.
fn in_order<'a>(segs: &'a [Seg], buf: &'a mut KVVec<Seg>) -> Result<&'a [Seg]> {
    if segs.windows(2).all(|w| w[0].pos <= w[1].pos) {
        return Ok(segs);
    }
    buf.extend_from_slice(segs, GFP_NOIO)?;
    buf.sort_unstable_by_key(|seg| seg.pos);
    Ok(buf)
}

/// Whether a destination segment shares a byte with another destination segment or, on one
/// disk (`same_disk`), with a source segment. Sources may overlap each other. `src_start` and
/// `dst_start` are the offsets of the devices on their disks.
///
/// Walks both sides in the order of where their segments start on the disk, once, so that a
/// copy of many ranges costs `n log n` at worst, not `n * n`: a segment overlaps one that starts
/// no later exactly when it starts before the furthest end seen so far among those it must not
/// meet.
fn dst_overlaps(
    src: &[Seg],
    src_start: u64,
    dst: &[Seg],
    dst_start: u64,
    same_disk: bool,
) -> Result<bool> {
    let (mut src_buf, mut dst_buf) = (KVVec::new(), KVVec::new());
    let src = in_order(if same_disk { src } else { &[] }, &mut src_buf)?;
    let dst = in_order(dst, &mut dst_buf)?;
    let (mut src_iter, mut dst_iter) = (src.iter().peekable(), dst.iter().peekable());
    let (mut src_end, mut dst_end) = (0, 0);
    loop {
        let from_dst = match (src_iter.peek(), dst_iter.peek()) {
            (Some(s), Some(d)) => d.pos + dst_start <= s.pos + src_start,
            (s, _) => s.is_none(),
        };
        let (side, dev_start) = if from_dst {
            (&mut dst_iter, dst_start)
        } else {
            (&mut src_iter, src_start)
        };
        let Some(seg) = side.next() else {
            return Ok(false);
        };
        // Cannot overflow: `check_side` found the segment inside its device.
        let start = seg.pos + dev_start;
        if start < dst_end || (from_dst && start < src_end) {
            return Ok(true);
        }
        let end = if from_dst { &mut dst_end } else { &mut src_end };
        *end = (start + seg.len).max(*end);
    }
}

/// Validates a copy from `src` on a device with limits `src_dev` to `dst` on `dst_dev`.
///
/// Every segment must be non-empty, aligned to the larger of both logical block sizes and
/// inside its device, and both sides must have the same total length. Destination segments
/// must not overlap each other, and on one disk (`same_disk`: the devices are the disk or its
/// partitions) no destination segment may overlap a source segment: the result of such a copy
/// would depend on the order in which the device copies. Returns the length of the copy in
/// bytes, or `EINVAL`, or `ENOMEM` when the overlap check finds no memory.
pub(crate) fn validate(
    src: &[Seg],
    src_dev: &Limits,
    dst: &[Seg],
    dst_dev: &Limits,
    same_disk: bool,
) -> Result<u64> {
    let align = u64::from(src_dev.lbs.max(dst_dev.lbs));
    if !align.is_power_of_two() {
        return Err(EINVAL);
    }
    let len = check_side(src, align, src_dev.capacity)?;
    if check_side(dst, align, dst_dev.capacity)? != len {
        return Err(EINVAL);
    }
    if dst_overlaps(src, src_dev.start, dst, dst_dev.start, same_disk)? {
        return Err(EINVAL);
    }
    Ok(len)
}

/// Merges each segment with the next when they are contiguous, so that a copy that gathers
/// ranges into one destination (or scatters one source) reaches the device as few ranges.
///
/// Segments keep their order; a copy stays the same copy.
pub(crate) fn merge_contiguous(segs: &mut KVec<Seg>) {
    let mut out = 0;
    for i in 0..segs.len() {
        let seg = segs[i];
        if i > 0 && segs[out - 1].pos.checked_add(segs[out - 1].len) == Some(seg.pos) {
            segs[out - 1].len += seg.len;
        } else {
            segs[out] = seg;
            out += 1;
        }
    }
    segs.truncate(out);
}

/// Largest chunk both devices offload, in bytes; 0 when one of them cannot offload.
///
/// Rounded down to the larger logical block size so that chunk boundaries stay block aligned
/// on both devices, and capped at what one bio can describe.
pub(crate) fn max_chunk(src_dev: &Limits, dst_dev: &Limits) -> u64 {
    let align = u64::from(src_dev.lbs.max(dst_dev.lbs));
    let max = src_dev.max_copy.min(dst_dev.max_copy).min(BIO_MAX_BYTES);
    max - max % align
}

/// The source and destination ranges one chunk may have: the destination's disk executes the
/// copy, so both come from its limits, whatever the source device could take.
pub(crate) fn max_segments(dst_dev: &Limits) -> (u16, u16) {
    (dst_dev.max_src_segs, dst_dev.max_dst_segs)
}

/// A position in a list of segments: segment `idx`, `off` bytes into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    idx: usize,
    off: u64,
}

impl Cursor {
    /// Walks at most `pieces` segments of `segs` and at most `limit` bytes from the cursor, in one
    /// pass: returns the bytes walked, the cursor after them and the segments they touch.
    fn reach(self, segs: &[Seg], pieces: usize, limit: u64) -> (u64, Cursor, usize) {
        let (mut at, mut bytes, mut touched) = (self, 0u64, 0);
        while touched < pieces && bytes < limit {
            let Some(seg) = segs.get(at.idx) else {
                break;
            };
            let step = (seg.len - at.off).min(limit - bytes);
            bytes += step;
            touched += 1;
            at.off += step;
            if at.off == seg.len {
                at = Cursor {
                    idx: at.idx + 1,
                    off: 0,
                };
            }
        }
        (bytes, at, touched)
    }

    /// The contiguous pieces of the next `len` bytes of `segs`, as `(pos, len)` pairs.
    pub(crate) fn pieces(self, segs: &[Seg], len: u64) -> Pieces<'_> {
        Pieces {
            segs,
            at: self,
            left: len,
        }
    }
}

/// Iterator over the pieces of one side of a chunk, see [`Cursor::pieces`].
pub(crate) struct Pieces<'a> {
    segs: &'a [Seg],
    at: Cursor,
    left: u64,
}

impl Iterator for Pieces<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.left == 0 {
            return None;
        }
        let seg = &self.segs[self.at.idx];
        let len = (seg.len - self.at.off).min(self.left);
        let piece = (seg.pos + self.at.off, len);
        self.at.off += len;
        if self.at.off == seg.len {
            self.at = Cursor {
                idx: self.at.idx + 1,
                off: 0,
            };
        }
        self.left -= len;
        Some(piece)
    }
}

/// One chunk of a copy: `len` bytes starting at `src` and `dst`, `done` bytes into the copy, in
/// `nr_src` source and `nr_dst` destination pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) src: Cursor,
    pub(crate) dst: Cursor,
    pub(crate) len: u64,
    pub(crate) done: u64,
    pub(crate) nr_src: usize,
    pub(crate) nr_dst: usize,
}

/// The number of segments of `segs` that hold bytes of `part` of the copy.
pub(crate) fn nr_segs_in(segs: &[Seg], part: Range<u64>) -> usize {
    let (_, at, _) = Cursor::default().reach(segs, usize::MAX, part.start);
    let (_, _, touched) = at.reach(segs, usize::MAX, part.end.saturating_sub(part.start));
    touched
}

/// Cuts a validated copy into chunks of at most `max_bytes` bytes, `max_src` source pieces and
/// `max_dst` destination pieces each.
///
/// The plan does not borrow the segments, so that it can live next to them in a copy job; every
/// call of [`Plan::next_chunk`] must pass the segments the copy was validated with.
pub(crate) struct Plan {
    next: Chunk,
    total: u64,
    max_bytes: u64,
    max_src: usize,
    max_dst: usize,
}

impl Plan {
    /// Where the first chunk starts.
    const START: Chunk = Chunk {
        src: Cursor { idx: 0, off: 0 },
        dst: Cursor { idx: 0, off: 0 },
        len: 0,
        done: 0,
        nr_src: 0,
        nr_dst: 0,
    };

    /// Plans a validated copy of `total` bytes.
    ///
    /// `max_bytes` must be a multiple of the alignment the copy was validated with; all limits
    /// must be non-zero.
    pub(crate) fn new(total: u64, max_bytes: u64, max_src: u16, max_dst: u16) -> Result<Self> {
        if max_bytes == 0 || max_src == 0 || max_dst == 0 {
            return Err(EINVAL);
        }
        Ok(Self {
            next: Self::START,
            total,
            max_bytes,
            max_src: max_src.into(),
            max_dst: max_dst.into(),
        })
    }

    /// Goes on `from` bytes into the copy of `src` to `dst`, as if chunks up to there had been
    /// handed out: where a copy another way stopped.
    pub(crate) fn skip(&mut self, src: &[Seg], dst: &[Seg], from: u64) {
        let from = from.min(self.remaining());
        (_, self.next.src, _) = self.next.src.reach(src, usize::MAX, from);
        (_, self.next.dst, _) = self.next.dst.reach(dst, usize::MAX, from);
        self.next.done += from;
    }

    /// Goes back (or on) to `from` bytes into the copy of `src` to `dst`: the next chunk starts
    /// there, whatever was handed out before.
    pub(crate) fn rewind(&mut self, src: &[Seg], dst: &[Seg], from: u64) {
        self.next = Self::START;
        self.skip(src, dst, from);
    }

    /// The most bytes a chunk has.
    pub(crate) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Bytes handed out in chunks so far: the offset of the next chunk.
    pub(crate) fn issued(&self) -> u64 {
        self.next.done
    }

    /// Bytes not yet handed out in a chunk.
    pub(crate) fn remaining(&self) -> u64 {
        self.total - self.next.done
    }

    /// The next chunk of the copy of `src` to `dst`, or `None` when all bytes were handed out.
    pub(crate) fn next_chunk(&mut self, src: &[Seg], dst: &[Seg]) -> Option<Chunk> {
        self.next_chunk_upto(src, dst, self.max_bytes)
    }

    /// Like [`Plan::next_chunk`], with the chunk also at most `limit` bytes long.
    ///
    /// `limit` must be a non-zero multiple of the alignment the copy was validated with.
    pub(crate) fn next_chunk_upto(
        &mut self,
        src: &[Seg],
        dst: &[Seg],
        limit: u64,
    ) -> Option<Chunk> {
        let mut chunk = self.next;
        let left = self.remaining();
        if left == 0 {
            return None;
        }
        let len = left.min(self.max_bytes).min(limit);
        let (src_len, mut src_end, mut nr_src) = chunk.src.reach(src, self.max_src, len);
        let (len, dst_end, nr_dst) = chunk.dst.reach(dst, self.max_dst, src_len);
        if len < src_len {
            // The destination side cut the chunk short: walk the source side again.
            (_, src_end, nr_src) = chunk.src.reach(src, self.max_src, len);
        }
        chunk.len = len;
        (chunk.nr_src, chunk.nr_dst) = (nr_src, nr_dst);
        self.next.src = src_end;
        self.next.dst = dst_end;
        self.next.done += len;
        Some(chunk)
    }
}

#[cfg(CONFIG_BLK_COPY_OFFLOAD_KUNIT_TEST)]
#[kunit_tests(blk_copy_plan)]
mod tests {
    use super::*;

    fn seg(pos: u64, len: u64) -> Seg {
        Seg { pos, len }
    }

    fn dev(lbs: u32, capacity: u64) -> Limits {
        Limits {
            lbs,
            capacity,
            max_copy: 1 << 20,
            max_src_segs: 4,
            max_dst_segs: 1,
            start: 0,
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn chunks_take_their_ranges_from_the_executing_disk() {
        // The destination's disk executes the copy, so its limits bound both sides.
        let mut dst = dev(512, MIB);
        (dst.max_src_segs, dst.max_dst_segs) = (128, 2);
        assert_eq!(max_segments(&dst), (128, 2));
    }

    #[test]
    fn validate_accepts_good_copies() {
        let d = dev(4096, MIB);
        assert_eq!(
            validate(&[seg(0, 8192)], &d, &[seg(8192, 8192)], &d, true),
            Ok(8192)
        );
        let two = [seg(0, 4096), seg(16384, 4096)];
        assert_eq!(
            validate(&two, &d, &[seg(MIB - 8192, 8192)], &d, true),
            Ok(8192)
        );
        // Source and destination overlap, but on two different devices.
        assert_eq!(
            validate(&[seg(0, 4096)], &d, &[seg(0, 4096)], &d, false),
            Ok(4096)
        );
    }

    #[test]
    fn validate_rejects_bad_copies() {
        let d = dev(4096, MIB);
        let small = dev(512, MIB);
        // Empty side, zero length, misalignment (to the larger block size of both devices).
        assert_eq!(validate(&[], &d, &[seg(0, 4096)], &d, false), Err(EINVAL));
        assert_eq!(
            validate(&[seg(0, 0)], &d, &[seg(4096, 0)], &d, true),
            Err(EINVAL)
        );
        assert_eq!(
            validate(&[seg(512, 4096)], &small, &[seg(0, 4096)], &d, false),
            Err(EINVAL)
        );
        assert_eq!(
            validate(&[seg(0, 512)], &small, &[seg(0, 512)], &small, false),
            Ok(512)
        );
        // Past the end, and offsets that wrap around.
        assert_eq!(
            validate(&[seg(MIB - 4096, 8192)], &d, &[seg(0, 8192)], &d, true),
            Err(EINVAL)
        );
        let wrap = u64::MAX - 4095;
        assert_eq!(
            validate(&[seg(wrap, 8192)], &d, &[seg(0, 8192)], &d, true),
            Err(EINVAL)
        );
        // Lengths differ.
        assert_eq!(
            validate(&[seg(0, 4096)], &d, &[seg(8192, 8192)], &d, true),
            Err(EINVAL)
        );
        // Two partitions of one disk: 4 KiB into the second is 68 KiB into the disk.
        let mut part = dev(4096, MIB);
        part.start = 65536;
        assert_eq!(
            validate(&[seg(69632, 4096)], &d, &[seg(4096, 4096)], &part, true),
            Err(EINVAL)
        );
        assert_eq!(
            validate(&[seg(4096, 4096)], &d, &[seg(4096, 4096)], &part, true),
            Ok(4096)
        );
        // Destination overlaps the source on one device, or another destination.
        assert_eq!(
            validate(&[seg(0, 8192)], &d, &[seg(4096, 8192)], &d, true),
            Err(EINVAL)
        );
        let dsts = [seg(8192, 4096), seg(8192, 4096)];
        let srcs = [seg(0, 4096), seg(4096, 4096)];
        assert_eq!(validate(&srcs, &d, &dsts, &d, false), Err(EINVAL));
    }

    /// What `dst_overlaps` must find, comparing every pair.
    fn dst_overlaps_pairwise(
        src: &[Seg],
        src_start: u64,
        dst: &[Seg],
        dst_start: u64,
        same_disk: bool,
    ) -> bool {
        let meet = |a: &Seg, a_start: u64, b: &Seg, b_start: u64| {
            let (a_pos, b_pos) = (a.pos + a_start, b.pos + b_start);
            a_pos < b_pos + b.len && b_pos < a_pos + a.len
        };
        dst.iter().enumerate().any(|(i, d)| {
            dst[i + 1..]
                .iter()
                .any(|o| meet(d, dst_start, o, dst_start))
                || (same_disk && src.iter().any(|s| meet(d, dst_start, s, src_start)))
        })
    }

    #[test]
    fn overlap_sweep_matches_pairwise_check() -> Result {
        // xorshift64: the same pseudo-random segment lists on every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let (mut found, mut clear) = (0, 0);
        for _ in 0..500 {
            let mut src = KVec::new();
            let mut dst = KVec::new();
            for _ in 0..1 + next(8) {
                src.push(seg(next(64) * 512, (1 + next(8)) * 512), GFP_KERNEL)?;
            }
            for _ in 0..1 + next(8) {
                dst.push(seg(next(256) * 512, (1 + next(4)) * 512), GFP_KERNEL)?;
            }
            // The destination device starts 8 KiB into the disk, like a partition. Unordered
            // lists are sorted into a copy, ordered ones walked as they are.
            for same_disk in [false, true] {
                let want = dst_overlaps_pairwise(&src, 0, &dst, 8192, same_disk);
                assert_eq!(dst_overlaps(&src, 0, &dst, 8192, same_disk), Ok(want));
                if want {
                    found += 1;
                } else {
                    clear += 1;
                }
            }
            src.sort_unstable_by_key(|seg| seg.pos);
            dst.sort_unstable_by_key(|seg| seg.pos);
            for same_disk in [false, true] {
                let want = dst_overlaps_pairwise(&src, 0, &dst, 8192, same_disk);
                assert_eq!(dst_overlaps(&src, 0, &dst, 8192, same_disk), Ok(want));
            }
        }
        // Both answers were exercised many times.
        assert!(found > 100 && clear > 100);
        Ok(())
    }

    #[test]
    fn overlap_check_ignores_touching_and_source_overlaps() {
        let srcs = [seg(0, 8192), seg(4096, 8192)];
        let dsts = [seg(20480, 4096), seg(12288, 4096), seg(16384, 4096)];
        assert_eq!(dst_overlaps(&srcs, 0, &dsts, 0, true), Ok(false));
        let dsts = [seg(20480, 4096), seg(8192, 4096)];
        assert_eq!(dst_overlaps(&srcs, 0, &dsts, 0, true), Ok(true));
        assert_eq!(dst_overlaps(&srcs, 0, &dsts, 0, false), Ok(false));
    }

    #[test]
    fn max_chunk_is_block_aligned() {
        let mut a = dev(4096, MIB);
        let mut b = dev(512, MIB);
        a.max_copy = 64 * 1024;
        b.max_copy = 6 * 1024 + 512;
        assert_eq!(max_chunk(&a, &b), 4096);
        b.max_copy = 0;
        assert_eq!(max_chunk(&a, &b), 0);
        a.max_copy = u64::MAX;
        b.max_copy = u64::MAX;
        assert_eq!(max_chunk(&a, &b), u64::from(u32::MAX) & !4095);
    }

    #[test]
    fn merge_joins_contiguous_segments() -> Result {
        let mut segs = KVec::new();
        for s in [
            seg(0, 4096),
            seg(4096, 8192),
            seg(20480, 4096),
            seg(0, 4096),
        ] {
            segs.push(s, GFP_KERNEL)?;
        }
        merge_contiguous(&mut segs);
        let want = [(0, 12288), (20480, 4096), (0, 4096)];
        assert_eq!(segs.len(), want.len());
        for (s, w) in segs.iter().zip(want) {
            assert_eq!((s.pos, s.len), w);
        }
        Ok(())
    }

    #[test]
    fn planner_splits_by_bytes() -> Result {
        let src = [seg(0, 12288)];
        let dst = [seg(20480, 12288)];
        let mut plan = Plan::new(12288, 4096, 1, 1)?;
        let mut lens = [0u64; 4];
        let mut n = 0;
        while let Some(c) = plan.next_chunk(&src, &dst) {
            lens[n] = c.len;
            n += 1;
        }
        assert_eq!(lens, [4096, 4096, 4096, 0]);
        Ok(())
    }

    #[test]
    fn planner_caps_chunks_at_a_limit() -> Result {
        // Filling a buffer of 12 KiB: a 4 KiB range, then what is left of it from the next.
        let src = [seg(0, 4096), seg(8192, 16384)];
        let dst = [seg(65536, 20480)];
        let mut plan = Plan::new(20480, 8192, 1, 1)?;
        let first = plan.next_chunk_upto(&src, &dst, 12288).ok_or(EINVAL)?;
        assert_eq!((first.len, first.done), (4096, 0));
        let second = plan.next_chunk_upto(&src, &dst, 8192).ok_or(EINVAL)?;
        assert_eq!((second.len, second.done, second.nr_src), (8192, 4096, 1));
        assert_eq!(
            second.src.pieces(&src, second.len).next(),
            Some((8192, 8192))
        );
        assert_eq!(
            second.dst.pieces(&dst, second.len).next(),
            Some((69632, 8192))
        );
        let third = plan.next_chunk_upto(&src, &dst, 4096).ok_or(EINVAL)?;
        assert_eq!((third.len, third.done), (4096, 12288));
        let last = plan.next_chunk_upto(&src, &dst, 1 << 20).ok_or(EINVAL)?;
        assert_eq!((last.len, last.done), (4096, 16384));
        assert!(plan.next_chunk_upto(&src, &dst, 4096).is_none());
        Ok(())
    }

    #[test]
    fn planner_respects_segment_limits() -> Result {
        // Four 4 KiB source pieces into one 16 KiB destination; two source pieces per chunk.
        let src = [
            seg(0, 4096),
            seg(8192, 4096),
            seg(16384, 4096),
            seg(24576, 4096),
        ];
        let dst = [seg(65536, 16384)];
        let mut plan = Plan::new(16384, 1 << 20, 2, 1)?;
        let first = plan.next_chunk(&src, &dst).ok_or(EINVAL)?;
        assert_eq!((first.len, first.nr_src, first.nr_dst), (8192, 2, 1));
        let mut pieces = first.src.pieces(&src, first.len);
        assert_eq!(pieces.next(), Some((0, 4096)));
        assert_eq!(pieces.next(), Some((8192, 4096)));
        assert_eq!(pieces.next(), None);
        let second = plan.next_chunk(&src, &dst).ok_or(EINVAL)?;
        assert_eq!((second.len, second.done), (8192, 8192));
        assert_eq!(
            second.dst.pieces(&dst, second.len).next(),
            Some((65536 + 8192, 8192))
        );
        assert!(plan.next_chunk(&src, &dst).is_none());
        assert_eq!(plan.remaining(), 0);
        Ok(())
    }

    #[test]
    fn planner_goes_on_where_another_copy_stopped() -> Result {
        // A fallback after an offload stopped 6 KiB in: inside the second source segment.
        let src = [seg(0, 4096), seg(8192, 4096), seg(16384, 4096)];
        let dst = [seg(65536, 12288)];
        assert_eq!(nr_segs_in(&src, 6144..12288), 2);
        assert_eq!(nr_segs_in(&src, 8192..12288), 1);
        assert_eq!(nr_segs_in(&src, 2048..6144), 2);
        assert_eq!(nr_segs_in(&src, 4096..8192), 1);
        assert_eq!(nr_segs_in(&dst, 12288..12288), 0);
        let mut plan = Plan::new(12288, 1 << 20, 4, 1)?;
        plan.skip(&src, &dst, 6144);
        assert_eq!((plan.issued(), plan.remaining()), (6144, 6144));
        let chunk = plan.next_chunk(&src, &dst).ok_or(EINVAL)?;
        assert_eq!((chunk.len, chunk.done, chunk.nr_src), (6144, 6144, 2));
        let mut pieces = chunk.src.pieces(&src, chunk.len);
        assert_eq!(pieces.next(), Some((8192 + 2048, 2048)));
        assert_eq!(pieces.next(), Some((16384, 4096)));
        assert_eq!(
            chunk.dst.pieces(&dst, chunk.len).next(),
            Some((65536 + 6144, 6144))
        );
        assert!(plan.next_chunk(&src, &dst).is_none());
        // Offloading again where the kernel stopped copying a refused part, 4 KiB in.
        plan.rewind(&src, &dst, 4096);
        let chunk = plan.next_chunk(&src, &dst).ok_or(EINVAL)?;
        assert_eq!((chunk.len, chunk.done, chunk.nr_src), (8192, 4096, 2));
        assert_eq!(chunk.src.pieces(&src, chunk.len).next(), Some((8192, 4096)));
        assert_eq!(plan.remaining(), 0);
        Ok(())
    }

    #[test]
    fn planner_recounts_sources_when_destinations_cut_a_chunk() -> Result {
        // Three source pieces fit a chunk, but only one destination piece does.
        let src = [seg(0, 4096), seg(8192, 4096), seg(16384, 4096)];
        let dst = [seg(65536, 4096), seg(73728, 8192)];
        let mut plan = Plan::new(12288, 1 << 20, 3, 1)?;
        let first = plan.next_chunk(&src, &dst).ok_or(EINVAL)?;
        assert_eq!((first.len, first.nr_src, first.nr_dst), (4096, 1, 1));
        let second = plan.next_chunk(&src, &dst).ok_or(EINVAL)?;
        assert_eq!((second.len, second.nr_src, second.nr_dst), (8192, 2, 1));
        let mut pieces = second.src.pieces(&src, second.len);
        assert_eq!(pieces.next(), Some((8192, 4096)));
        assert_eq!(pieces.next(), Some((16384, 4096)));
        assert_eq!(pieces.next(), None);
        assert!(plan.next_chunk(&src, &dst).is_none());
        Ok(())
    }

    #[test]
    fn planner_follows_unequal_boundaries() -> Result {
        // Source and destination segments end at different places.
        let src = [seg(0, 12288), seg(40960, 4096)];
        let dst = [seg(81920, 4096), seg(98304, 12288)];
        let mut total = 0;
        let mut src_bytes = 0;
        let mut dst_bytes = 0;
        let mut plan = Plan::new(16384, 8192, 1, 1)?;
        while let Some(c) = plan.next_chunk(&src, &dst) {
            assert!(c.len <= 8192 && c.len % 4096 == 0);
            assert_eq!(c.done, total);
            total += c.len;
            assert_eq!((c.nr_src, c.nr_dst), (1, 1));
            assert_eq!(c.src.pieces(&src, c.len).count(), 1);
            assert_eq!(c.dst.pieces(&dst, c.len).count(), 1);
            src_bytes += c.src.pieces(&src, c.len).map(|p| p.1).sum::<u64>();
            dst_bytes += c.dst.pieces(&dst, c.len).map(|p| p.1).sum::<u64>();
        }
        assert_eq!((total, src_bytes, dst_bytes), (16384, 16384, 16384));
        Ok(())
    }
}
