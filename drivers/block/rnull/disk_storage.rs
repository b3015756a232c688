// SPDX-License-Identifier: GPL-2.0

//! Memory backing of an rnull device.
//!
//! The device's bytes live in page-sized blocks allocated on first write and kept in an
//! [`XArray`] indexed by block number; sectors that were never written, or were discarded, read
//! as zeroes. A stored block is never changed: a write fills a spare block and stores it in
//! place of the old one, so that a copy of whole blocks only shares them between source and
//! destination (copy on write), and readers see a block old or new, never a mix. Reads only
//! take the array's lock; everything that changes the array also holds [`DiskStorage::update`],
//! which keeps the spare.

use core::pin::Pin;
use kernel::{
    block::{
        mq::{
            Operations,
            Request, //
        },
        segment::CopyRange,
        SECTOR_SHIFT,
    },
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        Arc,
        Mutex,
        UniqueArc, //
    },
    xarray::{
        AllocKind,
        Guard,
        XArray, //
    }, //
};

/// The bytes of one page of the device.
type Block = [u8; PAGE_SIZE];

/// A stored block, shared by every place of the device that holds the same bytes.
type Shared = Arc<KBox<Block>>;

/// A block nothing else references: the spare, being filled before it is stored.
type Spare = UniqueArc<KBox<Block>>;

/// Pieces a copy moves under one hold of the array's lock.
const COPY_BATCH: usize = 64;

/// Where a byte of the device lives: block index and offset in the block.
fn locate(pos: u64) -> (usize, usize) {
    let page = PAGE_SIZE as u64;
    ((pos / page) as usize, (pos % page) as usize)
}

/// Bytes from `pos` to the end of its block, at most `len`.
fn in_block(pos: u64, len: u64) -> usize {
    let (_, offset) = locate(pos);
    len.min((PAGE_SIZE - offset) as u64) as usize
}

#[pin_data]
pub(crate) struct DiskStorage {
    #[pin]
    blocks: XArray<Shared>,
    /// Held by everything that changes `blocks`, with the spare block: the next block stored is
    /// filled in it, and a block it replaces that nothing else references is the next spare.
    #[pin]
    update: Mutex<Option<Spare>>,
}

/// A new zero-filled block.
fn new_block(flags: kernel::alloc::Flags) -> Result<Spare> {
    Ok(UniqueArc::new(
        KBox::init(pin_init::init_zeroed(), flags)?,
        flags,
    )?)
}

/// Stores `block` at `index`; returns the block it replaced when nothing else references that,
/// for the next spare. Storing into a hole may drop the array's lock to allocate: readers then
/// still see the hole.
fn replace(blocks: &mut Guard<'_, Shared>, index: usize, block: Shared) -> Result<Option<Spare>> {
    let old = blocks.store(index, block, GFP_NOIO).map_err(|e| e.error)?;
    Ok(old.and_then(|old| Arc::into_unique_or_drop(old).map(Pin::into_inner)))
}

/// Rewrites `n` bytes at `offset` of the block at `index` with `fill`, through `spare`: the
/// block's other bytes are kept (a hole's are zeroes), unless the whole block is rewritten.
/// Returns the next spare.
fn rewrite(
    blocks: &mut Guard<'_, Shared>,
    index: usize,
    (offset, n): (usize, usize),
    mut spare: Spare,
    fill: impl FnOnce(&mut [u8], &Guard<'_, Shared>) -> Result,
) -> Result<Option<Spare>> {
    if n < PAGE_SIZE {
        match blocks.get(index) {
            Some(old) => spare.copy_from_slice(&old[..]),
            None => spare.fill(0),
        }
    }
    fill(&mut spare[offset..offset + n], blocks)?;
    replace(blocks, index, spare.into())
}

impl DiskStorage {
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            blocks <- XArray::new(AllocKind::Alloc),
            update <- new_mutex!(Some(new_block(GFP_KERNEL)?)),
        })
    }

    /// The spare block of `update`, allocated if there is none. Allocating may sleep, so the
    /// caller must not hold the array's lock.
    fn take_spare(spare: &mut Option<Spare>) -> Result<Spare> {
        match spare.take() {
            Some(block) => Ok(block),
            None => new_block(GFP_NOIO),
        }
    }

    /// Fills the segments of read request `rq` from the device.
    pub(crate) fn read<T: Operations>(&self, rq: &Request<T>) -> Result {
        let Some(segments) = rq.segments() else {
            // A read of no bytes: nothing to fill.
            return Ok(());
        };
        let mut pos = rq.sector() << SECTOR_SHIFT;
        let blocks = self.blocks.lock();
        segments.for_each(|seg| {
            let mut done = 0;
            while done < seg.len() {
                let n = in_block(pos, (seg.len() - done) as u64);
                let (index, offset) = locate(pos);
                match blocks.get(index) {
                    // SAFETY: `rq` is a read that rnull owns until `queue_rq` ends or completes
                    // it, after this walk. The walk runs once per request, on the thread of
                    // `queue_rq`, and is all of rnull that touches the request's memory: it writes
                    // the segments one after the other. The rest of the kernel leaves the memory
                    // of a read to the driver until the request ends (a page-cache folio stays
                    // locked and not uptodate, a kernel buffer is waited for). User space may
                    // still touch the buffer of an `O_DIRECT` read, or lend it to another request
                    // at the same time: a race it causes, which `Segment` allows and which leaves
                    // unspecified bytes in its buffer.
                    Some(block) => unsafe { seg.write_at(done, &block[offset..offset + n]) }?,
                    // SAFETY: As for `write_at` above.
                    None => unsafe { seg.fill_zero(done, n) }?,
                }
                done += n;
                pos += n as u64;
            }
            Ok(())
        })
    }

    /// Stores the segments of write request `rq` on the device.
    pub(crate) fn write<T: Operations>(&self, rq: &Request<T>) -> Result {
        let Some(segments) = rq.segments() else {
            // A write of no bytes: nothing to store.
            return Ok(());
        };
        let mut pos = rq.sector() << SECTOR_SHIFT;
        let mut spare = self.update.lock();
        segments.for_each(|seg| {
            let mut done = 0;
            while done < seg.len() {
                let n = in_block(pos, (seg.len() - done) as u64);
                let (index, offset) = locate(pos);
                let block = Self::take_spare(&mut spare)?;
                let mut blocks = self.blocks.lock();
                // If the submitter's side changes these bytes meanwhile (see `Segment`), the
                // block gets unspecified bytes there, as a C driver's copy would.
                *spare = rewrite(&mut blocks, index, (offset, n), block, |bytes, _| {
                    seg.read_at(done, bytes)
                })?;
                done += n;
                pos += n as u64;
            }
            Ok(())
        })
    }

    /// Discards `nr_bytes` at sector `sector`: whole blocks are freed, parts of blocks zeroed.
    pub(crate) fn discard(&self, sector: u64, nr_bytes: u64) -> Result {
        let mut pos = sector << SECTOR_SHIFT;
        let end = pos + nr_bytes;
        let mut spare = self.update.lock();
        while pos < end {
            let n = in_block(pos, end - pos);
            let (index, offset) = locate(pos);
            if n == PAGE_SIZE {
                drop(self.blocks.lock().remove(index));
            } else if self.blocks.lock().get(index).is_some() {
                let block = Self::take_spare(&mut spare)?;
                let mut blocks = self.blocks.lock();
                *spare = rewrite(&mut blocks, index, (offset, n), block, |bytes, _| {
                    bytes.fill(0);
                    Ok(())
                })?;
            }
            pos += n as u64;
        }
        Ok(())
    }

    /// Copies the source ranges, read in order, over the destination ranges of this device.
    ///
    /// Each source range comes with the storage it lies on: this device's, or another device's
    /// of the copy domain. Both lists have the same total length (the block layer checked that).
    /// A whole source block is shared with its destination; parts of blocks are written through
    /// the spare. The array's lock is held for [`COPY_BATCH`] pieces at a time, and dropped to
    /// allocate; another device's array is locked only while this one's is not, as both locks
    /// are of one class. Fails with `EIO` when either list is empty.
    pub(crate) fn copy<'a>(
        &self,
        src: impl Iterator<Item = (&'a DiskStorage, CopyRange)>,
        dst: impl Iterator<Item = CopyRange>,
    ) -> Result {
        let bytes = |r: CopyRange| {
            (
                r.sector << SECTOR_SHIFT,
                u64::from(r.nr_sectors) << SECTOR_SHIFT,
            )
        };
        let (mut src, mut dst) = (src.map(|(from, r)| (from, bytes(r))), dst.map(bytes));
        let (mut s, mut d) = (src.next(), dst.next());
        if s.is_none() || d.is_none() {
            // A copy without ranges copies nothing: fail it rather than report it as done. The
            // block layer never sends one, and user space cannot reach this.
            return Err(EIO);
        }
        let mut spare = self.update.lock();
        let mut blocks = self.blocks.lock();
        let mut batch = 0;
        while let (Some((from, (src_pos, src_left))), Some((dst_pos, dst_left))) = (s, d) {
            let n = in_block(src_pos, src_left.min(dst_left)).min(in_block(dst_pos, dst_left));
            let (src_index, src_offset) = locate(src_pos);
            let (dst_index, dst_offset) = locate(dst_pos);
            // The source block of another device, taken under its array's lock alone. Stored
            // blocks never change, so holding it is as good as holding the lock.
            let other = if core::ptr::eq(from, self) {
                None
            } else {
                drop(blocks);
                let block = from.blocks.lock().get(src_index).map(Shared::from);
                blocks = self.blocks.lock();
                Some(block)
            };
            let next = if n == PAGE_SIZE {
                let source = match other {
                    Some(block) => block,
                    None => blocks.get(src_index).map(Shared::from),
                };
                match source {
                    Some(shared) => replace(&mut blocks, dst_index, shared)?,
                    // The source was never written: neither is the destination from now on.
                    None => blocks
                        .remove(dst_index)
                        .and_then(|old| Arc::into_unique_or_drop(old).map(Pin::into_inner)),
                }
            } else {
                let Some(block) = spare.take() else {
                    // Allocating may sleep: not under the array's spinlock. Then this piece
                    // again.
                    drop(blocks);
                    *spare = Some(new_block(GFP_NOIO)?);
                    blocks = self.blocks.lock();
                    continue;
                };
                rewrite(
                    &mut blocks,
                    dst_index,
                    (dst_offset, n),
                    block,
                    |bytes, blocks| {
                        let source = match &other {
                            Some(block) => block.clone(),
                            None => blocks.get(src_index).map(Shared::from),
                        };
                        match source {
                            Some(src) => bytes.copy_from_slice(&src[src_offset..src_offset + n]),
                            None => bytes.fill(0),
                        }
                        Ok(())
                    },
                )?
            };
            if spare.is_none() {
                *spare = next;
            }
            batch += 1;
            if batch == COPY_BATCH {
                // Let readers in.
                drop(blocks);
                blocks = self.blocks.lock();
                batch = 0;
            }
            let step = n as u64;
            s = if src_left > step {
                Some((from, (src_pos + step, src_left - step)))
            } else {
                src.next()
            };
            d = if dst_left > step {
                Some((dst_pos + step, dst_left - step))
            } else {
                dst.next()
            };
        }
        if s.is_some() || d.is_some() {
            // The two sides differ in length: the block layer never sends that.
            return Err(EINVAL);
        }
        Ok(())
    }
}
