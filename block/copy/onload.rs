// SPDX-License-Identifier: GPL-2.0

//! Copies done by the kernel: `blkdev_copy_onload()`.
//!
//! Reads each piece of the copy into a buffer and writes it out. The buffer is allocated once
//! per copy, at most `BLK_COPY_ONLOAD_BUF_BYTES` of pages that are never mapped into the kernel's
//! address space: the data goes from the device into the pages and back out by DMA (or by the
//! driver's own mapping), so the engine never touches it. Pieces are copied one after the
//! other; a failed read or write stops the copy, and everything before that piece was copied.

use kernel::{
    bindings,
    block::{
        bdev::BlockDevice,
        SECTOR_SHIFT, //
    },
    impl_has_work,
    new_work,
    page::{
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::Arc,
    workqueue::{
        self,
        Work,
        WorkItem, //
    }, //
};

use crate::{
    plan::Plan,
    CopyArgs, //
};

/// Bytes copied per read and write.
const BUF_BYTES: u64 = bindings::BLK_COPY_ONLOAD_BUF_BYTES as u64;

/// An asynchronous `blkdev_copy_onload()` call.
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
        let (copied, result) = copy(&this.args);
        this.args.finish(copied, result);
    }
}

impl OnloadJob {
    /// Runs the copy on the system's unbound workqueue; `args.finish()` reports the outcome.
    pub(crate) fn start(args: CopyArgs) -> Result {
        let job = Arc::pin_init(
            pin_init!(Self {
                args,
                work <- new_work!("blk_copy_onload"),
            }),
            GFP_KERNEL,
        )?;
        // A new job cannot be queued already.
        let _ = workqueue::system_unbound().enqueue(job);
        Ok(())
    }
}

/// Copies `args` through a buffer; returns the bytes copied and the outcome.
pub(crate) fn copy(args: &CopyArgs) -> (u64, Result) {
    let buf_len = BUF_BYTES.min(args.total);
    let mut pages = KVec::new();
    for _ in 0..buf_len.div_ceil(PAGE_SIZE as u64) {
        match Page::alloc_page(GFP_NOIO) {
            Ok(page) => {
                if pages.push(page, GFP_NOIO).is_err() {
                    return (0, Err(ENOMEM));
                }
            }
            Err(_) => return (0, Err(ENOMEM)),
        }
    }
    // One contiguous piece on each side per step, at most a buffer long. Both are multiples of
    // every logical block size up to the page size.
    let mut plan = match Plan::new(args.total, buf_len, 1, 1) {
        Ok(plan) => plan,
        Err(e) => return (0, Err(e)),
    };
    while let Some(chunk) = plan.next_chunk(&args.src, &args.dst) {
        let src = chunk.src.pieces(&args.src, chunk.len).next();
        let dst = chunk.dst.pieces(&args.dst, chunk.len).next();
        let (Some((src_pos, _)), Some((dst_pos, _))) = (src, dst) else {
            return (chunk.done, Err(EINVAL));
        };
        let step = rw(
            args.src_bdev(),
            bindings::req_op_REQ_OP_READ,
            src_pos,
            chunk.len,
            &pages,
        )
        .and_then(|()| {
            rw(
                args.dst_bdev(),
                bindings::req_op_REQ_OP_WRITE,
                dst_pos,
                chunk.len,
                &pages,
            )
        });
        if let Err(e) = step {
            return (chunk.done, Err(e));
        }
    }
    (args.total, Ok(()))
}

/// Reads or writes `len` bytes at byte `pos` of `bdev` into or from the start of `pages`.
fn rw(bdev: &BlockDevice, op: bindings::req_op, pos: u64, len: u64, pages: &[Page]) -> Result {
    let nr_pages = len.div_ceil(PAGE_SIZE as u64) as usize;
    if nr_pages > pages.len() {
        return Err(EINVAL);
    }
    // SAFETY: `bdev` is open; `fs_bio_set` is the kernel's bio set for this use; the buffer is
    // at most `BIO_MAX_VECS` pages (1 MiB).
    let bio = unsafe {
        bindings::bio_alloc_bioset(
            bdev.as_raw(),
            nr_pages as u16,
            op,
            bindings::GFP_NOIO,
            &raw mut bindings::fs_bio_set,
        )
    };
    if bio.is_null() {
        return Err(ENOMEM);
    }
    let mut left = len;
    let mut result = Ok(());
    // SAFETY: `bio` is ours until `bio_put()`; the pages outlive the synchronous I/O.
    unsafe {
        (*bio).bi_iter.bi_sector = pos >> SECTOR_SHIFT;
        for page in &pages[..nr_pages] {
            let n = left.min(PAGE_SIZE as u64) as u32;
            if bindings::bio_add_page(bio, page.as_ptr(), n, 0) != n as i32 {
                result = Err(EIO);
                break;
            }
            left -= u64::from(n);
        }
        if result.is_ok() {
            result = kernel::error::to_result(bindings::submit_bio_wait(bio));
        }
        bindings::bio_put(bio);
    }
    result
}
