// SPDX-License-Identifier: GPL-2.0

//! `BLOCK_URING_CMD_COPY`: `BLKCOPY` as an io_uring command, many copies in flight from one
//! thread.
//!
//! C header: [`include/uapi/linux/blkdev.h`](srctree/include/uapi/linux/blkdev.h)
//!
//! The command takes the `struct blkcopy` of `BLKCOPY` at `sqe->addr`, validates it as
//! [`ioctl`] does, with the same errors, and keeps the page cache coherent as [`user_copy`]
//! does; each range's `copied` and `out_flags` are written back before the CQE, whose result is
//! the number of bytes copied (at most `BLKCOPY_URING_MAX_BYTES`, as it is an `int`) or the
//! negative errno `BLKCOPY` would have returned.
//!
//! The copy is asynchronous ([`UringCopy`] is its caller's `struct blk_copy_params`). Issue
//! ([`issue`]) prepares it, parks a reference to it in the command's pdu, marks the command
//! cancelable and starts it; it returns `-EIOCBQUEUED`. The copy's `end_io` ([`end_io`]), from
//! any context, has `block/ioctl.c` queue a task work in the submitter's task, which reports the
//! copy to user space and completes the command ([`finish`]). The task work runs with the ring's
//! `uring_lock` held, so it never waits for I/O: when a destination page was cached during the
//! copy, dropping it may mean writing it back first, and [`end_io`] has that done on the
//! workqueue of in-kernel copies ([`UringCopy::drop_cached_pages`]) before it queues the task
//! work.
//!
//! Issued inline (`IO_URING_F_NONBLOCK`), the command waits for no I/O in the submitter's task:
//! the first chunks are issued from the engine's workqueue, or, while that is busy, the first one
//! in the submitter's task without waiting for a bio or a tag ([`Issue::Nowait`]; a driver whose
//! `queue_rq` may sleep then runs it there, as for io_uring's reads and writes); and when the
//! page cache would have to be written back or dropped, it returns `-EAGAIN` before anything
//! started, for io-wq to issue it again where it may wait.
//!
//! When the ring or the task goes away, io_uring cancels the command ([`cancel`]): the copy is
//! asked to stop ([`StopFlag`]), and the command completes at once with `-ECANCELED`, unless the
//! copy's end has already queued the task work, which then completes it. The copy goes on only
//! until the chunks in flight have finished, holding the file, and so the device, meanwhile.
//!
//! A command whose copy ended ([`Stage::Finishing`]) completes when its task work runs, which
//! waits for the submitter's task to run: a task that is stopped (`SIGSTOP`) or in an
//! uninterruptible sleep holds it back. [`cancel`] cannot complete it (the queued task work is
//! part of the request); it takes it off the ring's cancelable list instead, so that ring exit
//! waits for it, sleeping, as for any other request, instead of retrying the cancellation without
//! sleeping until the task runs again.
//!
//! # Who owns what
//!
//! A [`UringCopy`] that started has three references: the engine's, in its parameters'
//! `private`, taken back by [`end_io`]; the command's, parked in the pdu, taken back by whoever
//! completes the command: [`finish`] or [`cancel`]; and the one through which the engine reads
//! its [`StopFlag`] ([`Stop`]), dropped with the engine's job, after `end_io`. The right to
//! complete the command, a [`QueuedCmd`], is parked in the [`UringCopy`] before the copy starts,
//! and its stage then moves from [`Stage::Starting`] to [`Stage::Running`]. Which of [`end_io`]
//! and [`cancel`] completes it is decided once, by moving [`Stage`] away from
//! [`Stage::Running`]: [`end_io`] to [`Stage::Finishing`] (then it hands the right to the task
//! work, and [`finish`] completes it), [`cancel`] to [`Stage::Cancelled`] (then it completes it
//! itself).
//! [`finish`] and [`cancel`] both run with the ring's `uring_lock` held, and io_uring calls
//! [`cancel`] only for a command that has not completed, so the pdu reference is never taken
//! twice nor read after it was taken.

use core::ptr;

use kernel::{
    bindings,
    block::{
        bdev::BlockDevice,
        copy::{
            CopyParams,
            CopySegs, //
        },
    },
    ffi::{
        c_int,
        c_void, //
    },
    fs::File,
    impl_has_work,
    io_uring::{
        IoUringCmd,
        IssueFlags,
        QueuedCmd, //
    },
    new_mutex,
    new_work,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            AtomicType,
            Full,
            Relaxed,
            Release, //
        },
        Arc,
        Mutex, //
    },
    types::{
        ForeignOwnable,
        Opaque, //
    },
    uaccess::UserPtr,
    workqueue::{
        Queue,
        Work,
        WorkItem, //
    }, //
};

use crate::{
    args::{
        Stop,
        StopFlag, //
    },
    ioctl::{
        self,
        Ranges, //
    },
    offload::{
        AsyncStart,
        Issue, //
    },
    user_copy,
    CopyArgs,
    OffloadJob, //
};

/// Who completes the command of a copy that started.
///
/// Its exchanges decide who wins, and the winner reads `cmd`, which [`issue`] published with the
/// `Release` store of [`Stage::Running`]: that read needs the exchange to be `Acquire`. Nothing
/// else passes through the stage ([`end_io`] and [`cancel`] read nothing the other wrote); the
/// exchanges are `Full` only so that nobody goes looking for another pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
enum Stage {
    /// The issue holds the right to complete the command, and has not started the copy: a
    /// cancellation only asks the copy to stop.
    Starting = 0,
    /// Nobody yet: the right is parked in [`UringCopy`], the copy runs, and the command may be
    /// cancelled.
    Running = 1,
    /// The copy ended ([`end_io`]): its task work reports it and completes the command.
    Finishing = 2,
    /// io_uring cancelled the command, which [`cancel`] completed; the copy ends unreported.
    Cancelled = 3,
}

// SAFETY: `Stage` is `repr(i32)`, so of the size and alignment of `i32`, and each of its values
// is an `i32` that converts back to it.
unsafe impl AtomicType for Stage {
    type Repr = i32;
}

/// A `BLOCK_URING_CMD_COPY` that is started, or about to be.
///
/// # Invariants
///
/// - `params` is the copy's `struct blk_copy_params`, whose devices are the device `file` is open
///   on and whose `end_io` is [`end_io`]. Once the copy started, the engine uses it until it calls
///   `end_io`, and `private` holds the engine's reference to `self`, in foreign form.
/// - While `stage` is [`Stage::Starting`], the issue holds the right to complete the command; it
///   parks it in `cmd` (from [`QueuedCmd::into_raw`]) before it moves the stage to
///   [`Stage::Running`]. While the stage is [`Stage::Running`], `cmd` holds that right, and nobody
///   took it back. Once it is neither, the one that moved it away from [`Stage::Running`] (see
///   [`Stage`]) took the right back, and nothing uses `cmd` again; [`end_io`] may leave it to
///   `work`, which it then queues, to take.
#[pin_data]
struct UringCopy {
    /// The copy, as the engine's caller describes it.
    #[pin]
    params: Opaque<bindings::blk_copy_params>,
    /// The right to complete the command the copy is for, parked by [`issue`]; published to
    /// [`end_io`] and [`cancel`] by the `Release` store of [`Stage::Running`].
    cmd: Atomic<*mut bindings::io_uring_cmd>,
    /// Keeps the device open for the engine until `end_io`, even when the command completes first
    /// (cancelled).
    file: ARef<File>,
    /// The user's `struct blkcopy`.
    arg: UserPtr,
    /// The ranges as user space passed them, to report them. Locked once by [`finish`], and once
    /// before it by [`UringCopy::drop_cached_pages`] when that runs.
    #[pin]
    ranges: Mutex<Ranges>,
    /// The span of the destinations, `(pos, len)`: where [`end_io`] looks for cached pages
    /// without the lock of `ranges`.
    dst_span: (u64, u64),
    /// Drops the destinations' cached pages, for [`end_io`], where the task work must not.
    #[pin]
    work: Work<UringCopy>,
    /// Asks the copy to stop: set by [`cancel`], read by the engine through [`Stop`].
    stop: StopFlag,
    /// Who completes the command.
    stage: Atomic<Stage>,
}

// SAFETY: The raw pointers are used as the type invariants say, by whichever task or CPU the copy
// or io_uring runs on: `params` by the engine (through `CopyParams`, which is `Send`) and, once
// the engine is done with it, by `end_io` and `finish`, which the engine's completion orders
// after it. `arg` is a user address, used only by `finish`, in the submitter's task. Everything
// else is `Send`; `cmd` stands for a `QueuedCmd`, which is `Send` too.
unsafe impl Send for UringCopy {}
// SAFETY: As for `Send`: nothing is changed through a shared reference but `cmd`, `stage` and
// `stop`, which are atomic, and `ranges`, behind its mutex; `params` is changed only by the
// engine, which owns it from the start to `end_io`.
unsafe impl Sync for UringCopy {}

impl UringCopy {
    /// A copy of `ranges` within `bdev`, opened as the file of the command `cmd`, whose user
    /// argument is at `arg`. Allocated with `GFP_KERNEL`: plain memory, which a nonblocking issue
    /// may wait for as io_uring's own preparation does.
    fn new(
        cmd: &IoUringCmd,
        bdev: &BlockDevice,
        arg: UserPtr,
        ranges: Ranges,
    ) -> Result<Arc<Self>> {
        // No segment arrays: [`prepare`] hands the engine its segments ([`CopyParams::with_segs`]).
        let params = bindings::blk_copy_params {
            src_bdev: bdev.as_raw(),
            src_segs: ptr::null(),
            nr_src_segs: 0,
            dst_bdev: bdev.as_raw(),
            dst_segs: ptr::null(),
            nr_dst_segs: 0,
            end_io: Some(end_io),
            private: ptr::null_mut(),
            copied: 0,
            offloaded: 0,
            status: 0,
        };
        let file = ARef::from(cmd.file());
        let dst_span = user_copy::span(ranges.segs(true));
        // INVARIANT: The parameters are of a copy within `bdev`, which `file` holds open, and end
        // with `end_io`; the copy has not started. The stage is `Starting`, and `cmd` is null
        // until the issue parks in it the right to complete the command.
        Arc::pin_init(
            pin_init!(Self {
                params: Opaque::new(params),
                cmd: Atomic::new(ptr::null_mut()),
                file,
                arg,
                ranges <- new_mutex!(ranges, "blk_copy_uring_ranges"),
                dst_span,
                work <- new_work!("blk_copy_uring_drop_cached_pages"),
                stop: StopFlag::new(),
                stage: Atomic::new(Stage::Starting),
            }),
            GFP_KERNEL,
        )
    }

    /// The device the copy is on.
    fn bdev(&self) -> &BlockDevice {
        // SAFETY: By the type invariant `params` names the device `self.file` holds open, for as
        // long as `self` lives; `dst_bdev` is set once, in `new`, and only read since.
        unsafe { BlockDevice::from_raw((*self.params.get()).dst_bdev) }
    }

    /// The outcome the engine wrote into the parameters: bytes copied, how many of them the
    /// devices copied, and the result.
    ///
    /// # Safety
    ///
    /// The engine has called `end_io`: it no longer writes the parameters.
    unsafe fn outcome(&self) -> (u64, u64, Result) {
        let p = self.params.get();
        // SAFETY: By the safety requirements nothing writes the parameters any more. The engine's
        // writes come before its call of `end_io` in program order, and `end_io` queues the task
        // work that calls this: io_uring publishes the request on the task's work list with a
        // fully ordered push, which the pop in the task pairs with. (The exchange of the stage
        // orders nothing here: the task work does not read it.)
        let (copied, offloaded, status) = unsafe { ((*p).copied, (*p).offloaded, (*p).status) };
        let result = if status == 0 {
            Ok(())
        } else {
            Err(Error::from_errno(status))
        };
        (copied, offloaded, result)
    }

    /// Drops the pages cached of what the copy wrote, as a direct write does after it, writing
    /// them back first when they were dirtied meanwhile: this may wait for I/O.
    ///
    /// # Safety
    ///
    /// The engine has called `end_io`: it no longer writes the parameters.
    unsafe fn drop_cached_pages(&self) {
        // SAFETY: By the safety requirements.
        let (copied, _, _) = unsafe { self.outcome() };
        let ranges = self.ranges.lock();
        user_copy::finish(self.bdev(), &self.file, ranges.segs(true), copied);
    }

    /// Hands the right to complete the command, which the one that moved the stage to
    /// [`Stage::Finishing`] holds, to the task work that reports the copy and completes it.
    ///
    /// # Safety
    ///
    /// The stage is [`Stage::Finishing`], moved there by [`end_io`], and the right to complete the
    /// command is still parked in `cmd`: this is its one use.
    unsafe fn defer_finish(&self) {
        // SAFETY: By the safety requirements and the type invariant `cmd` holds the right to
        // complete the command, from `QueuedCmd::into_raw`, which nobody took back; `end_io`'s
        // exchange read the `Release` store of `Running`, which orders `issue`'s store of `cmd`
        // before this load (in the work below, `queue_work()` orders it too).
        let queued = unsafe { QueuedCmd::from_raw(self.cmd.load(Relaxed)) };
        // SAFETY: The right goes to the task work queued here, which completes the command once,
        // through `blk_copy_cmd_complete()`.
        unsafe { bindings::blkdev_copy_uring_defer_finish(queued.into_raw()) };
    }
}

impl_has_work! {
    impl HasWork<Self> for UringCopy { self.work }
}

impl Stop for UringCopy {
    fn stop_flag(&self) -> &StopFlag {
        &self.stop
    }
}

/// Queued by [`end_io`] only, with the engine's reference, when a destination page was cached:
/// drops it, then has the task work complete the command.
impl WorkItem for UringCopy {
    type Pointer = Arc<UringCopy>;

    fn run(this: Arc<UringCopy>) {
        // SAFETY: `end_io` queued this after the engine called it, having moved the stage to
        // `Finishing`, and left the right to complete the command in `cmd` for this.
        unsafe {
            this.drop_cached_pages();
            this.defer_finish();
        }
    }
}

/// `BLOCK_URING_CMD_COPY` issued to `cmd` with `flags`, on a file opened on `bdev` with `mode`:
/// `arg` is the user's `struct blkcopy`, `addr3` the SQE's `addr3`, which must be zero. Returns
/// `EIOCBQUEUED` once the copy started: the command then completes through [`finish`] or
/// [`cancel`]. Any other error is the command's result, returned before anything started;
/// `EAGAIN` only under `IO_URING_F_NONBLOCK`, for io_uring to issue the command again from io-wq.
///
/// # Safety
///
/// This must run in an issue of `cmd` by its `uring_cmd` handler, which returns what this returns.
/// `slot` must point to the word of the command's pdu that `block/ioctl.c` keeps for copies
/// (`struct blk_iou_cmd`'s `copy`), which nothing else writes until the command completes.
pub(crate) unsafe fn issue(
    cmd: &IoUringCmd,
    bdev: &BlockDevice,
    mode: bindings::blk_mode_t,
    arg: u64,
    addr3: u64,
    slot: *mut *mut c_void,
    flags: IssueFlags<'_>,
) -> Result {
    // The other unused fields of the SQE were checked by `blkdev_uring_cmd()`.
    if addr3 != 0 {
        return Err(EINVAL);
    }
    ioctl::may_write(bdev, mode)?;
    let arg = UserPtr::from_addr(arg.try_into().map_err(|_| EFAULT)?);
    let (copy_flags, ranges) = ioctl::read_arg(arg)?;
    if ranges.total > bindings::BLKCOPY_URING_MAX_BYTES {
        return Err(EINVAL);
    }
    let offload_only = copy_flags & bindings::BLKCOPY_OFFLOAD_ONLY != 0;
    let nowait = flags.nonblock();
    let segs = ranges.copy_segs(GFP_KERNEL)?;
    let copy = UringCopy::new(cmd, bdev, arg, ranges)?;
    let start = prepare(&copy, segs, offload_only, nowait)?;
    // From here on the copy starts: `end_io` is called once, and the command completes once,
    // through `finish` or `cancel`.
    // SAFETY: By the safety requirements `slot` is the command's, and nothing else writes it; the
    // reference parked here is taken back by `finish` or `cancel`, whichever completes the
    // command. io_uring orders this write before both: before `cancel` by the lock
    // `mark_cancelable` takes or holds, before `finish` by the engine's completion and the
    // queueing of the task work.
    unsafe { slot.write(copy.clone().into_foreign()) };
    // SAFETY: By the safety requirements this runs in an issue of `cmd`, which returns what this
    // returns: `EIOCBQUEUED`, below, as nothing can fail from here on (`AsyncStart::run` returns
    // nothing). Only this place queues the command, and a command gets here once: an issue that
    // returned earlier, with `EAGAIN`, did not get here.
    let queued = unsafe { cmd.queue() };
    // Before the copy can end: io_uring must not see the command complete before it is marked.
    // A cancellation that comes now (from another task, when this runs in io-wq) finds the
    // stage `Starting`: it asks the copy to stop and returns, and io_uring calls it again.
    queued.mark_cancelable(flags);
    // INVARIANT: The right to complete the command goes to the copy, for `end_io` or `cancel`,
    // and then the stage to `Running`. The `Release` store of `Running` publishes `cmd` to them,
    // whose exchanges read `Running`.
    copy.cmd.store(queued.into_raw(), Relaxed);
    copy.stage.store(Stage::Running, Release);
    let issue = if nowait { Issue::Nowait } else { Issue::Inline };
    // The copy may end, and the command complete, before this returns; the borrowed `cmd` is not
    // used after `queue`.
    start.run(issue);
    Err(EIOCBQUEUED)
}

/// Prepares the copy of `copy`, whose ranges are `segs` (offload only, or not), and makes the
/// page cache ready for it, or when `nowait` finds that it is not. The engine's reference to
/// `copy` is in its parameters when this succeeds: taken back by `end_io`.
fn prepare(
    copy: &Arc<UringCopy>,
    segs: CopySegs,
    offload_only: bool,
    nowait: bool,
) -> Result<AsyncStart> {
    let engine = copy.clone().into_foreign();
    let p = copy.params.get();
    // SAFETY: The copy has not started: nothing else uses the parameters.
    unsafe { (*p).private = engine };
    // SAFETY: `p` is valid as `struct blk_copy_params` documents, but for its segment arrays,
    // which `with_segs` does not read, and stays valid, its device open, until `end_io` (the type
    // invariants of `UringCopy`, whose engine reference is in `private`), or until the copy does
    // not start.
    let prepared = unsafe { CopyParams::with_segs(p, segs) }
        .and_then(|(params, segs)| CopyArgs::new(params, segs, !offload_only))
        .and_then(|mut args| {
            // Validated: the page cache, as `BLKCOPY` does it, once the copy is known to be good;
            // over the engine's segments, merged where they touch, which cover the same bytes.
            let bdev = copy.bdev();
            user_copy::prepare(bdev, &args.src, bdev, &args.dst, nowait)?;
            args.set_stop(copy.clone());
            OffloadJob::prepare_async(args)
        });
    if prepared.is_err() {
        // The copy does not start: `end_io` is not called, and the engine's reference comes back.
        // SAFETY: `engine` came from `into_foreign` above and was not taken back.
        drop(unsafe { Arc::<UringCopy>::from_foreign(engine) });
    }
    prepared
}

/// The `end_io` of a command's copy: the engine calls it once, from any context, when the copy
/// has finished. Has the command completed from its task, unless it was cancelled.
///
/// # Safety
///
/// `params` must be the parameters of a [`UringCopy`] whose copy started, and the engine must call
/// this once, after its last use of them.
unsafe extern "C" fn end_io(params: *mut bindings::blk_copy_params) {
    // SAFETY: By the safety requirements and the type invariants of `UringCopy`, `private` holds
    // the engine's reference, in foreign form, and this is the one place that takes it back.
    let copy = unsafe { Arc::<UringCopy>::from_foreign((*params).private) };
    // The copy started, so the stage is not `Starting`: `issue` stored `Running` before.
    if copy
        .stage
        .cmpxchg(Stage::Running, Stage::Finishing, Full)
        .is_ok()
    {
        let (pos, len) = copy.dst_span;
        if copy.bdev().has_cached_pages(pos, len) {
            // Dropping them may wait for I/O, which the task work, under the ring's lock, must
            // not: the workqueue of in-kernel copies does it, then queues the task work.
            // SAFETY: `blk_copy_onload_wq` is allocated by a `core_initcall` and never freed; a
            // copy started, so it exists.
            let wq = unsafe { Queue::from_raw(bindings::blk_copy_onload_wq) };
            // A work item nothing else queues, so it is not queued yet.
            let _ = wq.enqueue(copy);
            return;
        }
        // SAFETY: This moved the stage to `Finishing`, and nothing used `cmd` since `issue`.
        unsafe { copy.defer_finish() };
    }
    // Cancelled: the command completed already; the copy ends here. Otherwise the command's
    // reference keeps the copy until `finish`. Whoever drops the last reference (this, `finish`,
    // the engine's job) drops the file: `fput` may be called from any context.
    drop(copy);
}

/// The task work of a command whose copy finished: takes back the reference parked in `slot`,
/// writes `copied` and `out_flags` back to user space (not when `cancel`: the task work then runs
/// where the user's memory is not to be touched) and returns the command's result: the bytes
/// copied, or a negative errno. It runs with the ring's `uring_lock` held: the page cache was
/// seen to before it was queued ([`end_io`]).
///
/// # Safety
///
/// `slot` must hold the reference [`issue`] parked, of a copy whose [`end_io`] moved the stage to
/// [`Stage::Finishing`]; called once, in the command's task work, before it completes.
pub(crate) unsafe fn finish(slot: *mut *mut c_void, cancel: bool) -> c_int {
    // SAFETY: By the safety requirements `slot` holds the parked reference. In `Finishing` only
    // the task work takes it back ([`cancel`] leaves it alone), and this runs once.
    let copy = unsafe { Arc::<UringCopy>::from_foreign(slot.replace(ptr::null_mut())) };
    // SAFETY: `end_io` was called: the stage is `Finishing`.
    let (copied, offloaded, result) = unsafe { copy.outcome() };
    // The page cache was seen to in `end_io` or its work.
    let mut ranges = copy.ranges.lock();
    let mut res = match result {
        // At most `BLKCOPY_URING_MAX_BYTES`, which fits.
        Ok(()) => c_int::try_from(copied).unwrap_or(c_int::MAX),
        Err(e) => e.to_errno(),
    };
    if !cancel {
        let all_offloaded = result.is_ok() && offloaded == copied;
        // As `BLKCOPY`: a result that cannot be written back fails the call.
        if ioctl::report(copy.arg, &mut ranges, copied, all_offloaded).is_err() {
            res = EFAULT.to_errno();
        }
    }
    res
}

/// io_uring cancels `cmd`, whose pdu holds `slot`, with `flags` (`IO_URING_F_CANCEL`): its ring
/// or its task goes away. Asks the copy to stop, and completes the command with `-ECANCELED`
/// unless the copy's end already queued the task work that completes it (the command then leaves
/// the cancelable list, for ring exit to wait for the task work rather than retry), or the issue
/// has not handed over the right to complete it yet.
///
/// # Safety
///
/// `slot` must be the word of the pdu of `cmd` that [`issue`] parked the copy's reference in
/// (io_uring cancels only the commands [`issue`] marked cancelable, which it does after parking
/// it), and the caller must hold the ring's `uring_lock`, under which the task work runs too.
/// `flags` must be those of the cancellation of `cmd`.
pub(crate) unsafe fn cancel(cmd: &IoUringCmd, slot: *mut *mut c_void, flags: IssueFlags<'_>) {
    // SAFETY: By the safety requirements `slot` is the command's pdu word. io_uring calls this only
    // for a command that has not completed, with the lock the task work holds: the reference is
    // still parked (`finish`, which takes it, completes the command in the same lock section).
    let parked = unsafe { slot.read() };
    if parked.is_null() {
        return;
    }
    let moved = {
        // SAFETY: `parked` is the parked reference (see above), which stays parked at least until
        // the end of this block: only this function or `finish` take it, and `finish` cannot run
        // meanwhile.
        let copy = unsafe { <Arc<UringCopy> as ForeignOwnable>::borrow(parked) };
        copy.stop.stop();
        copy.stage.cmpxchg(Stage::Running, Stage::Cancelled, Full)
    };
    match moved {
        Ok(_) => {}
        Err(Stage::Finishing) => {
            // `end_io` handed the command to the task work, possibly through `work`, which only
            // queues it. The task work completes it when its task runs: one that is stopped or in
            // an uninterruptible sleep would leave ring exit retrying this.
            // SAFETY: Only the task work completes the command, with `uring_lock` held, which the
            // caller holds (the safety requirements): the command does not complete during this
            // call. `issue` marked it before the stage left `Starting`, and nothing marks it
            // again.
            unsafe { cmd.del_cancelable(flags) };
            return;
        }
        // `Starting`: the issue, in io-wq, still holds the right to complete the command, and
        // starts a copy that now stops; io_uring calls this again until the command completed.
        Err(_) => return,
    }
    // SAFETY: Having moved the stage from `Running`, this completes the command and takes back the
    // parked reference, once; nothing reads the slot again.
    let copy = unsafe {
        slot.write(ptr::null_mut());
        Arc::<UringCopy>::from_foreign(parked)
    };
    // SAFETY: The stage was `Running`, so by the type invariant `cmd` holds the right to complete
    // the command, from `QueuedCmd::into_raw`, which nobody took back; the exchange read the
    // `Release` store of `Running`, which orders `issue`'s store of `cmd` before this load. Only
    // the one that moves the stage from `Running` takes the right: this one.
    let queued = unsafe { QueuedCmd::from_raw(copy.cmd.load(Relaxed)) };
    // `flags` are those of this command's cancellation (the safety requirements).
    queued.done(ECANCELED.to_errno(), flags);
    // The copy goes on until its chunks in flight finish; its `end_io` finds it cancelled.
    drop(copy);
}
