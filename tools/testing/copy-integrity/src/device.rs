// SPDX-License-Identifier: GPL-2.0

//! The device under test, behind a trait: a real block device, or a regular file for the
//! read/write/copy_file_range() subset (the in-memory fake for tests is in `fake.rs`).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use blkcopy::range::Range;
use blkcopy::sys::{self, Outcome};

/// What a device can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    /// BLKCOPY, BLKDISCARD and the block device rules of copy_file_range() apply.
    pub block_rules: bool,
    /// The device offloads copies (`queue/copy_max_bytes` > 0).
    pub can_offload: bool,
    /// The device accepts discards (`queue/discard_max_bytes` > 0).
    pub discard: bool,
}

/// The operations the tester performs. Buffers passed to reads and writes are aligned for
/// O_DIRECT and whole logical blocks.
pub trait Device: Send + Sync {
    /// Logical block size in bytes.
    fn block_size(&self) -> u64;
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Capabilities.
    fn caps(&self) -> Caps;
    /// Reads `buf.len()` bytes at `off`.
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
    /// Writes `buf` at `off`.
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()>;
    /// One BLKCOPY call.
    fn blkcopy(&self, ranges: &[Range], offload_only: bool) -> Outcome;
    /// One copy_file_range() call from the device to itself; returns what it returned.
    fn copy_file_range(&self, src: u64, dst: u64, len: u64) -> io::Result<u64>;
    /// BLKDISCARD of `len` bytes at `off`.
    fn discard(&self, off: u64, len: u64) -> io::Result<()>;
    /// Turns fault injection on or off for the calling thread's calls that follow, when the
    /// device injects faults (`--faults`); the runner turns it on around each call under test
    /// and off before it checks the outcome.
    fn inject(&self, _on: bool) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// This thread's `/proc/thread-self/make-it-fail`, opened while it was 0: opening it while
    /// it is 1 could fail.
    static MAKE_IT_FAIL: RefCell<Option<File>> = const { RefCell::new(None) };
}

/// Sets `make-it-fail` of the calling thread: with it set, the kernel's fault injection
/// (failslab, fail_page_alloc, fail_make_request) with `task-filter` set fails this thread's
/// allocations and bios at the probability the caller configured. Writing it allocates nothing,
/// so turning it off cannot fail because it is on.
fn make_it_fail(on: bool) -> io::Result<()> {
    MAKE_IT_FAIL.with(|cell| {
        let mut file = cell.borrow_mut();
        if file.is_none() {
            *file = Some(
                OpenOptions::new()
                    .write(true)
                    .open("/proc/thread-self/make-it-fail")?,
            );
        }
        let value: &[u8] = if on { b"1" } else { b"0" };
        match file.as_ref() {
            Some(f) => f.write_at(value, 0).map(|_| ()),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    })
}

/// A block device opened O_RDWR|O_DIRECT, or a regular file opened O_RDWR.
pub struct RealDevice {
    file: File,
    bs: u64,
    size: u64,
    caps: Caps,
    /// Calls under test run with `make-it-fail` set (`inject`).
    faults: bool,
}

/// The `queue` directory in sysfs of the disk of the block device `rdev` (for a partition,
/// of its disk).
fn queue_dir(rdev: u64) -> io::Result<PathBuf> {
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let dev = Path::new("/sys/dev/block")
        .join(format!("{major}:{minor}"))
        .canonicalize()?;
    Ok(if dev.join("partition").exists() {
        dev.parent().unwrap_or(&dev).join("queue")
    } else {
        dev.join("queue")
    })
}

/// Reads a number from a sysfs file; 0 when it is missing.
fn sysfs_number(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl RealDevice {
    /// Opens `path`. A regular file gets blocks of `block_size` bytes (default 4096) and no
    /// O_DIRECT, as not every file system supports it; for a block device `block_size` must
    /// be unset or equal the logical block size.
    pub fn open(path: &str, block_size: Option<u64>) -> Result<Self, String> {
        let err = |e: io::Error| format!("{path}: {e}");
        let meta = std::fs::metadata(path).map_err(err)?;
        if meta.file_type().is_block_device() {
            let file = sys::open(path, true, true).map_err(err)?;
            let bs = sys::logical_block_size(&file).map_err(err)?;
            if block_size.is_some_and(|b| b != bs) {
                return Err(format!("{path}: the logical block size is {bs}"));
            }
            let queue = queue_dir(meta.rdev()).map_err(err)?;
            Ok(RealDevice {
                bs,
                size: sys::device_size(&file).map_err(err)?,
                caps: Caps {
                    block_rules: true,
                    can_offload: sysfs_number(&queue.join("copy_max_bytes")) > 0,
                    discard: sysfs_number(&queue.join("discard_max_bytes")) > 0,
                },
                file,
                faults: false,
            })
        } else if meta.file_type().is_file() {
            Ok(RealDevice {
                file: sys::open(path, true, false).map_err(err)?,
                bs: block_size.unwrap_or(4096),
                size: meta.len(),
                caps: Caps::default(),
                faults: false,
            })
        } else {
            Err(format!("{path}: not a block device or a regular file"))
        }
    }

    /// Makes `inject` set the calling thread's `make-it-fail`; fails when it cannot be written
    /// (a kernel without CONFIG_FAULT_INJECTION, or no CAP_SYS_RESOURCE).
    pub fn with_faults(mut self) -> Result<Self, String> {
        make_it_fail(false)
            .map_err(|e| format!("--faults: cannot write /proc/thread-self/make-it-fail: {e}"))?;
        self.faults = true;
        Ok(self)
    }
}

impl Device for RealDevice {
    fn block_size(&self) -> u64 {
        self.bs
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn caps(&self) -> Caps {
        self.caps
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, off)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        self.file.write_all_at(buf, off)
    }

    fn blkcopy(&self, ranges: &[Range], offload_only: bool) -> Outcome {
        sys::blkcopy(&self.file, ranges, offload_only)
    }

    fn copy_file_range(&self, src: u64, dst: u64, len: u64) -> io::Result<u64> {
        let len = usize::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        sys::copy_file_range_once(&self.file, src, &self.file, dst, len).map(|n| n as u64)
    }

    fn discard(&self, off: u64, len: u64) -> io::Result<()> {
        sys::discard(&self.file, off, len)
    }

    fn inject(&self, on: bool) -> io::Result<()> {
        match self.faults {
            true => make_it_fail(on),
            false => Ok(()),
        }
    }
}
