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
//! the kernel copies a part from that chunk on ([`onload::copy_part`]), then the devices go on
//! with the rest in a new round of chunks: a refusal that passes (a dm device suspended for a
//! moment, a chunk across two dm targets) costs a chunk's worth of copying through the host,
//! not the rest of the copy. A copy refused before the devices copied any of it is theirs to
//! refuse, and the kernel copies all the rest. The kernel copies in the caller's task for a
//! synchronous copy, so that it stays killable, on the engine's workqueue for an asynchronous
//! one.
//!
//! A copy is prepared ([`OffloadJob::prepare`]: all that can fail before it starts) apart from
//! being started ([`Start::run`]; [`AsyncStart::run`], which cannot fail), which issues its first
//! chunks in the caller's task or, for a caller that must not wait, from the engine's workqueue
//! ([`Issue`]). A copy asked to stop ([`crate::args::StopFlag`]) issues no more chunks and ends
//! with `ECANCELED` at the first chunk it did not issue.
//!
//! A caller that must not wait still issues the first chunk itself while the engine's workqueue
//! is busy ([`BUSY_ISSUERS`]), when its pieces are parked at once (both devices have request
//! queues, and the copy is charged to no cgroup: [`CopyArgs::parks_directly`]): the chunk then
//! waits neither for its bio nor for a tag, and fails with `EAGAIN` when it would have had to.
//! The round then restarts from that chunk on the workqueue, where it may wait. Where the
//! devices' driver executes the copy in `queue_rq`, as null devices do, this is what lets one
//! submitter keep both the workqueue's CPU and its own busy; a driver whose `queue_rq` may sleep
//! (`BLK_MQ_F_BLOCKING`) may sleep in the submitter then, as for io_uring's reads and writes.

use core::ops::Range;

use kernel::{
    block::status::Status,
    impl_has_work,
    new_work,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
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
        Plan,
        Seg, //
    },
    CopyArgs,
    Method, //
};

/// Chunks of one copy in flight at once.
const MAX_CHUNKS_IN_FLIGHT: usize = 8;

/// How long a synchronous copy waits before it looks for a fatal signal again.
const WAIT_SLICE_MS: u32 = 250;

/// Issuers queued on the engine's workqueue or running there, of every job, from which on a
/// caller that must not wait issues a copy's first chunk itself ([`Issue::Nowait`]): enough to
/// keep the workqueue's workers busy while that caller prepares the next copies.
const BUSY_ISSUERS: i32 = 6;

/// Issuers queued on the engine's workqueue or running there.
static ISSUERS: Atomic<i32> = Atomic::new(0);

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

/// A job's state. The job goes in rounds: each offloads chunks from `round_from` on until one
/// does not copy, or to the end of the copy, and then finishes (`finished`), once no chunk is
/// in flight and no issuer runs.
struct JobState {
    plan: Plan,
    /// Where the round began: 0, or the end of the last part the kernel copied.
    round_from: u64,
    in_flight: usize,
    /// An issuer is running or queued: completions need not queue another, and the round
    /// does not finish.
    issuing: bool,
    outcome: Outcome,
    finished: bool,
    /// Bytes the devices copied in the rounds that finished.
    offloaded: u64,
    /// Length of the last part the kernel copied after a refusal; `u64::MAX` when that part
    /// was the rest of the copy.
    onload_len: u64,
    /// The part the kernel copies before the next round, when the round ended with a refusal.
    onload: Option<Range<u64>>,
    /// The offset of the round's first chunk when a caller that must not wait issued it: when
    /// that chunk fails with `EAGAIN` it would have waited, and the round restarts from it on
    /// the workqueue.
    nowait_at: Option<u64>,
}

impl JobState {
    /// The state of a job that is to issue the first chunk of `plan`.
    fn new(plan: Plan) -> Self {
        Self {
            plan,
            round_from: 0,
            in_flight: 0,
            issuing: true,
            outcome: Outcome::new(),
            finished: false,
            offloaded: 0,
            onload_len: 0,
            onload: None,
            nowait_at: None,
        }
    }

    /// Whether the round has chunks left to issue: none failed and some are left.
    fn more_to_issue(&self) -> bool {
        !self.outcome.stopped() && self.plan.remaining() > 0
    }

    /// Starts a round at byte `from` of the copy of `src` to `dst`, with `plan` (cut to the
    /// limits of now) when there is one, else with the plan of the last round.
    fn new_round(&mut self, plan: Option<Plan>, src: &[Seg], dst: &[Seg], from: u64) {
        if let Some(plan) = plan {
            self.plan = plan;
        }
        self.plan.rewind(src, dst, from);
        self.round_from = from;
        self.outcome = Outcome::new();
        self.finished = false;
        self.issuing = true;
        self.onload = None;
        self.nowait_at = None;
    }

    /// The round ended with the devices refusing the chunk at `at`: the part of the copy the
    /// kernel copies before the devices go on.
    ///
    /// Devices that refuse a copy before copying any of it refuse it all: the kernel copies the
    /// rest. A refusal after chunks were copied passes: the kernel copies one chunk's worth.
    /// Each round then refused at its start doubles the part, so devices that keep refusing
    /// cost a refused chunk per doubling, and a suspend no more than twice what the kernel
    /// copies while it lasts.
    fn refused(&mut self, at: u64, total: u64) -> Range<u64> {
        self.onload_len = if self.offloaded == 0 {
            u64::MAX
        } else if at == self.round_from {
            self.onload_len.saturating_mul(2)
        } else {
            self.plan.max_bytes()
        };
        at..at.saturating_add(self.onload_len).min(total)
    }
}

/// Where a copy that starts issues its first chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Issue {
    /// In the caller's task, which may sleep for memory and for a tag.
    Inline,
    /// For a caller that must not wait for I/O, such as io_uring's nonblocking issue of a
    /// `BLOCK_URING_CMD_COPY`: from the engine's workqueue, or, while that is busy and nothing
    /// could remap the pieces, the first chunk in the caller's task without waiting (see the
    /// module documentation). Returns once the chunk is issued or the work queued.
    Nowait,
}

/// A copy that is ready to start: validated, planned, its job allocated, nothing of it issued.
///
/// Preparing is all that can fail before a copy starts.
pub(crate) enum Start {
    /// The devices copy it, or all they accept of it.
    Offload(Arc<OffloadJob>),
    /// The devices cannot offload any of it: the kernel copies it all.
    Onload(onload::Start),
}

impl Start {
    /// Starts the copy, issuing its first chunks as `issue` says. Returns what the engine returns
    /// to its caller: the outcome of a synchronous copy, `EIOCBQUEUED` for an asynchronous one,
    /// whose `end_io` is then called once.
    pub(crate) fn run(self, issue: Issue) -> Result {
        match self {
            Start::Offload(job) => OffloadJob::run(job, issue),
            Start::Onload(start) => start.run(),
        }
    }
}

/// An asynchronous copy that is ready to start ([`OffloadJob::prepare_async`]).
///
/// Starting it cannot fail ([`AsyncStart::run`] returns nothing), so a caller can commit to
/// waiting for `end_io` between preparing and starting (io_uring marks its command cancelable
/// there), and no error can come back once it did.
pub(crate) enum AsyncStart {
    /// The devices copy it, or all they accept of it.
    Offload(Arc<OffloadJob>),
    /// The devices cannot offload any of it: the kernel copies it all.
    Onload(Arc<onload::OnloadJob>),
}

impl AsyncStart {
    /// Starts the copy: the devices' first chunks issued as `issue` says, or the kernel's copy
    /// queued on the onload workqueue whatever `issue` says. The copy's `end_io` is called once,
    /// possibly before this returns.
    pub(crate) fn run(self, issue: Issue) {
        match self {
            AsyncStart::Offload(job) => OffloadJob::start(&job, issue),
            AsyncStart::Onload(job) => onload::OnloadJob::start(job),
        }
    }
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
    /// Copies a part an asynchronous copy's devices refused in the kernel.
    #[pin]
    fallback: Work<OffloadJob, 1>,
    /// Completed when a round has finished, for a synchronous copy's waiter.
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
        Self::issue(&this, false);
        ISSUERS.add(-1, Relaxed);
    }
}

impl WorkItem<1> for OffloadJob {
    type Pointer = Arc<OffloadJob>;

    fn run(this: Arc<OffloadJob>) {
        let part = this.state.lock().onload.clone();
        // Queued by `finish` only with a part to copy.
        let Some(part) = part else {
            kernel::warn_on!(true);
            return;
        };
        let from = part.end;
        if Self::onload(&this, part).is_none() {
            Self::restart(&this, from);
        }
    }
}

impl OffloadJob {
    /// How `args` would be cut into chunks, or `EOPNOTSUPP` when the devices cannot offload it.
    fn plan(args: &CopyArgs) -> Result<Plan> {
        let (src_bdev, dst_bdev) = (args.src_bdev(), args.dst_bdev());
        // Two disks that cannot copy between them would refuse every chunk, each tried at the
        // cost of its bios, throttled and counted as I/O of the caller's cgroup. Below a
        // stacking driver the disks are known only when the chunks reach them.
        let on_disks = !src_bdev.is_bio_based() && !dst_bdev.is_bio_based();
        if on_disks && !dst_bdev.can_copy_from(src_bdev) {
            return Err(EOPNOTSUPP);
        }
        let src = Limits::of(src_bdev);
        let dst = Limits::of(dst_bdev);
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
        Self::prepare(args)?.run(Issue::Inline)
    }

    /// Prepares asynchronous `args` (with an `end_io`) to be copied, as [`OffloadJob::prepare`]
    /// does, for a caller that must not hear of an error once it starts the copy: io_uring, which
    /// marks its command cancelable in between. A synchronous copy is refused with `EINVAL`, not
    /// counted: the caller is wrong, not the copy.
    pub(crate) fn prepare_async(args: CopyArgs) -> Result<AsyncStart> {
        if !args.is_async() {
            return Err(EINVAL);
        }
        match Self::prepare(args)? {
            Start::Offload(job) => Ok(AsyncStart::Offload(job)),
            Start::Onload(onload::Start::Async(job)) => Ok(AsyncStart::Onload(job)),
            // `onload::prepare` makes the job of an asynchronous copy, checked above.
            Start::Onload(onload::Start::Sync(_)) => {
                kernel::warn_on!(true);
                Err(EINVAL)
            }
        }
    }

    /// Prepares `args` to be copied: plans the chunks and allocates the job, or prepares the
    /// kernel's copy of all of it when the devices cannot offload any (and the caller did not ask
    /// for offload only). A copy that fails here did not start: it is counted, and its caller
    /// hears of it from the return value only.
    pub(crate) fn prepare(args: CopyArgs) -> Result<Start> {
        args.trace_start(Method::Offload, 0..args.total);
        let plan = match Self::plan(&args) {
            Ok(plan) => plan,
            Err(e) => {
                // The devices cannot offload any of it.
                args.record(Method::Offload, 0..args.total, 0, Err(e));
                return if args.fallback() {
                    onload::prepare(args).map(Start::Onload)
                } else {
                    Err(e)
                };
            }
        };
        let Ok(job) = UniqueArc::new_uninit(GFP_NOIO) else {
            args.record(Method::Offload, 0..args.total, 0, Err(ENOMEM));
            return Err(ENOMEM);
        };
        let job = job.pin_init_with(pin_init!(Self {
            args,
            state <- new_spinlock_irq!(JobState::new(plan), "blk_copy_offload_job"),
            work <- new_work!("blk_copy_offload"),
            fallback <- new_work!("blk_copy_fallback"),
            done <- Completion::new(),
        }));
        let job: Arc<Self> = match job {
            Ok(job) => job.into(),
            Err(never) => match never {},
        };
        Ok(Start::Offload(job))
    }

    /// Issues the prepared `job`'s first chunks as `issue` says. For an asynchronous copy, `end_io`
    /// may run before this returns.
    fn start(job: &Arc<Self>, issue: Issue) {
        match issue {
            Issue::Inline => Self::issue(job, false),
            // Only an asynchronous copy restarts a round from the workqueue.
            Issue::Nowait
                if job.args.is_async()
                    && job.args.parks_directly()
                    && ISSUERS.load(Relaxed) >= BUSY_ISSUERS =>
            {
                Self::issue(job, true)
            }
            // A new job: nothing else queued its issuer, which `issuing` stands for.
            Issue::Nowait => Self::queue_issuer(job.clone()),
        }
    }

    /// Queues the job's issuer on the engine's workqueue, where issuing may sleep. The caller
    /// set `issuing`, so nothing else has queued it.
    fn queue_issuer(this: Arc<Self>) {
        ISSUERS.add(1, Relaxed);
        let wq = this.args.params().workqueue();
        if wq.enqueue::<_, 0>(this).is_err() {
            // Cannot happen while `issuing` keeps everyone else from queueing it.
            ISSUERS.add(-1, Relaxed);
        }
    }

    /// Starts the prepared `job`, issuing its first chunks as `issue` says; for a synchronous copy,
    /// waits for it, copying in the kernel what the devices refused, and returns its outcome.
    fn run(job: Arc<Self>, issue: Issue) -> Result {
        let is_async = job.args.is_async();
        Self::start(&job, issue);
        if is_async {
            return Err(EIOCBQUEUED);
        }
        loop {
            Self::wait(&job);
            let st = job.state.lock();
            let (part, (_, result)) = (st.onload.clone(), st.outcome.result(job.args.total));
            drop(st);
            let Some(part) = part else {
                return result;
            };
            let from = part.end;
            if let Some(result) = Self::onload(&job, part) {
                return result;
            }
            // SAFETY: The round finished: the `complete_all()` the wait saw was its last use of
            // `done`, and nothing else waits for it.
            unsafe { job.done.reinit() };
            Self::restart(&job, from);
        }
    }

    /// Has the kernel copy `part`, which the devices refused. Reports the copy and returns its
    /// result when it ends there: the part did not copy, or it was the rest of the copy.
    ///
    /// Called once a round has finished: no chunk is in flight and no issuer runs.
    fn onload(this: &Arc<Self>, part: Range<u64>) -> Option<Result> {
        let args = &this.args;
        let end = part.end;
        let (copied, result) = onload::copy_part(args, part);
        if result.is_ok() && end < args.total {
            return None;
        }
        let offloaded = this.state.lock().offloaded;
        // SAFETY: The copy ends here, once: the round finished, and no other round starts.
        unsafe { args.params().complete(copied, offloaded, result) };
        Some(result)
    }

    /// Starts a new round of chunks from byte `from` on, once the kernel copied the part before
    /// it that the devices refused, or once a chunk issued without waiting would have had to.
    /// Chunks of the last round that completed after the failed one are copied again.
    ///
    /// Called once a round has finished: no chunk is in flight and no issuer runs.
    fn restart(this: &Arc<Self>, from: u64) {
        let args = &this.args;
        // With the limits of now: a limit lowered meanwhile cuts the chunks rather than having
        // them refused.
        let plan = Self::plan(args).ok();
        this.state
            .lock()
            .new_round(plan, &args.src, &args.dst, from);
        args.trace_start(Method::Offload, from..args.total);
        if args.is_async() {
            // From the issuing workqueue, whose work is never held up behind copies the kernel
            // does: this runs on the onload workqueue, or where the round that a chunk issued
            // without waiting failed finished (its submitter, an issuer, a completion in
            // interrupt context). Nothing else queues it while `issuing` is set.
            Self::queue_issuer(this.clone());
        } else {
            Self::issue(this, false);
        }
    }

    /// Waits until the round has finished, as I/O; a fatal signal stops the job from issuing
    /// more chunks, and the round finishes once the chunks in flight have.
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

    /// Issues chunks while there is room in flight, none failed and some are left; when
    /// `nowait`, in a task that must not wait for I/O, one chunk, without waiting, and the
    /// workqueue the rest.
    ///
    /// Runs as the job's only issuer (`issuing` is set); clears `issuing` when it stops, under
    /// the lock a completion takes to decide whether to queue a new issuer.
    fn issue(this: &Arc<Self>, nowait: bool) {
        let mut issued = 0;
        loop {
            if this.args.stop_requested() {
                // Cancelled: the copy ends at the first chunk not issued yet.
                this.stop(ECANCELED);
            }
            let chunk = {
                let mut st = this.state.lock();
                if nowait && issued > 0 && st.more_to_issue() {
                    drop(st);
                    // `issuing` stays set, for the issuer queued here.
                    Self::queue_issuer(this.clone());
                    return;
                }
                let chunk = if st.outcome.stopped() || st.in_flight >= MAX_CHUNKS_IN_FLIGHT {
                    None
                } else {
                    st.plan.next_chunk(&this.args.src, &this.args.dst)
                };
                let Some(chunk) = chunk else {
                    st.issuing = false;
                    // No chunk in flight: no completion is left to finish the round.
                    let finish = !st.more_to_issue() && st.in_flight == 0 && !st.finished;
                    st.finished |= finish;
                    let outcome = st.outcome;
                    drop(st);
                    if finish {
                        Self::finish(this, outcome);
                    }
                    return;
                };
                st.in_flight += 1;
                if nowait {
                    st.nowait_at = Some(chunk.done);
                }
                chunk
            };
            issued += 1;
            match CopyCtx::new(
                this.clone(),
                chunk.done,
                chunk.len,
                chunk.nr_src,
                chunk.nr_dst,
                nowait,
            ) {
                Ok(ctx) => CopyCtx::submit(
                    ctx,
                    chunk.src.pieces(&this.args.src, chunk.len),
                    chunk.dst.pieces(&this.args.dst, chunk.len),
                ),
                // Not offloaded for want of memory: the caller copies it another way, or, when
                // this task must not wait, the workqueue issues it again.
                Err(_) => {
                    let status = if nowait {
                        Status::AGAIN
                    } else {
                        Status::NOTSUPP
                    };
                    this.as_arc_borrow().chunk_done(chunk.done, status)
                }
            }
        }
    }

    /// The round has finished: counts it, then reports the outcome to the caller, once, or
    /// has the kernel copy the part the devices refused first; or, when a chunk issued
    /// without waiting would have had to wait, restarts the round from it on the workqueue.
    fn finish(this: &Arc<Self>, outcome: Outcome) {
        let args = &this.args;
        let (copied, result) = outcome.result(args.total);
        let mut st = this.state.lock();
        let from = st.round_from;
        st.offloaded += copied.saturating_sub(from);
        if result == Err(EAGAIN) && st.nowait_at == Some(copied) {
            drop(st);
            // Not a failure: nothing is counted; the round's trace ends, and a new one starts
            // where the chunks may wait.
            args.trace_end(Method::Offload, from..args.total, copied, result);
            Self::restart(this, copied);
            return;
        }
        let part =
            (result == Err(EOPNOTSUPP) && args.fallback()).then(|| st.refused(copied, args.total));
        st.onload = part.clone();
        let offloaded = st.offloaded;
        drop(st);
        // The round counts as refused what the kernel copies in its place.
        let end = part.as_ref().map_or(args.total, |part| part.end);
        args.record(Method::Offload, from..end, copied, result);
        if part.is_none() {
            // SAFETY: The round finishes once, and with it the copy: this is the last use of
            // the copy, as the job issues no more chunks, and its waiter only looks at its own
            // state.
            unsafe { args.params().complete(copied, offloaded, result) };
        } else if args.is_async() {
            // Copying sleeps: leave interrupt context. Queued once a round, as a round
            // finishes once.
            let _ = args
                .params()
                .onload_workqueue()
                .enqueue::<_, 1>(this.clone());
            return;
        }
        // Wakes the waiter of a synchronous copy, to copy the part or return.
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
        let more = st.more_to_issue();
        // A running issuer finishes the round itself when it stops.
        let finish = !more && st.in_flight == 0 && !st.issuing && !st.finished;
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
            Self::queue_issuer(this);
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

    #[test]
    fn a_passing_refusal_costs_a_chunk_and_each_repeated_one_twice_more() -> Result {
        const MIB: u64 = 1 << 20;
        let total = 64 * MIB;
        let mut st = JobState::new(Plan::new(total, MIB, 1, 1)?);
        // Refused before the devices copied anything: the kernel copies all of it.
        assert_eq!(st.refused(0, total), 0..total);
        // Refused after 3 MiB were copied: a chunk.
        st.offloaded = 3 * MIB;
        assert_eq!(st.refused(3 * MIB, total), 3 * MIB..4 * MIB);
        // The next rounds are refused at their start: twice as much each time.
        st.round_from = 4 * MIB;
        assert_eq!(st.refused(4 * MIB, total), 4 * MIB..6 * MIB);
        st.round_from = 6 * MIB;
        assert_eq!(st.refused(6 * MIB, total), 6 * MIB..10 * MIB);
        // A round that copies starts over at a chunk; no part goes past the copy.
        st.round_from = 10 * MIB;
        assert_eq!(st.refused(63 * MIB + 512, total), 63 * MIB + 512..total);
        st.round_from = 63 * MIB + 512;
        assert_eq!(st.refused(63 * MIB + 512, total), 63 * MIB + 512..total);
        Ok(())
    }

    #[test]
    fn a_new_round_forgets_the_last_ones_refusal_and_issues_from_its_start() -> Result {
        const MIB: u64 = 1 << 20;
        let seg = |pos, len| Seg { pos, len };
        let (src, dst) = ([seg(0, 8 * MIB)], [seg(16 * MIB, 8 * MIB)]);
        let mut st = JobState::new(Plan::new(8 * MIB, MIB, 1, 1)?);
        while st.plan.next_chunk(&src, &dst).is_some() {}
        st.outcome.fail(2 * MIB, EOPNOTSUPP);
        st.issuing = false;
        st.finished = true;
        st.onload = Some(2 * MIB..3 * MIB);
        assert!(!st.more_to_issue());
        // With the plan of the last round, from the end of the part the kernel copied.
        st.new_round(None, &src, &dst, 3 * MIB);
        assert!(st.more_to_issue() && st.issuing && !st.finished && st.onload.is_none());
        assert_eq!((st.round_from, st.plan.remaining()), (3 * MIB, 5 * MIB));
        // A plan cut to lower limits replaces it.
        st.new_round(
            Some(Plan::new(8 * MIB, MIB / 2, 1, 1)?),
            &src,
            &dst,
            3 * MIB,
        );
        assert_eq!(st.plan.next_chunk(&src, &dst).map(|c| c.len), Some(MIB / 2));
        Ok(())
    }
}
