// SPDX-License-Identifier: GPL-2.0

//! Block operations: `enum req_op`.
//!
//! C header: [`include/linux/blk_types.h`](srctree/include/linux/blk_types.h)

use crate::bindings;

/// What a bio or a request asks the device to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqOp {
    /// Read sectors.
    Read,
    /// Write sectors.
    Write,
    /// Flush the volatile write cache.
    Flush,
    /// Discard sectors.
    Discard,
    /// Write zeroes.
    WriteZeroes,
    /// Source ranges of a copy; never seen by drivers, see [`ReqOp::CopyDst`].
    CopySrc,
    /// A copy offload: the request carries the source and destination ranges, see
    /// `Request::copy_ranges`.
    CopyDst,
    /// Any other operation, with its C value.
    Other(u32),
}

impl ReqOp {
    /// The operation in the low bits of a `blk_opf_t`.
    pub fn from_opf(opf: u32) -> Self {
        match opf & bindings::REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => Self::Read,
            bindings::req_op_REQ_OP_WRITE => Self::Write,
            bindings::req_op_REQ_OP_FLUSH => Self::Flush,
            bindings::req_op_REQ_OP_DISCARD => Self::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Self::WriteZeroes,
            bindings::req_op_REQ_OP_COPY_SRC => Self::CopySrc,
            bindings::req_op_REQ_OP_COPY_DST => Self::CopyDst,
            op => Self::Other(op),
        }
    }

    /// The operation as the low bits of a `blk_opf_t`.
    pub fn as_raw(self) -> u32 {
        match self {
            Self::Read => bindings::req_op_REQ_OP_READ,
            Self::Write => bindings::req_op_REQ_OP_WRITE,
            Self::Flush => bindings::req_op_REQ_OP_FLUSH,
            Self::Discard => bindings::req_op_REQ_OP_DISCARD,
            Self::WriteZeroes => bindings::req_op_REQ_OP_WRITE_ZEROES,
            Self::CopySrc => bindings::req_op_REQ_OP_COPY_SRC,
            Self::CopyDst => bindings::req_op_REQ_OP_COPY_DST,
            Self::Other(op) => op & bindings::REQ_OP_MASK,
        }
    }

    /// Whether this is one side of a copy offload (`op_is_copy()`).
    pub fn is_copy(self) -> bool {
        matches!(self, Self::CopySrc | Self::CopyDst)
    }
}
