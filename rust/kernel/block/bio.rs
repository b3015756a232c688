// SPDX-License-Identifier: GPL-2.0

//! Pieces of block I/O: data segments and copy ranges.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)

use crate::{
    bindings,
    error::{
        code::EINVAL,
        Result, //
    }, //
};
use core::marker::PhantomData;

/// A contiguous piece of the memory a read or write request transfers, within one page.
///
/// # Invariants
///
/// `bvec` describes `bv_len` bytes at `bv_offset` of `bv_page`, all inside that page, memory
/// that belongs to a request the driver owns for `'a`.
pub struct Segment<'a> {
    bvec: bindings::bio_vec,
    _p: PhantomData<&'a mut ()>,
}

impl Segment<'_> {
    /// Wraps one single-page segment of a request.
    ///
    /// # Safety
    ///
    /// `bvec` must satisfy the type invariants for `'a`.
    pub(crate) unsafe fn new(bvec: bindings::bio_vec) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            bvec,
            _p: PhantomData,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bvec.bv_len as usize
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` with a pointer to the segment's bytes, mapped for the current task.
    fn with_mapped<T>(&self, f: impl FnOnce(*mut u8) -> T) -> T {
        // SAFETY: By the type invariants the page is valid.
        let base = unsafe { bindings::kmap_local_page(self.bvec.bv_page) };
        // SAFETY: By the type invariants `bv_offset` lies inside the page.
        let res = f(unsafe { base.cast::<u8>().add(self.bvec.bv_offset as usize) });
        // SAFETY: Mapped above; nothing mapped since is still mapped (closures unmap in
        // reverse order).
        unsafe { bindings::kunmap_local(base) };
        res
    }

    /// Copies `dst.len()` bytes, starting `start` bytes into the segment, into `dst`.
    ///
    /// Fails with `EINVAL` if the range does not lie inside the segment.
    pub fn read_at(&self, start: usize, dst: &mut [u8]) -> Result {
        self.check(start, dst.len())?;
        self.with_mapped(|src| {
            // SAFETY: `check` keeps the range inside the segment, valid by the type invariants;
            // `dst` is a distinct Rust slice.
            unsafe { core::ptr::copy_nonoverlapping(src.add(start), dst.as_mut_ptr(), dst.len()) }
        });
        Ok(())
    }

    /// Copies `src` into the segment, starting `start` bytes into it.
    ///
    /// Fails with `EINVAL` if the range does not lie inside the segment.
    pub fn write_at(&mut self, start: usize, src: &[u8]) -> Result {
        self.check(start, src.len())?;
        self.with_mapped(|dst| {
            // SAFETY: As in `read_at`.
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst.add(start), src.len()) }
        });
        Ok(())
    }

    /// Fills `len` bytes of the segment, starting `start` bytes into it, with zeroes.
    pub fn fill_zero(&mut self, start: usize, len: usize) -> Result {
        self.check(start, len)?;
        self.with_mapped(|dst| {
            // SAFETY: As in `read_at`.
            unsafe { core::ptr::write_bytes(dst.add(start), 0, len) }
        });
        Ok(())
    }

    fn check(&self, start: usize, len: usize) -> Result {
        match start.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(EINVAL),
        }
    }
}

/// One range of a copy offload request: sectors of the device the request was queued on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRange {
    /// First sector.
    pub sector: u64,
    /// Length in sectors.
    pub nr_sectors: u32,
}
