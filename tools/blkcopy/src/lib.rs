// SPDX-License-Identifier: GPL-2.0

//! The library half of blkcopy: copy ranges, sizes with units, and wrappers of the kernel
//! interfaces for copying between block device ranges (BLKCOPY, copy_file_range(), O_DIRECT
//! I/O, BLKSSZGET, BLKGETSIZE64, BLKDISCARD). The `blkcopy` binary and other tools, such as
//! tools/testing/copy-integrity, build on it.

pub mod range;
pub mod size;
pub mod sys;
