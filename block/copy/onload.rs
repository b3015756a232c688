// SPDX-License-Identifier: GPL-2.0

//! Copies done by the kernel: what the devices cannot offload, unless the caller of
//! `blkdev_copy()` asked for offload only.
//!
//! Reads the pieces of the copy into a buffer and writes them out. The buffer is allocated once
//! per copy, at most `BLK_COPY_ONLOAD_BUF_BYTES` of pages that are never mapped into the kernel's
//! address space: the data goes from the device into the pages and back out by DMA (or by the
//! driver's own mapping), so the engine never touches it.
//!
//! The buffer is filled with as many pieces as fit, each starting on a page of its own, and a
//! batch's reads are in flight together, then its writes: a copy of many small ranges costs
//! about what one range of the same total size does. A failed read or write stops the copy,
//! and everything before the batch was copied: like the chunks of an offloaded copy, a batch
//! is all or nothing in what the copy reports. A fatal signal stops the copy between batches,
//! and so does a request to stop ([`crate::args::StopFlag`]).

use core::ops::Range;

use kernel::{
    block::{
        bdev::BlockDevice,
        bio::{
            with_plug,
            BioChain,
            BioSet,
            OwnedBio, //
        },
        copy,
        req_op::ReqOp,
        SECTOR_SHIFT, //
    },
    impl_has_work,
    new_work,
    page::{
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::{
        Arc,
        UniqueArc, //
    },
    workqueue::{
        Work,
        WorkItem, //
    }, //
};

use crate::{
    plan::Plan,
    CopyArgs,
    Method, //
};

/// Bytes copied per read and write.
const BUF_BYTES: u64 = copy::ONLOAD_BUF_BYTES;

/// An asynchronous copy that the devices could not offload at all.
#[pin_data]
pub(crate) struct OnloadJob {
    args: CopyArgs,
    #[pin]
    work: Work<OnloadJob>,
}

impl_has_work! {
    impl HasWork<Self> for OnloadJob { self.work }
}

impl WorkItem for OnloadJob {
    type Pointer = Arc<OnloadJob>;

    fn run(this: Arc<OnloadJob>) {
        // SAFETY: The job is all the engine does of the copy, and ends with this.
        let _ = unsafe { finish(&this.args) };
    }
}

/// An in-kernel copy of all of a copy, ready to start.
pub(crate) enum Start {
    /// A synchronous copy: copied in the caller's task, so that it stays killable.
    Sync(CopyArgs),
    /// An asynchronous copy: copied on the engine's onload workqueue.
    Async(Arc<OnloadJob>),
}

impl Start {
    /// Copies, or queues the copy of an asynchronous one. Returns what the engine returns to its
    /// caller: the outcome of a synchronous copy, `EIOCBQUEUED` for an asynchronous one.
    pub(crate) fn run(self) -> Result {
        match self {
            // SAFETY: This is all the engine does of the copy.
            Start::Sync(args) => unsafe { finish(&args) },
            Start::Async(job) => {
                OnloadJob::start(job);
                Err(EIOCBQUEUED)
            }
        }
    }
}

impl OnloadJob {
    /// Queues the copy of the prepared asynchronous job; its `end_io` may run before this returns.
    pub(crate) fn start(job: Arc<Self>) {
        let wq = job.args.params().onload_workqueue();
        // A new job cannot be queued already.
        let _ = wq.enqueue(job);
    }
}

/// Prepares the kernel's copy of all of `args`: nothing for a synchronous copy, its job for an
/// asynchronous one. A copy whose job cannot be allocated did not start: it is counted, and its
/// caller hears of it from the return value only.
pub(crate) fn prepare(args: CopyArgs) -> Result<Start> {
    if !args.is_async() {
        return Ok(Start::Sync(args));
    }
    let Ok(job) = UniqueArc::new_uninit(GFP_NOIO) else {
        args.trace_start(Method::Onload, 0..args.total);
        args.record(Method::Onload, 0..args.total, 0, Err(ENOMEM));
        return Err(ENOMEM);
    };
    let job = job.pin_init_with(pin_init!(OnloadJob {
        args,
        work <- new_work!("blk_copy_onload"),
    }));
    Ok(Start::Async(match job {
        Ok(job) => job.into(),
        Err(never) => match never {},
    }))
}

/// Copies all of `args`, then reports it to the caller.
///
/// # Safety
///
/// Called once per copy, as all the engine does with it: nothing reported the copy before, and
/// for an asynchronous copy nothing of `args` is used afterwards.
unsafe fn finish(args: &CopyArgs) -> Result {
    let (copied, result) = copy_part(args, 0..args.total);
    // SAFETY: By the safety requirements.
    unsafe { args.params().complete(copied, 0, result) };
    result
}

/// Copies `part` of `args` (its bytes from `part.start` to `part.end`), and counts and traces
/// it. Returns the bytes of the whole copy that were copied when it stopped (`part.end` when it
/// did not stop early), and the outcome.
///
/// A part that fails ends the copy: it is counted as failing with the rest of the copy not
/// copied.
pub(crate) fn copy_part(args: &CopyArgs, part: Range<u64>) -> (u64, Result) {
    args.trace_start(Method::Onload, part.clone());
    let (copied, result) = copy(args, part.clone());
    let end = if result.is_ok() { part.end } else { args.total };
    args.record(Method::Onload, part.start..end, copied, result);
    (copied, result)
}

/// One piece of a batch: `len` bytes from `src` to `dst`, `done` bytes into the copy, staged
/// in the buffer from page `page` on.
struct Piece {
    src: u64,
    dst: u64,
    len: u64,
    done: u64,
    page: usize,
}

/// Copies `part` of `args` through a buffer; returns the bytes of the whole copy that were
/// copied (`part.start` and what this copied after it) and the outcome.
fn copy(args: &CopyArgs, part: Range<u64>) -> (u64, Result) {
    let from = part.start;
    let buf_len = BUF_BYTES.min(part.end - from);
    let mut pages = KVec::new();
    for _ in 0..buf_len.div_ceil(PAGE_SIZE as u64) {
        match Page::alloc_page(GFP_NOIO) {
            Ok(page) => {
                if pages.push(page, GFP_NOIO).is_err() {
                    return (from, Err(ENOMEM));
                }
            }
            Err(_) => return (from, Err(ENOMEM)),
        }
    }
    // Every piece takes at least one page of the buffer.
    let Ok(mut batch) = KVec::<Piece>::with_capacity(pages.len(), GFP_NOIO) else {
        return (from, Err(ENOMEM));
    };
    // One contiguous piece on each side per chunk, at most a buffer long. The buffer and the
    // room left in it are multiples of every logical block size up to the page size, and of
    // larger ones as pieces are multiples of those.
    // Planned up to the end of the part only.
    let mut plan = match Plan::new(part.end, buf_len, 1, 1) {
        Ok(plan) => plan,
        Err(e) => return (from, Err(e)),
    };
    plan.skip(&args.src, &args.dst, from);
    loop {
        // A killed caller stops between batches; what came before was copied.
        if kernel::current!().fatal_signal_pending() {
            return (plan.issued(), Err(EINTR));
        }
        // So does a cancelled one (an io_uring command whose ring goes away).
        if args.stop_requested() {
            return (plan.issued(), Err(ECANCELED));
        }
        batch.clear();
        let mut used = 0;
        while used < pages.len() {
            let room = ((pages.len() - used) * PAGE_SIZE) as u64;
            let Some(chunk) = plan.next_chunk_upto(&args.src, &args.dst, room) else {
                break;
            };
            let src = chunk.src.pieces(&args.src, chunk.len).next();
            let dst = chunk.dst.pieces(&args.dst, chunk.len).next();
            let (Some((src, _)), Some((dst, _))) = (src, dst) else {
                return (chunk.done, Err(EINVAL));
            };
            let piece = Piece {
                src,
                dst,
                len: chunk.len,
                done: chunk.done,
                page: used,
            };
            // Cannot fail: no more pieces than pages, and the capacity is one per page.
            if batch.push(piece, GFP_NOIO).is_err() {
                return (chunk.done, Err(ENOMEM));
            }
            used += chunk.len.div_ceil(PAGE_SIZE as u64) as usize;
        }
        if batch.is_empty() {
            return (part.end, Ok(()));
        }
        if let Err(e) = copy_batch(args, &batch, &pages) {
            return (batch.first().map_or(from, |p| p.done), Err(e));
        }
    }
}

/// Copies the pieces of `batch` through `pages`: all reads in flight at once, then all writes.
///
/// Nothing of the batch is written when a read fails, and pieces after a failed write may or
/// may not be written: either way, the copy is done up to the start of the batch.
fn copy_batch(args: &CopyArgs, batch: &[Piece], pages: &[Page]) -> Result {
    let read = batch.iter().map(|p| (p.src, p.len, p.page));
    rw_all(args, args.src_bdev(), ReqOp::Read, read, pages)?;
    let write = batch.iter().map(|p| (p.dst, p.len, p.page));
    rw_all(args, args.dst_bdev(), ReqOp::Write, write, pages)
}

/// Issues every `(pos, len, page)` of `pieces` as a read or write of `bdev` into or from
/// `pages` from page `page` on, all in flight together and charged as I/O of `args`, and waits
/// for all of them.
///
/// The bios are submitted under a plug, so that pieces that follow each other on the device (the
/// destinations of a gathering copy) reach the driver as one request.
fn rw_all(
    args: &CopyArgs,
    bdev: &BlockDevice,
    op: ReqOp,
    pieces: impl Iterator<Item = (u64, u64, usize)>,
    pages: &[Page],
) -> Result {
    let mut chain = BioChain::new();
    let built = with_plug(|| {
        for (pos, len, page) in pieces {
            let pages = pages.get(page..).ok_or(EINVAL)?;
            chain.push(new_bio(args, bdev, op, pos, len, pages)?);
        }
        Ok(())
    });
    // Waits for what was submitted even when building a bio failed.
    built.and(chain.submit_wait())
}

/// A bio of `args` that reads or writes `len` bytes at byte `pos` of `bdev` into or from the
/// start of `pages`, ready to be submitted.
///
/// The caller keeps `pages` until the bio completed: [`copy`] frees them after the last batch.
fn new_bio(
    args: &CopyArgs,
    bdev: &BlockDevice,
    op: ReqOp,
    pos: u64,
    len: u64,
    pages: &[Page],
) -> Result<OwnedBio> {
    let nr_pages = len.div_ceil(PAGE_SIZE as u64) as usize;
    let pages = pages.get(..nr_pages).ok_or(EINVAL)?;
    // The buffer is at most `BIO_MAX_VECS` pages (1 MiB).
    let mut bio = OwnedBio::alloc(bdev, op, nr_pages as u16, BioSet::fs(), GFP_NOIO)?;
    args.charge(&mut bio);
    bio.set_sector(pos >> SECTOR_SHIFT);
    let mut left = len;
    for page in pages {
        let n = left.min(PAGE_SIZE as u64) as u32;
        // SAFETY: The caller keeps the pages until the bio completed.
        unsafe { bio.add_page(page, n) }.map_err(|_| EIO)?;
        left -= u64::from(n);
    }
    Ok(bio)
}
