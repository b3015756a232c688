// SPDX-License-Identifier: GPL-2.0

//! An in-memory fake device with injectable bugs, for host-side tests.

use std::io;
use std::sync::Mutex;

use blkcopy::range::Range;
use blkcopy::sys::Outcome;

use crate::device::{Caps, Device};
use crate::ops::{blkcopy_error, cfr_outcome};

/// A bug to inject into [`MemDevice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Copies are correct.
    None,
    /// A copied range longer than this many bytes loses its last block (but reports it).
    DropLastBlock(u64),
    /// Each copied range also copies the block after its source to the block after its
    /// destination: data leaks outside the destination.
    LeakPastEnd,
}

/// An in-memory device that follows the kernel's rules, for host-side tests. Copies go block
/// by block, releasing the lock in between, so that racing writes interleave with them.
pub struct MemDevice {
    data: Mutex<Vec<u8>>,
    bs: u64,
    caps: Caps,
    fault: Fault,
}

impl MemDevice {
    /// A zeroed device of `size` bytes with logical blocks of `bs` bytes.
    pub fn new(size: u64, bs: u64, can_offload: bool, fault: Fault) -> Self {
        MemDevice {
            data: Mutex::new(vec![0; size as usize]),
            bs,
            caps: Caps {
                block_rules: true,
                can_offload,
                discard: true,
            },
            fault,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // Plain bytes: a panicking holder cannot leave them inconsistent.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn copy_block(&self, src: u64, dst: u64) {
        let (src, dst, bs) = (src as usize, dst as usize, self.bs as usize);
        self.lock().copy_within(src..src + bs, dst);
        std::thread::yield_now();
    }

    /// Copies `len` bytes from `src` to `dst`, with the injected bug.
    fn copy(&self, src: u64, dst: u64, len: u64) {
        let blocks = len / self.bs;
        let skip_last = matches!(self.fault, Fault::DropLastBlock(x) if len > x);
        for k in 0..blocks.saturating_sub(u64::from(skip_last)) {
            self.copy_block(src + k * self.bs, dst + k * self.bs);
        }
        let size = self.size();
        if self.fault == Fault::LeakPastEnd && src + len < size && dst + len < size {
            self.copy_block(src + len, dst + len);
        }
    }

    fn check(&self, off: u64, len: u64) -> io::Result<()> {
        if !(off | len).is_multiple_of(self.bs)
            || off.checked_add(len).is_none_or(|e| e > self.size())
        {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(())
    }
}

impl Device for MemDevice {
    fn block_size(&self) -> u64 {
        self.bs
    }

    fn size(&self) -> u64 {
        self.lock().len() as u64
    }

    fn caps(&self) -> Caps {
        self.caps
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.check(off, buf.len() as u64)?;
        buf.copy_from_slice(&self.lock()[off as usize..off as usize + buf.len()]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        self.check(off, buf.len() as u64)?;
        self.lock()[off as usize..off as usize + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn blkcopy(&self, ranges: &[Range], offload_only: bool) -> Outcome {
        let fail = |e| Outcome {
            copied: vec![0; ranges.len()],
            offloaded: false,
            error: Some(io::Error::from_raw_os_error(e)),
        };
        if let Some(e) = blkcopy_error(ranges, self.bs, self.size()) {
            return fail(e);
        }
        if offload_only && !self.caps.can_offload {
            return fail(libc::EOPNOTSUPP);
        }
        for r in ranges {
            self.copy(r.src, r.dst, r.len);
        }
        Outcome {
            copied: ranges.iter().map(|r| r.len).collect(),
            offloaded: self.caps.can_offload,
            error: None,
        }
    }

    fn copy_file_range(&self, src: u64, dst: u64, len: u64) -> io::Result<u64> {
        let count = cfr_outcome(src, dst, len, self.bs, self.size())
            .map_err(io::Error::from_raw_os_error)?;
        self.copy(src, dst, count);
        Ok(count)
    }

    fn discard(&self, off: u64, len: u64) -> io::Result<()> {
        self.check(off, len)?;
        // Zero every other block: a discard may or may not zero what it covers.
        let mut data = self.lock();
        for k in (0..len / self.bs).step_by(2) {
            let at = (off + k * self.bs) as usize;
            data[at..at + self.bs as usize].fill(0);
        }
        Ok(())
    }
}
