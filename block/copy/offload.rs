// SPDX-License-Identifier: GPL-2.0

//! Offloaded copies: how `blkdev_copy()` starts.
//!
//! A job cuts the copy into chunks both devices accept and keeps up to
//! [`MAX_CHUNKS_IN_FLIGHT`] of them in flight, each with its own [`CopyCtx`]. Chunks complete in
//! any order; the job stops issuing new ones after the first failure, and reports as copied the
//! bytes before the first failed chunk. Memory per copy is bounded by the number of segments and
//! by the chunks in flight, never by the number of bytes.
//!
//! When the devices refuse a chunk (`EOPNOTSUPP`) and the caller did not ask for offload only,
//! the kernel copies the rest ([`onload::finish`]): in the caller's task for a synchronous copy,
//! so that it stays killable, on the engine's workqueue for an asynchronous one.

use kernel::{
    block::status::Status,
    impl_has_work,
    new_work,
    prelude::*,
    sync::{
        new_spinlock_irq,
        Arc,
        ArcBorrow,
        Completion,
        SpinLockIrq,
        UniqueArc, //
    },
    workqueue::{
        Work,
        WorkItem, //
    }, //
};

use crate::{
    ctx::{
        Chunks,
        CopyCtx, //
    },
    onload,
    plan::{
        self,
        Limits,
        Plan, //
    },
    CopyArgs,
    Method, //
};

/// Chunks of one copy in flight at once.
const MAX_CHUNKS_IN_FLIGHT: usize = 8;

/// How long a synchronous copy waits before it looks for a fatal signal again.
const WAIT_SLICE_MS: u32 = 250;

/// Where a copy stopped: the earliest chunk that failed, or the first that was not issued
/// because the caller was killed.
///
/// Chunks complete in any order, so the outcome is that of the earliest one that did not copy,
/// not of the first failure in time: a later chunk's I/O error must not hide that the device
/// refused an earlier one, which the caller copies another way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Outcome {
    /// Offset of the earliest chunk that did not copy; every byte before it was copied.
    stopped_at: u64,
    /// Why it did not copy.
    error: Option<Error>,
}

impl Outcome {
    const fn new() -> Self {
        Self {
            stopped_at: u64::MAX,
            error: None,
        }
    }

    /// Whether a chunk failed or the copy was stopped.
    fn stopped(&self) -> bool {
        self.error.is_some()
    }

    /// The chunk at `offset` did not copy, because of `error`.
    fn fail(&mut self, offset: u64, error: Error) {
        if offset < self.stopped_at {
            self.stopped_at = offset;
            self.error = Some(error);
        }
    }

    /// The bytes copied of a copy of `total` bytes, and its result.
    fn result(&self, total: u64) -> (u64, Result) {
        match self.error {
            None => (total, Ok(())),
            Some(e) => (self.stopped_at.min(total), Err(e)),
        }
    }
}

struct JobState {
    plan: Plan,
    in_flight: usize,
    /// An issuer is running or queued: completions need not queue another.
    issuing: bool,
    outcome: Outcome,
    finished: bool,
    /// Where the kernel is to go on copying, once the offload has finished: the bytes the
    /// devices copied.
    fallback_from: Option<u64>,
}

/// One `blkdev_copy()` call while the devices copy.
#[pin_data]
pub(crate) struct OffloadJob {
    args: CopyArgs,
    #[pin]
    state: SpinLockIrq<JobState>,
    /// Issues chunks.
    #[pin]
    work: Work<OffloadJob, 0>,
    /// Copies the rest of an asynchronous copy in the kernel.
    #[pin]
    fallback: Work<OffloadJob, 1>,
    /// Completed when the job has finished.
    #[pin]
    done: Completion,
}

impl_has_work! {
    impl HasWork<Self, 0> for OffloadJob { self.work }
    impl HasWork<Self, 1> for OffloadJob { self.fallback }
}

impl WorkItem<0> for OffloadJob {
    type Pointer = Arc<OffloadJob>;

    fn run(this: Arc<OffloadJob>) {
        Self::issue(&this);
    }
}

impl WorkItem<1> for OffloadJob {
    type Pointer = Arc<OffloadJob>;

    fn run(this: Arc<OffloadJob>) {
        let from = this.state.lock().fallback_from.unwrap_or(0);
        // SAFETY: Queued once, by `finish`, which left the rest of the copy and its report to
        // this; the job's last use of the copy.
        let _ = unsafe { onload::finish(&this.args, from) };
    }
}

impl OffloadJob {
    /// How `args` would be cut into chunks, or `EOPNOTSUPP` when the devices cannot offload it.
    fn plan(args: &CopyArgs) -> Result<Plan> {
        let src = Limits::of(args.src_bdev());
        let dst = Limits::of(args.dst_bdev());
        let max_bytes = plan::max_chunk(&src, &dst);
        if max_bytes == 0 {
            return Err(EOPNOTSUPP);
        }
        let (max_src_segs, max_dst_segs) = plan::max_segments(&dst);
        Plan::new(args.total, max_bytes, max_src_segs, max_dst_segs).map_err(|_| EOPNOTSUPP)
    }

    /// Copies `args`: offloads what the devices accept and, unless the caller asked for offload
    /// only, copies the rest in the kernel. Returns what the engine returns to its caller: the
    /// outcome of a synchronous copy, `EIOCBQUEUED` for an asynchronous one that started.
    ///
    /// Once an asynchronous copy started, it finishes exactly once: it writes the outcome into
    /// the caller's parameters and calls their `end_io`.
    pub(crate) fn copy(args: CopyArgs) -> Result {
        args.trace_start(Method::Offload, 0);
        let plan = match Self::plan(&args) {
            Ok(plan) => plan,
            Err(e) => {
                // The devices cannot offload any of it.
                args.record(Method::Offload, 0, 0, Err(e));
                return if args.fallback() {
                    onload::start(args)
                } else {
                    Err(e)
                };
            }
        };
        let Ok(job) = UniqueArc::new_uninit(GFP_NOIO) else {
            // Not started: counted, and the caller hears of it from the return value only.
            args.record(Method::Offload, 0, 0, Err(ENOMEM));
            return Err(ENOMEM);
        };
        let is_async = args.is_async();
        let job = job.pin_init_with(pin_init!(Self {
            args,
            state <- new_spinlock_irq!(
                JobState {
                    plan,
                    in_flight: 0,
                    issuing: true,
                    outcome: Outcome::new(),
                    finished: false,
                    fallback_from: None,
                },
                "blk_copy_offload_job"
            ),
            work <- new_work!("blk_copy_offload"),
            fallback <- new_work!("blk_copy_fallback"),
            done <- Completion::new(),
        }));
        let job: Arc<Self> = match job {
            Ok(job) => job.into(),
            Err(never) => match never {},
        };
        Self::issue(&job);
        if is_async {
            return Err(EIOCBQUEUED);
        }
        Self::wait(&job);
        let st = job.state.lock();
        let (fallback_from, (_, result)) = (st.fallback_from, st.outcome.result(job.args.total));
        drop(st);
        match fallback_from {
            // SAFETY: `finish` left the rest of the copy and its report to the waiter; the job
            // is done with the copy.
            Some(from) => unsafe { onload::finish(&job.args, from) },
            None => result,
        }
    }

    /// Waits until the job has finished, as I/O; a fatal signal stops the job from issuing more
    /// chunks, and it finishes once the chunks in flight have.
    ///
    /// Waits in slices, as `submit_bio_wait()` does, so that a long copy neither trips the
    /// hung task detector nor keeps a killed task waiting for more than the chunks in flight.
    fn wait(this: &Arc<Self>) {
        let slice = kernel::time::msecs_to_jiffies(WAIT_SLICE_MS);
        while !this.done.wait_for_completion_io_timeout(slice) {
            if kernel::current!().fatal_signal_pending() {
                this.stop(EINTR);
            }
        }
    }

    /// Issues no more chunks: the copy ends at the first chunk not issued yet, with `error`.
    fn stop(&self, error: Error) {
        let mut st = self.state.lock();
        if st.plan.remaining() > 0 {
            let next = st.plan.issued();
            st.outcome.fail(next, error);
        }
    }

    /// Issues chunks while there is room in flight, none failed and some are left.
    ///
    /// Runs as the job's only issuer (`issuing` is set); clears `issuing` when it stops, under
    /// the lock a completion takes to decide whether to queue a new issuer.
    fn issue(this: &Arc<Self>) {
        loop {
            let chunk = {
                let mut st = this.state.lock();
                let chunk = if st.outcome.stopped() || st.in_flight >= MAX_CHUNKS_IN_FLIGHT {
                    None
                } else {
                    st.plan.next_chunk(&this.args.src, &this.args.dst)
                };
                let Some(chunk) = chunk else {
                    st.issuing = false;
                    // Stopped while no chunk was in flight: no completion is left to finish.
                    let finish = st.outcome.stopped() && st.in_flight == 0 && !st.finished;
                    st.finished |= finish;
                    let outcome = st.outcome;
                    drop(st);
                    if finish {
                        Self::finish(this, outcome);
                    }
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
                    chunk.src.pieces(&this.args.src, chunk.len),
                    chunk.dst.pieces(&this.args.dst, chunk.len),
                ),
                // Not offloaded for want of memory: the caller copies it another way.
                Err(_) => this.as_arc_borrow().chunk_done(chunk.done, Status::NOTSUPP),
            }
        }
    }

    /// The offload has finished: counts it, then reports the outcome to the caller, once, or
    /// has the kernel copy the rest first.
    fn finish(this: &Arc<Self>, outcome: Outcome) {
        let args = &this.args;
        let (copied, result) = outcome.result(args.total);
        args.record(Method::Offload, 0, copied, result);
        if result == Err(EOPNOTSUPP) && args.fallback() {
            this.state.lock().fallback_from = Some(copied);
            if args.is_async() {
                // Copying sleeps: leave interrupt context. Queued once, as the job finishes once.
                let _ = args
                    .params()
                    .onload_workqueue()
                    .enqueue::<_, 1>(this.clone());
                return;
            }
            // The waiter copies the rest.
        } else {
            // SAFETY: The job finishes once, and this is the last use of the copy: the job
            // issues no more chunks, and its waiter only looks at its own state.
            unsafe { args.params().complete(copied, copied, result) };
        }
        this.done.complete_all();
    }
}

impl Chunks for OffloadJob {
    fn args(&self) -> &CopyArgs {
        &self.args
    }

    fn chunk_done(self: ArcBorrow<'_, Self>, offset: u64, status: Status) {
        let this = Arc::from(self);
        let mut st = this.state.lock();
        st.in_flight -= 1;
        if let Err(e) = status.to_result() {
            st.outcome.fail(offset, e);
        }
        let more = !st.outcome.stopped() && st.plan.remaining() > 0;
        let finish = !more && st.in_flight == 0 && !st.finished;
        st.finished |= finish;
        // A running issuer sees the room this completion made when it takes the lock next.
        let queue = more && !st.issuing;
        st.issuing |= queue;
        let outcome = st.outcome;
        drop(st);
        if finish {
            Self::finish(&this, outcome);
        } else if queue {
            // Issuing allocates and may sleep: leave interrupt context. Nothing else queues the
            // work while `issuing` is set. The queue has a rescuer: copies issued from reclaim
            // (dm-kcopyd, nvmet) go on under memory pressure.
            let wq = this.args.params().workqueue();
            let _ = wq.enqueue::<_, 0>(this);
        }
    }
}

#[cfg(CONFIG_BLK_COPY_OFFLOAD_KUNIT_TEST)]
#[kunit_tests(blk_copy_offload)]
mod tests {
    use super::*;

    #[test]
    fn outcome_of_a_copy_without_failures_is_all_of_it() {
        assert_eq!(Outcome::new().result(1 << 20), (1 << 20, Ok(())));
    }

    #[test]
    fn outcome_is_the_earliest_failed_chunk_not_the_first_in_time() {
        let mut outcome = Outcome::new();
        // A later chunk fails first with an I/O error, then an earlier one is refused.
        outcome.fail(3 << 20, EIO);
        outcome.fail(1 << 20, EOPNOTSUPP);
        outcome.fail(2 << 20, EIO);
        assert!(outcome.stopped());
        assert_eq!(outcome.result(4 << 20), (1 << 20, Err(EOPNOTSUPP)));
    }

    #[test]
    fn outcome_of_a_stopped_copy_ends_at_the_first_chunk_not_issued() {
        let mut outcome = Outcome::new();
        outcome.fail(2 << 20, EINTR);
        // A chunk in flight when the copy was stopped fails afterwards, further on.
        outcome.fail(3 << 20, EIO);
        assert_eq!(outcome.result(8 << 20), (2 << 20, Err(EINTR)));
        // One before the stop fails: its error is the copy's.
        outcome.fail(1 << 20, EIO);
        assert_eq!(outcome.result(8 << 20), (1 << 20, Err(EIO)));
    }
}
