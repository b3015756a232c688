// SPDX-License-Identifier: GPL-2.0

//! io_uring commands, as the file whose `uring_cmd` handler io_uring calls sees them.
//!
//! C header: [`include/linux/io_uring/cmd.h`](srctree/include/linux/io_uring/cmd.h)
//!
//! `IORING_OP_URING_CMD` hands a command to the `uring_cmd` operation of the file it names,
//! as [`IoUringCmd`], with the [`IssueFlags`] it is issued with. The handler either returns its
//! result at once, or returns `-EIOCBQUEUED` and completes the command later, exactly once: it
//! takes the right to complete it as a [`QueuedCmd`] ([`IoUringCmd::queue`]), which
//! [`QueuedCmd::done`] consumes. A queued command may be marked cancelable
//! ([`QueuedCmd::mark_cancelable`]): io_uring then calls the handler again with
//! [`IssueFlags::cancel`] when the ring or the submitting task goes away, and the handler either
//! completes the command there or makes sure that it completes soon.
//!
//! Where the handler keeps its state between issue and completion (the command's `pdu`) and the
//! task work through which it completes from its submitter's task stay with the C file that
//! implements the handler: their layout and callback types are io_uring's, and each file
//! keeps its own.

use crate::{
    bindings,
    ffi::c_uint,
    fs::File,
    types::Opaque, //
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// The flags io_uring passed to one call for a command: `IO_URING_F_*`
/// (`enum io_uring_cmd_flags`).
///
/// `'a` is that call (an issue or a cancellation of the `uring_cmd` handler, or a task work of
/// the command): the value cannot be kept past it, nor sent to another task, as the flags say
/// which of the ring's locks the calling task holds. Within the call it is `Copy`.
///
/// # Invariants
///
/// `self.0` are the `issue_flags` io_uring passed to a call that lasts at least `'a`, and the value
/// is used only with commands of that call's ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssueFlags<'a>(c_uint, PhantomData<(&'a (), *mut ())>);

impl IssueFlags<'_> {
    /// The flags io_uring passed as `issue_flags` to the call this runs in.
    ///
    /// # Safety
    ///
    /// - `flags` must be the `issue_flags` io_uring passed to the call this runs in (an issue or
    ///   a cancellation of a `uring_cmd` handler), or `IO_URING_CMD_TASK_WORK_ISSUE_FLAGS` in a
    ///   task work of a command. The lifetime of the value must not outlast that call.
    /// - The flags say which of the locks of that call's ring are held: the value must be used
    ///   only with commands of that ring (the call's own command, or another one of the same
    ///   ring).
    pub unsafe fn from_raw(flags: c_uint) -> Self {
        // INVARIANT: By the safety requirements.
        Self(flags, PhantomData)
    }

    /// The flags, to pass back to io_uring.
    pub fn as_raw(self) -> c_uint {
        self.0
    }

    /// Whether the handler must not block (`IO_URING_F_NONBLOCK`): issued inline from the
    /// submission, it returns `-EAGAIN` rather than wait, and io_uring issues it again from a
    /// worker that may.
    pub fn nonblock(self) -> bool {
        // The flag is the sign bit of the C enum: the cast keeps its bits.
        self.0 & (bindings::io_uring_cmd_flags_IO_URING_F_NONBLOCK as c_uint) != 0
    }

    /// Whether io_uring cancels a command the handler marked cancelable (`IO_URING_F_CANCEL`),
    /// rather than issuing one.
    pub fn cancel(self) -> bool {
        self.0 & (bindings::io_uring_cmd_flags_IO_URING_F_CANCEL as c_uint) != 0
    }
}

/// A command io_uring issued to a file: `struct io_uring_cmd`, as a `uring_cmd` call borrows it.
///
/// The borrow does not give the right to complete the command: the issue that returns
/// `-EIOCBQUEUED` takes that right once, as a [`QueuedCmd`] ([`IoUringCmd::queue`]).
///
/// # Invariants
///
/// For as long as the reference lives, `self.0` is a command io_uring issued to the `uring_cmd`
/// handler of its file, and io_uring keeps its request allocated. During that time the command
/// completes only through the right a [`QueuedCmd`] holds: by [`QueuedCmd::done`], or by the code
/// that right was handed to with [`QueuedCmd::into_raw`].
#[repr(transparent)]
pub struct IoUringCmd(Opaque<bindings::io_uring_cmd>);

impl IoUringCmd {
    /// Borrows a command from the pointer io_uring passed to a `uring_cmd` handler.
    ///
    /// # Safety
    ///
    /// `ptr` must be the command io_uring passed to the `uring_cmd` handler of its file for the
    /// call this runs in (an issue or a cancellation), and `'a` must not outlast that call.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::io_uring_cmd) -> &'a Self {
        // INVARIANT: By the safety requirements the command was issued, and the reference lives
        // only during the handler's call, for which io_uring keeps the request allocated: in an
        // inline issue the issuer holds `uring_lock`, which the completions' flush takes, and the
        // task work that completes commands runs in the issuer's task; from io-wq,
        // `io_wq_submit_work()` holds a reference to the request until the issue returns; a
        // cancellation runs under `uring_lock`, and its caller flushes the completions only after
        // the handler returns. io_uring itself completes a command only after its handler
        // returned; the handler can complete it only with a `QueuedCmd`, or through the code it
        // hands one to.
        // SAFETY: `IoUringCmd` is `repr(transparent)` over the C struct, and by the safety
        // requirements `ptr` is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer to the C `struct io_uring_cmd`.
    pub fn as_raw(&self) -> *mut bindings::io_uring_cmd {
        self.0.get()
    }

    /// The file the command was issued to. The request holds it until io_uring frees the request,
    /// after the command completed; take a reference (`ARef<File>`) to use it longer.
    pub fn file(&self) -> &File {
        // SAFETY: By the type invariant io_uring keeps the request allocated while `self` lives.
        // Its `file` was set before the issue and does not change, and the request holds a
        // reference to it until it is freed: its own, or for a fixed file the file table's, which
        // the request's resource node keeps. That reference makes the file shared, so
        // `fdget_pos()` does not skip `f_pos_lock` for being the only user: the argument
        // `File::fget` makes for the reference it takes. (A file without `FMODE_ATOMIC_POS`, as a
        // block device's, never takes that lock; nothing here touches its position.)
        unsafe { File::from_raw_file((*self.as_raw()).file) }
    }

    /// Takes the command off its ring's list of cancelable commands
    /// (`io_uring_cmd_del_cancelable()`): io_uring no longer calls the handler with
    /// [`IssueFlags::cancel`] for it. For a command marked cancelable
    /// ([`QueuedCmd::mark_cancelable`]) that the handler can no longer cancel and that completes
    /// without it, for example through a task work already queued: ring exit retries the
    /// cancellation of a listed command without sleeping. No effect on a command not marked.
    ///
    /// # Safety
    ///
    /// The command's cancelable mark must not change while this runs: the command does not
    /// complete meanwhile (whoever holds the right to complete it does not use it, for example
    /// uses it only with the ring's `uring_lock` held, which the caller holds), and is not being
    /// marked ([`QueuedCmd::mark_cancelable`]) elsewhere.
    pub unsafe fn del_cancelable(&self, flags: IssueFlags<'_>) {
        // SAFETY: By the type invariant the request is allocated while `self` lives, and by the
        // safety requirements nothing else changes the command's mark meanwhile: neither its
        // completion, which would unmark it too, nor a mark, which would list it again.
        // By the type invariant of `IssueFlags`, `flags` are those of a call on the command's
        // ring that is running now, so they tell whether this task holds the ring's
        // `uring_lock`, which is what the C function needs them for.
        unsafe { bindings::io_uring_cmd_del_cancelable(self.as_raw(), flags.as_raw()) }
    }

    /// Takes the right to complete the command, in the issue that returns `-EIOCBQUEUED` for it.
    ///
    /// # Safety
    ///
    /// This must run in an issue of the command (not in a cancellation) that returns
    /// `-EIOCBQUEUED`, and be called once for the command.
    pub unsafe fn queue(&self) -> QueuedCmd {
        // INVARIANT: By the type invariant the command is issued, and not completed: only a
        // `QueuedCmd` could have completed it, and by the safety requirements this is its first.
        // The handler returns `-EIOCBQUEUED`, so io_uring keeps the request until it is completed,
        // which nothing but this `QueuedCmd` does.
        QueuedCmd(NonNull::from(self).cast())
    }
}

/// The right to complete a command whose `uring_cmd` handler returns, or returned, `-EIOCBQUEUED`
/// for it: taken by [`IoUringCmd::queue`], used by [`QueuedCmd::done`].
///
/// Not `Clone`: the command completes once. It may go to another task, and be parked as a raw
/// pointer ([`QueuedCmd::into_raw`]) where the handler's completion or cancellation finds it
/// ([`QueuedCmd::from_raw`]). Dropping it leaves the command never completed, and its ring, once
/// closed, waiting for it.
///
/// # Invariants
///
/// `self.0` is a command whose handler returned, or is about to return, `-EIOCBQUEUED` for it,
/// and that has not completed; io_uring keeps its request allocated until it completes. `self` is
/// the only right to complete it: no other `QueuedCmd` of it exists, and nothing else completes
/// it.
///
/// # Examples
///
/// A command that waits until io_uring cancels it. `slot` is the handler's state for the command.
/// Compiled only, not run: KUnit has no io_uring command to hand it.
///
/// ```no_run
/// use kernel::io_uring::{IoUringCmd, IssueFlags, QueuedCmd};
/// use kernel::prelude::*;
/// use kernel::sync::Mutex;
///
/// /// The issue of `cmd`, with `flags`.
/// ///
/// /// # Safety
/// ///
/// /// The `uring_cmd` handler calls this once for `cmd`, in its issue, and returns what this
/// /// returns.
/// unsafe fn issue(
///     cmd: &IoUringCmd,
///     flags: IssueFlags<'_>,
///     slot: &Mutex<Option<QueuedCmd>>,
/// ) -> Result {
///     // SAFETY: The issue returns `EIOCBQUEUED`, below, and this runs once for `cmd`.
///     let queued = unsafe { cmd.queue() };
///     queued.mark_cancelable(flags);
///     // A cancellation before this finds `slot` empty, and io_uring calls it again.
///     *slot.lock() = Some(queued);
///     Err(EIOCBQUEUED)
/// }
///
/// /// The cancellation of the command parked in `slot`, with `flags`.
/// fn cancel(flags: IssueFlags<'_>, slot: &Mutex<Option<QueuedCmd>>) {
///     let queued = slot.lock().take();
///     if let Some(queued) = queued {
///         queued.done(ECANCELED.to_errno(), flags);
///     }
/// }
/// ```
#[must_use = "the command completes only through its `QueuedCmd`"]
pub struct QueuedCmd(NonNull<bindings::io_uring_cmd>);

// SAFETY: The right to complete a command is not bound to a task: io_uring lets any task complete
// it, and the methods take the ring's locks as the flags of the call they run in say, whichever
// task that is.
unsafe impl Send for QueuedCmd {}

impl QueuedCmd {
    /// Lets io_uring cancel the command when its ring or its task goes away: io_uring then calls
    /// the file's `uring_cmd` handler with [`IssueFlags::cancel`], with the ring's `uring_lock`
    /// held, until the command completes. `flags` are those of the call this runs in.
    ///
    /// From io-wq, the cancellation may come, on another task, as soon as this returns: what it
    /// needs to find the command must be in place, or it must return without completing the
    /// command, for io_uring to call it again.
    ///
    /// No effect on a command issued for polled completion (`IORING_SETUP_IOPOLL` on a file with
    /// a `uring_cmd_iopoll` operation): io_uring does not mark it, and the file's polling
    /// completes it. Block devices have no such operation.
    pub fn mark_cancelable(&self, flags: IssueFlags<'_>) {
        // SAFETY: By the type invariant the command's request is allocated and the command not
        // completed. By the type invariant of `IssueFlags`, `flags` are those of a call on the
        // command's ring that is running now, so they tell whether this task holds the ring's
        // `uring_lock`, which is what the C function needs them for.
        unsafe { bindings::io_uring_cmd_mark_cancelable(self.0.as_ptr(), flags.as_raw()) }
    }

    /// Completes the command with `res`, the CQE's 16-byte result (no `res2`): unmarks it if it
    /// was marked cancelable, and posts its CQE now or from io_uring's task work, as `flags`
    /// allow. io_uring frees the request after the CQE is flushed.
    pub fn done(self, res: i32, flags: IssueFlags<'_>) {
        // SAFETY: By the type invariant the command is not completed and `self` is the only right
        // to complete it, which this consumes. By the type invariant of `IssueFlags`, `flags` are
        // those of a call on the command's ring that is running now, as the C function needs.
        unsafe { bindings::__io_uring_cmd_done(self.0.as_ptr(), res, 0, flags.as_raw(), false) }
    }

    /// Gives up the right to complete the command for a raw pointer, to park it in state that
    /// the handler's completion or cancellation finds: [`QueuedCmd::from_raw`] takes it back, or
    /// C code the pointer is handed to completes the command.
    pub fn into_raw(self) -> *mut bindings::io_uring_cmd {
        self.0.as_ptr()
    }

    /// Takes back the right to complete a command that [`QueuedCmd::into_raw`] gave up.
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`QueuedCmd::into_raw`], and the right it stands for must not have
    /// been used since: the command is not completed, and no other `QueuedCmd` was made from it
    /// (one `from_raw` for each `into_raw`).
    pub unsafe fn from_raw(ptr: *mut bindings::io_uring_cmd) -> Self {
        // INVARIANT: By the safety requirements `ptr` is the command of a `QueuedCmd` whose right
        // nobody used since it was given up, and this takes it over alone.
        // SAFETY: By the safety requirements `ptr` comes from a `NonNull`.
        Self(unsafe { NonNull::new_unchecked(ptr) })
    }
}
