// SPDX-License-Identifier: GPL-2.0

//! io_uring commands, as the file whose `uring_cmd` handler io_uring calls sees them.
//!
//! C header: [`include/linux/io_uring/cmd.h`](srctree/include/linux/io_uring/cmd.h)
//!
//! `IORING_OP_URING_CMD` hands a command to the `uring_cmd` operation of the file it names,
//! as [`IoUringCmd`], with the [`IssueFlags`] it is issued with. The handler either returns its
//! result at once, or returns `-EIOCBQUEUED` and completes the command later, exactly once,
//! with [`IoUringCmd::done`]. A command that completes later may be marked cancelable
//! ([`IoUringCmd::mark_cancelable`]): io_uring then calls the handler again with
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
use core::marker::PhantomData;

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

/// A command io_uring issued to a file: `struct io_uring_cmd`.
///
/// # Invariants
///
/// `self.0` is a command that io_uring issued to the `uring_cmd` handler of its file and that has
/// not completed, for as long as the reference lives.
#[repr(transparent)]
pub struct IoUringCmd(Opaque<bindings::io_uring_cmd>);

impl IoUringCmd {
    /// Borrows a command from the pointer io_uring passed to a `uring_cmd` handler.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a command io_uring issued to the handler's file that does not complete
    /// during `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::io_uring_cmd) -> &'a Self {
        // SAFETY: `IoUringCmd` is `repr(transparent)` over the C struct, and by the safety
        // requirements `ptr` is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer to the C `struct io_uring_cmd`.
    pub fn as_raw(&self) -> *mut bindings::io_uring_cmd {
        self.0.get()
    }

    /// The file the command was issued to. io_uring holds it until the command completes; take a
    /// reference (`ARef<File>`) to use it longer.
    pub fn file(&self) -> &File {
        // SAFETY: By the type invariant the command is issued and not completed, so its `file` was
        // set before the issue, does not change, and io_uring holds a reference to it until the
        // command completes. Besides the submitter's descriptor (if still open), io_uring's
        // reference makes the file shared: `fdget_pos()` on it takes `f_pos_lock`.
        unsafe { File::from_raw_file((*self.as_raw()).file) }
    }

    /// Lets io_uring cancel the command when its ring or its task goes away: io_uring then calls
    /// the file's `uring_cmd` handler with [`IssueFlags::cancel`], with the ring's `uring_lock`
    /// held, until the command completes. `flags` are those of the issue that marks it.
    ///
    /// Mark a command before anything could complete it: io_uring must not see it complete
    /// first. A command marked cancelable must not be failed by returning an error from the
    /// issue either, but completed with [`IoUringCmd::done`] (which unmarks it).
    pub fn mark_cancelable(&self, flags: IssueFlags<'_>) {
        // SAFETY: By the type invariant the command is issued and not completed. By the type
        // invariant of `IssueFlags`, `flags` are those of a call on the command's ring that is
        // running now, so they tell whether this task holds the ring's `uring_lock`, which is
        // what the C function needs them for.
        unsafe { bindings::io_uring_cmd_mark_cancelable(self.as_raw(), flags.as_raw()) }
    }

    /// Completes the command with `res`, the CQE's result: posts the CQE (now or from io_uring's
    /// task work, as `flags` allow) and frees the command.
    ///
    /// # Safety
    ///
    /// The handler returned, or will return, `-EIOCBQUEUED` for the command, and this is its only
    /// completion: nothing uses the command afterwards.
    pub unsafe fn done(&self, res: i32, flags: IssueFlags<'_>) {
        // SAFETY: By the type invariant the command is issued and not completed; by the safety
        // requirements this completes it once. By the type invariant of `IssueFlags`, `flags` are
        // those of a call on the command's ring that is running now, as the C function needs.
        unsafe { bindings::__io_uring_cmd_done(self.as_raw(), res, 0, flags.as_raw(), false) }
    }
}
