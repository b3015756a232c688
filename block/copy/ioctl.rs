// SPDX-License-Identifier: GPL-2.0

//! The `BLKCOPY` ioctl: copies between ranges of one block device.
//!
//! C header: [`include/uapi/linux/blk-copy.h`](srctree/include/uapi/linux/blk-copy.h)
//!
//! Offsets are relative to the device the ioctl is called on, so a partition's ranges never
//! leave the partition. The copy itself follows [`user_copy::copy`].

use core::mem::size_of;
use kernel::{
    alloc::Flags,
    bindings,
    block::{
        bdev::BlockDevice,
        copy::CopySegs, //
    },
    fs::file::LocalFile,
    prelude::*,
    uaccess::{
        UserPtr,
        UserSlice, //
    }, //
};

use crate::{
    plan::Seg,
    user_copy, //
};

const HEADER_LEN: usize = size_of::<bindings::blkcopy>();
const RANGE_LEN: usize = size_of::<bindings::blkcopy_range>();
/// Offsets of the fields of `struct blkcopy_range`, and of `out_flags` in `struct blkcopy`.
const SRC_AT: usize = 0;
const DST_AT: usize = 8;
const LEN_AT: usize = 16;
const COPIED_AT: usize = 24;
const OUT_FLAGS_AT: usize = 8;

/// Reads the native-endian integer of `N` bytes at `offset` of `buf`.
fn word<const N: usize>(buf: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[offset..offset + N]);
    out
}

/// The ranges of a call, as user space passed them: a `struct blkcopy_range` array, read once.
pub(crate) struct Ranges {
    /// The `struct blkcopy_range` array, written back with `copied` filled in.
    raw: KVec<u8>,
    /// Length of the copy: the sum of the ranges' lengths.
    pub(crate) total: u64,
}

impl Ranges {
    /// The source (`dst` false) or destination ranges, as engine segments, in order.
    pub(crate) fn segs(&self, dst: bool) -> impl Iterator<Item = Seg> + Clone + '_ {
        let at = if dst { DST_AT } else { SRC_AT };
        self.raw.chunks_exact(RANGE_LEN).map(move |range| Seg {
            pos: u64::from_ne_bytes(word(range, at)),
            len: u64::from_ne_bytes(word(range, LEN_AT)),
        })
    }

    /// The ranges as the engine's segment lists, allocated with `flags`.
    pub(crate) fn copy_segs(&self, flags: Flags) -> Result<CopySegs> {
        let side = |dst| -> Result<KVec<Seg>> {
            let mut segs = KVec::with_capacity(self.raw.len() / RANGE_LEN, flags)?;
            for seg in self.segs(dst) {
                // Cannot fail: there is room for every range.
                segs.push_within_capacity(seg).map_err(|_| ENOMEM)?;
            }
            Ok(segs)
        };
        Ok(CopySegs {
            src: side(false)?,
            dst: side(true)?,
        })
    }
}

/// Reads and checks the `struct blkcopy` at `arg`, of `BLKCOPY` or `BLOCK_URING_CMD_COPY`:
/// returns the flags and the ranges.
pub(crate) fn read_arg(arg: UserPtr) -> Result<(u32, Ranges)> {
    let mut header = [0u8; HEADER_LEN];
    UserSlice::new(arg, HEADER_LEN)
        .reader()
        .read_slice(&mut header)?;
    let nr_ranges = u32::from_ne_bytes(word(&header, 0)) as usize;
    let flags = u32::from_ne_bytes(word(&header, 4));
    if flags & !bindings::BLKCOPY_OFFLOAD_ONLY != 0 || header[12..].iter().any(|&b| b != 0) {
        return Err(EINVAL);
    }
    if nr_ranges == 0 || nr_ranges > bindings::BLKCOPY_MAX_RANGES as usize {
        return Err(EINVAL);
    }
    let mut raw = KVec::new();
    UserSlice::new(arg.wrapping_byte_add(HEADER_LEN), nr_ranges * RANGE_LEN)
        .reader()
        .read_all(&mut raw, GFP_KERNEL)?;
    let mut total: u64 = 0;
    for range in raw.chunks_exact(RANGE_LEN) {
        let len = u64::from_ne_bytes(word(range, LEN_AT));
        total = total.checked_add(len).ok_or(EINVAL)?;
    }
    if total > bindings::BLKCOPY_MAX_BYTES {
        return Err(EINVAL);
    }
    Ok((flags, Ranges { raw, total }))
}

/// Writes each range's `copied` and the header's `out_flags` back to user space.
///
/// The ranges go back in one piece, as they were read, so that a call of many ranges writes to
/// user space twice rather than once per range.
pub(crate) fn report(
    arg: UserPtr,
    ranges: &mut Ranges,
    mut copied: u64,
    offloaded: bool,
) -> Result {
    for range in ranges.raw.chunks_exact_mut(RANGE_LEN) {
        let done = copied.min(u64::from_ne_bytes(word(range, LEN_AT)));
        copied -= done;
        range[COPIED_AT..COPIED_AT + 8].copy_from_slice(&done.to_ne_bytes());
    }
    UserSlice::new(arg.wrapping_byte_add(HEADER_LEN), ranges.raw.len())
        .writer()
        .write_slice(&ranges.raw)?;
    let out_flags = if offloaded {
        bindings::BLKCOPY_OFFLOADED
    } else {
        0
    };
    let at = arg.wrapping_byte_add(OUT_FLAGS_AT);
    UserSlice::new(at, 4)
        .writer()
        .write_slice(&out_flags.to_ne_bytes())
}

/// Checks that a file opened on `bdev` with `mode` may copy onto it: `EBADF` without write
/// access, then as `write()` refuses them, in the same order, `EPERM` on a read-only device and
/// `ETXTBSY` on an active swap device.
pub(crate) fn may_write(bdev: &BlockDevice, mode: bindings::blk_mode_t) -> Result {
    if mode & bindings::BLK_OPEN_WRITE == 0 {
        return Err(EBADF);
    }
    if bdev.is_read_only() {
        return Err(EPERM);
    }
    if bdev.is_swap_busy() {
        return Err(ETXTBSY);
    }
    Ok(())
}

/// `BLKCOPY` on `file`, opened on `bdev` with `mode`; `arg` is the user's `struct blkcopy`.
pub(crate) fn ioctl(
    file: &LocalFile,
    bdev: &BlockDevice,
    mode: bindings::blk_mode_t,
    arg: UserPtr,
) -> Result {
    may_write(bdev, mode)?;
    let (flags, mut ranges) = read_arg(arg)?;
    let offload_only = flags & bindings::BLKCOPY_OFFLOAD_ONLY != 0;
    let segs = ranges.copy_segs(GFP_KERNEL)?;
    let (copied, offloaded, result) =
        user_copy::copy(bdev, bdev, file, segs, ranges.segs(true), offload_only);
    report(arg, &mut ranges, copied, offloaded)?;
    result
}
