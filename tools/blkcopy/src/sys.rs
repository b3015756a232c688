// SPDX-License-Identifier: GPL-2.0

//! The kernel interfaces blkcopy uses: BLKCOPY, copy_file_range(), BLKGETSIZE64, O_DIRECT reads.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;

use crate::range::Range;

/// `_IOWR(0x12, 129, struct blkcopy)`, `struct blkcopy` being 32 bytes (uapi/linux/blk-copy.h).
const BLKCOPY: u64 = (3 << 30) | (32 << 16) | (0x12 << 8) | 129;
const BLKCOPY_OFFLOAD_ONLY: u32 = 1;
const BLKCOPY_OFFLOADED: u32 = 1;
/// Ranges and bytes one BLKCOPY call may carry.
pub const BLKCOPY_MAX_RANGES: usize = 256;
pub const BLKCOPY_MAX_BYTES: u64 = 1 << 32;

/// Opens a block device for copying: read-write (or read-only) and `O_DIRECT`.
pub fn open(path: &str, write: bool, direct: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(write);
    if direct {
        options.custom_flags(libc::O_DIRECT);
    }
    options.open(path)
}

/// What one BLKCOPY call did.
pub struct Outcome {
    /// Bytes copied, per range.
    pub copied: Vec<u64>,
    /// Whether the device did the whole copy.
    pub offloaded: bool,
    /// The error that stopped the copy, if one did.
    pub error: Option<io::Error>,
}

/// Copies `ranges` (at most [`BLKCOPY_MAX_RANGES`]) of `file` with one BLKCOPY call.
pub fn blkcopy(file: &File, ranges: &[Range], offload_only: bool) -> Outcome {
    // struct blkcopy: nr_ranges, flags, out_flags, reserved[5] (u32 each), then per range
    // src, dst, len, copied (u64 each). A u64 buffer keeps it aligned.
    let mut buf = vec![0u64; 4 + 4 * ranges.len()];
    buf[0] = ranges.len() as u64
        | (u64::from(if offload_only {
            BLKCOPY_OFFLOAD_ONLY
        } else {
            0
        }) << 32);
    for (i, r) in ranges.iter().enumerate() {
        buf[4 + 4 * i..8 + 4 * i].copy_from_slice(&[r.src, r.dst, r.len, 0]);
    }
    // SAFETY: `buf` holds a struct blkcopy with `ranges.len()` ranges, which the kernel reads
    // and updates in place.
    let ret = unsafe { libc::ioctl(file.as_raw_fd(), BLKCOPY as _, buf.as_mut_ptr()) };
    let error = (ret < 0).then(io::Error::last_os_error);
    Outcome {
        copied: (0..ranges.len()).map(|i| buf[7 + 4 * i]).collect(),
        offloaded: (buf[1] as u32) & BLKCOPY_OFFLOADED != 0,
        error,
    }
}

/// Copies one range from `src` to `dst` with copy_file_range(); returns the bytes copied and
/// the error that stopped it, if one did.
pub fn copy_file_range(src: &File, dst: &File, r: &Range) -> (u64, Option<io::Error>) {
    let (mut off_in, mut off_out) = (r.src as i64, r.dst as i64);
    let mut done = 0;
    while done < r.len {
        let want = (r.len - done).min(BLKCOPY_MAX_BYTES) as usize;
        // SAFETY: both offsets point to valid i64s; the descriptors are open.
        let ret = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                dst.as_raw_fd(),
                &mut off_out,
                want,
                0,
            )
        };
        match ret {
            n if n > 0 => done += n as u64,
            0 => {
                return (
                    done,
                    Some(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of device",
                    )),
                )
            }
            _ => return (done, Some(io::Error::last_os_error())),
        }
    }
    (done, None)
}

/// A buffer aligned for `O_DIRECT`.
struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("valid layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Aligned { ptr, layout }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is valid for `layout.size()` bytes and owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// Whether `len` bytes at `src_off` of `src` equal those at `dst_off` of `dst` (direct reads).
pub fn same_bytes(
    src: &File,
    src_off: u64,
    dst: &File,
    dst_off: u64,
    len: u64,
) -> io::Result<bool> {
    const STEP: usize = 1 << 20;
    let (mut a, mut b) = (Aligned::new(STEP), Aligned::new(STEP));
    let mut done = 0;
    while done < len {
        let n = (len - done).min(STEP as u64) as usize;
        src.read_exact_at(&mut a.as_mut()[..n], src_off + done)?;
        dst.read_exact_at(&mut b.as_mut()[..n], dst_off + done)?;
        if a.as_mut()[..n] != b.as_mut()[..n] {
            return Ok(false);
        }
        done += n as u64;
    }
    Ok(true)
}
