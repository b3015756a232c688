// SPDX-License-Identifier: GPL-2.0

//! Offloaded copies: `blkdev_copy_offload()`.
//!
//! A job cuts the copy into chunks both devices accept and keeps up to
//! [`MAX_CHUNKS_IN_FLIGHT`] of them in flight, each with its own [`CopyCtx`]. Chunks complete in
//! any order; the job stops issuing new ones after the first failure, and reports as copied the
//! bytes before the first failed chunk. Memory per copy is bounded by the number of segments and
//! by the chunks in flight, never by the number of bytes.

use kernel::{
    bindings,
    impl_has_work,
    new_work,
    prelude::*,
    sync::{
        new_spinlock_irq,
        Arc,
        Completion,
        SpinLockIrq, //
    },
    workqueue::{
        self,
        Work,
        WorkItem, //
    }, //
};

use crate::BLK_STS_OK;
use crate::{
    ctx::CopyCtx,
    plan::{
        self,
        Limits,
        Plan, //
    },
    CopyArgs,
};
use bindings::{
    blk_status_t as BlkStatus,
    BLK_STS_RESOURCE, //
};

/// Chunks of one copy in flight at once.
const MAX_CHUNKS_IN_FLIGHT: usize = 8;

struct JobState {
    plan: Plan,
    in_flight: usize,
    /// An issuer is running or queued: completions need not queue another.
    issuing: bool,
    /// First error, or `BLK_STS_OK`.
    status: BlkStatus,
    /// Offset of the earliest failed chunk: every byte before it was copied.
    failed_at: u64,
    finished: bool,
}

/// One `blkdev_copy_offload()` call.
#[pin_data]
pub(crate) struct OffloadJob {
    args: CopyArgs,
    #[pin]
    state: SpinLockIrq<JobState>,
    #[pin]
    work: Work<OffloadJob>,
    /// Completed when the job has finished.
    #[pin]
    done: Completion,
}

impl_has_work! {
    impl HasWork<Self> for OffloadJob { self.work }
}

impl WorkItem for OffloadJob {
    type Pointer = Arc<OffloadJob>;

    fn run(this: Arc<OffloadJob>) {
        Self::issue(&this);
    }
}

impl OffloadJob {
    /// Starts offloading `args`, or fails with `EOPNOTSUPP` when a device cannot offload.
    ///
    /// Once this returns `Ok`, the job finishes exactly once: it writes the outcome into the
    /// caller's parameters, calls their `end_io` and completes [`OffloadJob::wait`].
    pub(crate) fn start(args: CopyArgs) -> Result<Arc<Self>> {
        let src = Limits::of(args.src_bdev());
        let dst = Limits::of(args.dst_bdev());
        let max_bytes = plan::max_chunk(&src, &dst);
        if max_bytes == 0 {
            return Err(EOPNOTSUPP);
        }
        let plan = Plan::new(args.total, max_bytes, src.max_src_segs, dst.max_dst_segs)
            .map_err(|_| EOPNOTSUPP)?;
        let job = Arc::pin_init(
            pin_init!(Self {
                args,
                state <- new_spinlock_irq!(
                    JobState {
                        plan,
                        in_flight: 0,
                        issuing: true,
                        status: BLK_STS_OK,
                        failed_at: u64::MAX,
                        finished: false,
                    },
                    "blk_copy_offload_job"
                ),
                work <- new_work!("blk_copy_offload"),
                done <- Completion::new(),
            }),
            GFP_NOIO,
        )?;
        Self::issue(&job);
        Ok(job)
    }

    /// Waits until the job has finished.
    pub(crate) fn wait(&self) {
        self.done.wait_for_completion();
    }

    /// Issues chunks while there is room in flight, none failed and some are left.
    ///
    /// Runs as the job's only issuer (`issuing` is set); clears `issuing` when it stops, under
    /// the lock a completion takes to decide whether to queue a new issuer.
    fn issue(this: &Arc<Self>) {
        loop {
            let chunk = {
                let mut st = this.state.lock();
                let chunk = if st.status != BLK_STS_OK || st.in_flight >= MAX_CHUNKS_IN_FLIGHT {
                    None
                } else {
                    st.plan.next_chunk(&this.args.src, &this.args.dst)
                };
                let Some(chunk) = chunk else {
                    st.issuing = false;
                    return;
                };
                st.in_flight += 1;
                chunk
            };
            match CopyCtx::new(
                this.clone(),
                chunk.done,
                chunk.len,
                chunk.nr_src,
                chunk.nr_dst,
            ) {
                Ok(ctx) => CopyCtx::submit(
                    ctx,
                    this.args.src_bdev(),
                    chunk.src.pieces(&this.args.src, chunk.len),
                    this.args.dst_bdev(),
                    chunk.dst.pieces(&this.args.dst, chunk.len),
                ),
                Err(_) => Self::chunk_done(this, chunk.done, BLK_STS_RESOURCE),
            }
        }
    }

    /// The chunk at `offset` finished with `status`.
    ///
    /// May be called from interrupt context.
    pub(crate) fn chunk_done(this: &Arc<Self>, offset: u64, status: BlkStatus) {
        let mut st = this.state.lock();
        st.in_flight -= 1;
        if status != BLK_STS_OK {
            if st.status == BLK_STS_OK {
                st.status = status;
            }
            st.failed_at = st.failed_at.min(offset);
        }
        let more = st.status == BLK_STS_OK && st.plan.remaining() > 0;
        let finish = !more && st.in_flight == 0 && !st.finished;
        st.finished |= finish;
        // A running issuer sees the room this completion made when it takes the lock next.
        let queue = more && !st.issuing;
        st.issuing |= queue;
        let (status, failed_at) = (st.status, st.failed_at);
        drop(st);
        if finish {
            let copied = if status == BLK_STS_OK {
                this.args.total
            } else {
                failed_at
            };
            this.args.finish(copied, status_to_result(status));
            this.done.complete_all();
        } else if queue {
            // Issuing allocates and may sleep: leave interrupt context. Nothing else queues the
            // work while `issuing` is set.
            let _ = workqueue::system_unbound().enqueue(this.clone());
        }
    }
}

/// Converts a block layer status into a `Result`.
pub(crate) fn status_to_result(status: BlkStatus) -> Result {
    if status == BLK_STS_OK {
        return Ok(());
    }
    // SAFETY: `blk_status_to_errno` only reads its argument.
    Err(Error::from_errno(unsafe {
        bindings::blk_status_to_errno(status)
    }))
}
