// SPDX-License-Identifier: GPL-2.0

//! The outcome of block I/O: `blk_status_t`.
//!
//! C header: [`include/linux/blk_types.h`](srctree/include/linux/blk_types.h)

use crate::{
    bindings,
    error::{
        Error,
        Result, //
    }, //
};

/// The status a bio or a request completes with: `blk_status_t`.
///
/// The block layer speaks in statuses, the rest of the kernel in errnos; convert at the edge
/// with [`Status::to_result`] and [`Status::from_result`], as `blk_status_to_errno()` and
/// `errno_to_blk_status()` do in C.
///
/// # Examples
///
/// ```
/// use kernel::block::status::Status;
/// use kernel::error::code::{EIO, EOPNOTSUPP};
///
/// assert!(Status::OK.is_ok());
/// assert_eq!(Status::OK.to_result(), Ok(()));
/// assert_eq!(Status::from_result(Err(EOPNOTSUPP)), Status::NOTSUPP);
/// assert_eq!(Status::NOTSUPP.to_result(), Err(EOPNOTSUPP));
/// assert_eq!(Status::IOERR.to_result(), Err(EIO));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Status(bindings::blk_status_t);

impl Status {
    /// Success: `BLK_STS_OK`.
    pub const OK: Self = Self(bindings::BLK_STS_OK as bindings::blk_status_t);
    /// The operation is not supported: `BLK_STS_NOTSUPP` (`EOPNOTSUPP`).
    pub const NOTSUPP: Self = Self(bindings::BLK_STS_NOTSUPP);
    /// An I/O error: `BLK_STS_IOERR` (`EIO`).
    pub const IOERR: Self = Self(bindings::BLK_STS_IOERR);
    /// Out of resources, try again later: `BLK_STS_RESOURCE` (`ENOMEM`).
    pub const RESOURCE: Self = Self(bindings::BLK_STS_RESOURCE);
    /// Would have had to wait (`REQ_NOWAIT`): `BLK_STS_AGAIN` (`EAGAIN`).
    pub const AGAIN: Self = Self(bindings::BLK_STS_AGAIN);

    /// Wraps a status C code handed over.
    pub fn from_raw(status: bindings::blk_status_t) -> Self {
        Self(status)
    }

    /// The C value.
    pub fn as_raw(self) -> bindings::blk_status_t {
        self.0
    }

    /// Whether this is success.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// The status of `result`: `OK`, or the status an errno maps to (`BLK_STS_IOERR` for
    /// errnos without a status of their own).
    pub fn from_result(result: Result) -> Self {
        match result {
            Ok(()) => Self::OK,
            // SAFETY: `errno_to_blk_status` only reads its argument.
            Err(e) => Self(unsafe { bindings::errno_to_blk_status(e.to_errno()) }),
        }
    }

    /// The errno of the status, as `Err`, or `Ok` for success.
    pub fn to_result(self) -> Result {
        if self.is_ok() {
            return Ok(());
        }
        // SAFETY: `blk_status_to_errno` only reads its argument.
        Err(Error::from_errno(unsafe {
            bindings::blk_status_to_errno(self.0)
        }))
    }
}
