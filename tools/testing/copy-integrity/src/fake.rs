// SPDX-License-Identifier: GPL-2.0

//! An in-memory fake device with injectable bugs, for host-side tests.

use std::cell::Cell;
use std::io;
use std::sync::Mutex;

use blkcopy::range::Range;
use blkcopy::sys::Outcome;

use crate::device::{Caps, Device};
use crate::ops::{blkcopy_error, cfr_outcome};
use crate::rng::Rng;

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
    /// While the runner injects faults into a thread's calls (`Device::inject`), one call in
    /// four fails, as said.
    Injected(Injection),
}

/// How a call of a [`MemDevice`] with [`Fault::Injected`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// As the kernel may, with EIO or ENOMEM (or EOPNOTSUPP for an offload-only BLKCOPY): a
    /// read reads nothing; a write or a discard did any of its blocks; a copy copied the
    /// prefix it reports and any blocks after it; an invalid copy failed an allocation before
    /// its arguments were checked.
    Clean,
    /// As `Clean`, but a failed copy reports one block more than it copied.
    OverReport,
    /// As `Clean`, but with this errno.
    Errno(i32),
    /// As `Clean`, but a failed write leaves a block half written.
    TornWrite,
    /// As `Clean`, but a failed copy also writes the block after its first destination.
    LeakOnFailure,
    /// As `Clean`, but a failed copy writes the blocks after what it reports as copied from
    /// the wrong source block (the next one).
    Misplaced,
}

thread_local! {
    /// Whether the runner injects faults into this thread's calls.
    static INJECTING: Cell<bool> = const { Cell::new(false) };
}

/// An in-memory device that follows the kernel's rules, for host-side tests. Copies go block
/// by block, releasing the lock in between, so that racing writes interleave with them.
pub struct MemDevice {
    data: Mutex<Vec<u8>>,
    bs: u64,
    caps: Caps,
    fault: Fault,
    /// Decides which injected calls fail and how.
    rng: Mutex<Rng>,
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
            rng: Mutex::new(Rng::new(size ^ bs)),
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

    /// A random value in `0..n`.
    fn below(&self, n: u64) -> u64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).below(n)
    }

    /// How this call fails, if it does.
    fn failing(&self) -> Option<Injection> {
        match self.fault {
            Fault::Injected(how) if INJECTING.get() && self.below(4) == 0 => Some(how),
            _ => None,
        }
    }

    /// The error a failing call returns.
    fn failure(&self, how: Injection, offload_only: bool) -> io::Error {
        let errno = match (how, self.below(3)) {
            (Injection::Errno(e), _) => e,
            (_, 0) if offload_only => libc::EOPNOTSUPP,
            (_, 0 | 1) => libc::EIO,
            _ => libc::ENOMEM,
        };
        io::Error::from_raw_os_error(errno)
    }

    /// A failing copy of valid `ranges`: copies them up to a random block, and any blocks
    /// after it, as chunks after a failed one may complete. Returns the bytes it reports as
    /// copied and the error.
    fn fail_copy(&self, ranges: &[Range], how: Injection, offload_only: bool) -> (u64, io::Error) {
        let total: u64 = ranges.iter().map(|r| r.len).sum();
        let stop = self.below(total / self.bs) * self.bs;
        let mut at = 0;
        for r in ranges {
            for k in 0..r.len / self.bs {
                let here = at + k * self.bs;
                let over = how == Injection::OverReport && here == stop;
                let src = match how {
                    Injection::Misplaced if here >= stop && k + 1 < r.len / self.bs => {
                        r.src + (k + 1) * self.bs
                    }
                    _ => r.src + k * self.bs,
                };
                if here < stop || (!over && self.below(2) == 0) {
                    self.copy_block(src, r.dst + k * self.bs);
                }
            }
            at += r.len;
        }
        if let (Injection::LeakOnFailure, Some(r)) = (how, ranges.first()) {
            if r.src + r.len < self.size() && r.dst + r.len < self.size() {
                self.copy_block(r.src + r.len, r.dst + r.len);
            }
        }
        let reported = match how {
            Injection::OverReport => (stop + self.bs).min(total),
            _ => stop,
        };
        (reported, self.failure(how, offload_only))
    }
}

/// Spreads bytes reported as copied over `ranges` in order, as BLKCOPY reports them.
fn spread(ranges: &[Range], mut copied: u64) -> Vec<u64> {
    ranges
        .iter()
        .map(|r| {
            let done = copied.min(r.len);
            copied -= done;
            done
        })
        .collect()
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
        if let Some(how) = self.failing() {
            return Err(self.failure(how, false));
        }
        buf.copy_from_slice(&self.lock()[off as usize..off as usize + buf.len()]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        self.check(off, buf.len() as u64)?;
        let Some(how) = self.failing() else {
            self.lock()[off as usize..off as usize + buf.len()].copy_from_slice(buf);
            return Ok(());
        };
        let bs = self.bs as usize;
        for (k, block) in buf.chunks(bs).enumerate() {
            let at = off as usize + k * bs;
            if how == Injection::TornWrite && k == 0 {
                self.lock()[at..at + bs / 2].copy_from_slice(&block[..bs / 2]);
            } else if self.below(2) == 0 {
                self.lock()[at..at + bs].copy_from_slice(block);
            }
        }
        Err(self.failure(how, false))
    }

    fn blkcopy(&self, ranges: &[Range], offload_only: bool) -> Outcome {
        let fail = |e: io::Error, copied| Outcome {
            copied: spread(ranges, copied),
            offloaded: false,
            error: Some(e),
        };
        let failing = self.failing();
        if let Some(e) = blkcopy_error(ranges, self.bs, self.size()) {
            return match failing {
                // An allocation before the arguments are checked.
                Some(Injection::Errno(n)) => fail(io::Error::from_raw_os_error(n), 0),
                Some(_) => fail(io::Error::from_raw_os_error(libc::ENOMEM), 0),
                None => fail(io::Error::from_raw_os_error(e), 0),
            };
        }
        if offload_only && !self.caps.can_offload {
            return fail(io::Error::from_raw_os_error(libc::EOPNOTSUPP), 0);
        }
        if let Some(how) = failing {
            let (copied, e) = self.fail_copy(ranges, how, offload_only);
            return fail(e, copied);
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
        let failing = self.failing();
        let count = match cfr_outcome(src, dst, len, self.bs, self.size()) {
            Err(_) | Ok(0) if failing.is_some() => {
                return Err(io::Error::from_raw_os_error(libc::ENOMEM))
            }
            outcome => outcome.map_err(io::Error::from_raw_os_error)?,
        };
        if let Some(how) = failing {
            let range = [Range {
                src,
                dst,
                len: count,
            }];
            let (copied, e) = self.fail_copy(&range, how, false);
            // Half of the failures return what was copied (a short copy), unless that is
            // nothing.
            return match copied > 0 && self.below(2) == 0 && how != Injection::OverReport {
                true => Ok(copied),
                false => Err(e),
            };
        }
        self.copy(src, dst, count);
        Ok(count)
    }

    fn discard(&self, off: u64, len: u64) -> io::Result<()> {
        self.check(off, len)?;
        let failing = self.failing();
        // Zero every other block: a discard may or may not zero what it covers. A failed one
        // zeroes some of them.
        let mut data = self.lock();
        for k in (0..len / self.bs).step_by(2) {
            let at = (off + k * self.bs) as usize;
            if failing.is_none() || self.below(2) == 0 {
                data[at..at + self.bs as usize].fill(0);
            }
        }
        match failing {
            Some(how) => Err(self.failure(how, false)),
            None => Ok(()),
        }
    }

    fn inject(&self, on: bool) -> io::Result<()> {
        INJECTING.set(on);
        Ok(())
    }
}
