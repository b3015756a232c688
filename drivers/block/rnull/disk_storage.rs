// SPDX-License-Identifier: GPL-2.0

//! Memory backing of an rnull device.
//!
//! The device's bytes live in page-sized blocks allocated on first write and kept in an
//! [`XArray`] indexed by block number; sectors that were never written, or were discarded, read
//! as zeroes. Reads only take the array's lock; everything that changes the array also holds
//! [`DiskStorage::update`], so that a block allocated outside the array's spinlock is never
//! stored over another one.

use kernel::{
    block::{
        bio::CopyRange,
        mq::{
            Operations,
            Request, //
        },
        SECTOR_SHIFT,
    },
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::Mutex,
    xarray::{
        AllocKind,
        XArray, //
    }, //
};

/// The bytes of one page of the device.
type Block = [u8; PAGE_SIZE];

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
    blocks: XArray<KBox<Block>>,
    /// Held by everything that changes `blocks`. The block it holds is the spare of copies: a
    /// whole destination block is replaced by the spare filled with the source, and the block
    /// it replaces becomes the next spare.
    #[pin]
    update: Mutex<Option<KBox<Block>>>,
}

/// A new zero-filled block.
fn new_block(flags: kernel::alloc::Flags) -> Result<KBox<Block>> {
    KBox::init(pin_init::init_zeroed(), flags)
}

impl DiskStorage {
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            blocks <- XArray::new(AllocKind::Alloc),
            update <- new_mutex!(Some(new_block(GFP_KERNEL)?)),
        })
    }

    /// Makes sure the block at `index` exists, allocating it zeroed. Needs `update` held; takes
    /// the array's lock only around the lookup and the store, as allocating may sleep.
    fn ensure_block(&self, index: usize) -> Result {
        if self.blocks.lock().get(index).is_some() {
            return Ok(());
        }
        let block = new_block(GFP_NOIO)?;
        self.blocks
            .lock()
            .store(index, block, GFP_NOIO)
            .map_err(|e| e.error)?;
        Ok(())
    }

    /// Fills the segments of read request `rq` from the device.
    pub(crate) fn read<T: Operations>(&self, rq: &Request<T>) -> Result {
        let mut pos = rq.sector() << SECTOR_SHIFT;
        let blocks = self.blocks.lock();
        rq.for_each_segment(|seg| {
            let mut done = 0;
            while done < seg.len() {
                let n = in_block(pos, (seg.len() - done) as u64);
                let (index, offset) = locate(pos);
                match blocks.get(index) {
                    Some(block) => seg.write_at(done, &block[offset..offset + n])?,
                    None => seg.fill_zero(done, n)?,
                }
                done += n;
                pos += n as u64;
            }
            Ok(())
        })
    }

    /// Stores the segments of write request `rq` on the device.
    pub(crate) fn write<T: Operations>(&self, rq: &Request<T>) -> Result {
        let mut pos = rq.sector() << SECTOR_SHIFT;
        let _update = self.update.lock();
        rq.for_each_segment(|seg| {
            let mut done = 0;
            while done < seg.len() {
                let n = in_block(pos, (seg.len() - done) as u64);
                let (index, offset) = locate(pos);
                self.ensure_block(index)?;
                let mut blocks = self.blocks.lock();
                let block = blocks.get_mut(index).ok_or(EIO)?;
                seg.read_at(done, &mut block[offset..offset + n])?;
                done += n;
                pos += n as u64;
            }
            Ok(())
        })
    }

    /// Discards `nr_bytes` at sector `sector`: whole blocks are freed, parts of blocks zeroed.
    pub(crate) fn discard(&self, sector: u64, nr_bytes: u64) {
        let mut pos = sector << SECTOR_SHIFT;
        let end = pos + nr_bytes;
        let _update = self.update.lock();
        let mut blocks = self.blocks.lock();
        while pos < end {
            let n = in_block(pos, end - pos);
            let (index, offset) = locate(pos);
            if n == PAGE_SIZE {
                drop(blocks.remove(index));
            } else if let Some(block) = blocks.get_mut(index) {
                block[offset..offset + n].fill(0);
            }
            pos += n as u64;
        }
    }

    /// Copies the source ranges, read in order, over the destination ranges.
    ///
    /// Both lists have the same total length (the block layer checked that). A whole block is
    /// copied once, into the spare block, which then replaces the destination block, so that
    /// readers see the old or the new block, never a mix; parts of blocks go through the spare
    /// into the destination. The array's lock is held for [`COPY_BATCH`] pieces at a time, and
    /// dropped to allocate.
    pub(crate) fn copy(
        &self,
        src: impl Iterator<Item = CopyRange>,
        dst: impl Iterator<Item = CopyRange>,
    ) -> Result {
        let bytes = |r: CopyRange| {
            (
                r.sector << SECTOR_SHIFT,
                u64::from(r.nr_sectors) << SECTOR_SHIFT,
            )
        };
        let (mut src, mut dst) = (src.map(bytes), dst.map(bytes));
        let (mut s, mut d) = (src.next(), dst.next());
        let mut spare = self.update.lock();
        let mut blocks = self.blocks.lock();
        let mut batch = 0;
        while let (Some((src_pos, src_left)), Some((dst_pos, dst_left))) = (s, d) {
            let n = in_block(src_pos, src_left.min(dst_left)).min(in_block(dst_pos, dst_left));
            let (src_index, src_offset) = locate(src_pos);
            let (dst_index, dst_offset) = locate(dst_pos);
            let partial_into_hole = n < PAGE_SIZE && blocks.get(dst_index).is_none();
            if spare.is_none() || partial_into_hole {
                // Allocating may sleep: not under the array's spinlock.
                drop(blocks);
                if spare.is_none() {
                    *spare = Some(new_block(GFP_NOIO)?);
                }
                if partial_into_hole {
                    self.ensure_block(dst_index)?;
                }
                blocks = self.blocks.lock();
            }
            let block = Option::as_mut(&mut *spare).ok_or(ENOMEM)?;
            let has_src = match blocks.get(src_index) {
                Some(src_block) => {
                    block[..n].copy_from_slice(&src_block[src_offset..src_offset + n]);
                    true
                }
                None => false,
            };
            if n == PAGE_SIZE {
                if has_src {
                    let new = spare.take().ok_or(ENOMEM)?;
                    // Storing into a hole may drop the lock to allocate: readers then still
                    // see the hole, which reads as the old zeroes.
                    match blocks.store(dst_index, new, GFP_NOIO) {
                        Ok(old) => *spare = old,
                        Err(e) => {
                            *spare = Some(e.value);
                            return Err(e.error);
                        }
                    }
                } else {
                    // The source was never written: neither is the destination from now on.
                    drop(blocks.remove(dst_index));
                }
            } else {
                match blocks.get_mut(dst_index) {
                    Some(dst_block) if has_src => {
                        dst_block[dst_offset..dst_offset + n].copy_from_slice(&block[..n])
                    }
                    Some(dst_block) => dst_block[dst_offset..dst_offset + n].fill(0),
                    None => return Err(EIO),
                }
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
                Some((src_pos + step, src_left - step))
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
