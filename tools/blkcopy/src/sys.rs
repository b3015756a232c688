// SPDX-License-Identifier: GPL-2.0

//! The kernel interfaces blkcopy uses: BLKCOPY and its io_uring command BLOCK_URING_CMD_COPY,
//! copy_file_range(), O_DIRECT reads, and the block device ioctls BLKSSZGET, BLKGETSIZE64 and
//! BLKDISCARD.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;

use crate::range::Range;

/// `_IOWR(0x12, 129, struct blkcopy)`, `struct blkcopy` being 32 bytes (uapi/linux/blk-copy.h).
const BLKCOPY: u64 = (3 << 30) | (32 << 16) | (0x12 << 8) | 129;
const BLKCOPY_OFFLOAD_ONLY: u32 = 1;
const BLKCOPY_OFFLOADED: u32 = 1;
/// `_IO(0x12, 104)`: logical block size, an int.
const BLKSSZGET: u64 = (0x12 << 8) | 104;
/// `_IOR(0x12, 114, size_t)`: size in bytes, a u64.
const BLKGETSIZE64: u64 = (2 << 30) | (8 << 16) | (0x12 << 8) | 114;
/// `_IO(0x12, 119)`: discard a byte range, two u64s.
const BLKDISCARD: u64 = (0x12 << 8) | 119;
/// Ranges and bytes one BLKCOPY call may carry.
pub const BLKCOPY_MAX_RANGES: usize = 256;
pub const BLKCOPY_MAX_BYTES: u64 = 1 << 32;
/// `_IO(0x12, 2)`: BLKCOPY as an io_uring command (uapi/linux/blkdev.h).
const BLOCK_URING_CMD_COPY: u32 = (0x12 << 8) | 2;
/// Bytes one BLOCK_URING_CMD_COPY may carry (`BLKCOPY_URING_MAX_BYTES`): its CQE returns them
/// in an int.
pub const BLKCOPY_URING_MAX_BYTES: u64 = 1 << 30;

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

/// The `struct blkcopy` of one call: `nr_ranges`, `flags`, `out_flags`, `reserved[5]` (u32 each),
/// then per range `src`, `dst`, `len`, `copied` (u64 each). Words of u64 keep it aligned; the
/// kernel reads it and writes `copied` and `out_flags` back in place.
struct BlkcopyArg(Vec<u64>);

impl BlkcopyArg {
    fn new(ranges: &[Range], offload_only: bool) -> Self {
        let mut buf = vec![0u64; 4 + 4 * ranges.len()];
        let flags = if offload_only {
            BLKCOPY_OFFLOAD_ONLY
        } else {
            0
        };
        buf[0] = ranges.len() as u64 | (u64::from(flags) << 32);
        for (i, r) in ranges.iter().enumerate() {
            buf[4 + 4 * i..8 + 4 * i].copy_from_slice(&[r.src, r.dst, r.len, 0]);
        }
        BlkcopyArg(buf)
    }

    fn as_mut_ptr(&mut self) -> *mut u64 {
        self.0.as_mut_ptr()
    }

    /// Each range's `copied`.
    fn copied(&self) -> Vec<u64> {
        (0..(self.0.len() - 4) / 4)
            .map(|i| self.0[7 + 4 * i])
            .collect()
    }

    /// Whether `out_flags` says the device copied it all.
    fn offloaded(&self) -> bool {
        (self.0[1] as u32) & BLKCOPY_OFFLOADED != 0
    }
}

/// Copies `ranges` (at most [`BLKCOPY_MAX_RANGES`]) of `file` with one BLKCOPY call.
pub fn blkcopy(file: &File, ranges: &[Range], offload_only: bool) -> Outcome {
    let mut arg = BlkcopyArg::new(ranges, offload_only);
    // SAFETY: `arg` holds a struct blkcopy with `ranges.len()` ranges, which the kernel reads
    // and updates in place.
    let ret = unsafe { libc::ioctl(file.as_raw_fd(), BLKCOPY as _, arg.as_mut_ptr()) };
    let error = (ret < 0).then(io::Error::last_os_error);
    Outcome {
        copied: arg.copied(),
        offloaded: arg.offloaded(),
        error,
    }
}

/// What a run of BLOCK_URING_CMD_COPY commands did.
pub struct UringOutcome {
    /// Bytes copied, over all commands.
    pub copied: u64,
    /// Whether the device copied every command all by itself.
    pub offloaded: bool,
    /// Commands that completed.
    pub completed: usize,
    /// The error of the first command that failed, if one did; no command was issued after it.
    pub error: Option<io::Error>,
}

/// Copies within `file` with one BLOCK_URING_CMD_COPY per element of `commands` (each at most
/// [`BLKCOPY_MAX_RANGES`] ranges and [`BLKCOPY_URING_MAX_BYTES`] bytes), `queue_depth` of them
/// in flight at once, in order of issue. After a failed command no more are issued and those in
/// flight are reaped. `progress` is called with the bytes copied so far as commands complete.
pub fn blkcopy_uring(
    file: &File,
    commands: &[Vec<Range>],
    queue_depth: usize,
    offload_only: bool,
    mut progress: impl FnMut(u64),
) -> io::Result<UringOutcome> {
    let queue_depth = queue_depth.clamp(1, 4096);
    let mut ring: io_uring::IoUring =
        io_uring::IoUring::new(queue_depth.next_power_of_two() as u32)?;
    // The argument of the command in flight in each slot; a slot's index is its user_data. The
    // words of a slot's Vec do not move while it sits in its slot.
    let mut slots: Vec<Option<BlkcopyArg>> = (0..queue_depth).map(|_| None).collect();
    let fd = io_uring::types::Fd(file.as_raw_fd());
    let mut out = UringOutcome {
        copied: 0,
        offloaded: true,
        completed: 0,
        error: None,
    };
    let (mut next, mut in_flight) = (0, 0);
    loop {
        while out.error.is_none() && next < commands.len() {
            let Some(slot) = slots.iter().position(Option::is_none) else {
                break;
            };
            let arg = slots[slot].insert(BlkcopyArg::new(&commands[next], offload_only));
            let sqe = io_uring::opcode::UringCmd16::new(fd, BLOCK_URING_CMD_COPY)
                .addr(Some(arg.as_mut_ptr() as u64))
                .build()
                .user_data(slot as u64);
            // SAFETY: the argument the entry points to stays in its slot, unmoved, until the
            // command's completion is reaped below.
            if unsafe { ring.submission().push(&sqe) }.is_err() {
                slots[slot] = None;
                break;
            }
            next += 1;
            in_flight += 1;
        }
        if in_flight == 0 {
            break;
        }
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            let Some(arg) = slots
                .get_mut(cqe.user_data() as usize)
                .and_then(Option::take)
            else {
                continue;
            };
            in_flight -= 1;
            out.completed += 1;
            out.copied += arg.copied().iter().sum::<u64>();
            out.offloaded &= cqe.result() >= 0 && arg.offloaded();
            if cqe.result() < 0 && out.error.is_none() {
                out.error = Some(io::Error::from_raw_os_error(-cqe.result()));
            }
        }
        progress(out.copied);
    }
    Ok(out)
}

/// One copy_file_range() call: copies at most `len` bytes at `off_in` of `src` to `off_out` of
/// `dst`, and returns what the kernel returned (the bytes copied, 0 at the end of the source).
pub fn copy_file_range_once(
    src: &File,
    off_in: u64,
    dst: &File,
    off_out: u64,
    len: usize,
) -> io::Result<usize> {
    let (mut off_in, mut off_out) = (off_in as i64, off_out as i64);
    // SAFETY: both offsets point to valid i64s; the descriptors are open.
    let ret = unsafe {
        libc::copy_file_range(
            src.as_raw_fd(),
            &mut off_in,
            dst.as_raw_fd(),
            &mut off_out,
            len,
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Copies one range from `src` to `dst` with copy_file_range(); returns the bytes copied and
/// the error that stopped it, if one did.
pub fn copy_file_range(src: &File, dst: &File, r: &Range) -> (u64, Option<io::Error>) {
    let mut done = 0;
    while done < r.len {
        let want = (r.len - done).min(BLKCOPY_MAX_BYTES) as usize;
        match copy_file_range_once(src, r.src + done, dst, r.dst + done, want) {
            Ok(0) => {
                return (
                    done,
                    Some(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of device",
                    )),
                )
            }
            Ok(n) => done += n as u64,
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// The logical block size of the block device `file` (BLKSSZGET).
pub fn logical_block_size(file: &File) -> io::Result<u64> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int to the pointer.
    let ret = unsafe { libc::ioctl(file.as_raw_fd(), BLKSSZGET as _, &mut size) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size as u64)
}

/// The size in bytes of the block device `file` (BLKGETSIZE64).
pub fn device_size(file: &File) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 to the pointer.
    let ret = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64 as _, &mut size) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

/// Discards `len` bytes at `offset` of the block device `file` (BLKDISCARD).
pub fn discard(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let range = [offset, len];
    // SAFETY: BLKDISCARD reads two u64s from the pointer.
    let ret = unsafe { libc::ioctl(file.as_raw_fd(), BLKDISCARD as _, range.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A zeroed buffer aligned to 4096 bytes, for `O_DIRECT`.
pub struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

// SAFETY: `Aligned` owns its allocation, like a `Vec<u8>`.
unsafe impl Send for Aligned {}

impl Aligned {
    /// Allocates `len` (non-zero) bytes.
    pub fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("valid layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Aligned { ptr, layout }
    }

    /// The whole buffer.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is valid for `layout.size()` bytes and owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }

    /// The whole buffer, read-only.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `layout.size()` bytes and owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
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
        src.read_exact_at(&mut a.as_mut_slice()[..n], src_off + done)?;
        dst.read_exact_at(&mut b.as_mut_slice()[..n], dst_off + done)?;
        if a.as_slice()[..n] != b.as_slice()[..n] {
            return Ok(false);
        }
        done += n as u64;
    }
    Ok(true)
}
