// SPDX-License-Identifier: GPL-2.0

//! Block devices.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)

use crate::{
    bindings,
    device::Device,
    error::{
        to_result,
        Result, //
    },
    fs::file::LocalFile,
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            Relaxed, //
        }, //
    },
    types::Opaque, //
};

/// A block device, a whole disk or a partition: `struct block_device`.
///
/// Only ever used by reference, borrowed from C code that holds the device open, or from a
/// holder of a reference to its `struct device` ([`BlockDevice::get_ref`]).
///
/// # Invariants
///
/// `self.0` is a valid `struct block_device` that stays open, or referenced, for the lifetime of
/// the reference.
#[repr(transparent)]
pub struct BlockDevice(Opaque<bindings::block_device>);

impl BlockDevice {
    /// Borrows a block device from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct block_device` that stays open, or referenced, for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::block_device) -> &'a Self {
        // SAFETY: `BlockDevice` is `repr(transparent)` over the C struct, and by the safety
        // requirements `ptr` is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer to the C `struct block_device`.
    pub fn as_raw(&self) -> *mut bindings::block_device {
        self.0.get()
    }

    /// A reference to the block device's `struct device`: until it is dropped, the device, its
    /// disk and the disk's queue are not freed, even when the disk is removed.
    ///
    /// Dropping the last reference frees the disk, which may sleep: drop it in process context.
    pub fn get_ref(&self) -> ARef<Device> {
        // SAFETY: By the type invariant the device is valid, so `bd_device` is a registered,
        // reference-counted `struct device` whose count is not zero.
        unsafe { Device::get_device(&raw mut (*self.as_raw()).bd_device) }
    }

    /// Whether the disk is live: not being removed (`del_gendisk()`) or gone. Hidden disks,
    /// such as NVMe multipath paths, included (`disk_live()` is false for them).
    pub fn is_live(&self) -> bool {
        // SAFETY: The disk is valid (see [`BlockDevice::disk`]) and so is its `state`, which C
        // changes only with atomic bit operations: no data race.
        let state = unsafe { Atomic::<usize>::from_ptr(&raw mut (*self.disk()).state) };
        state.load(Relaxed) & (1 << bindings::GD_DEAD) == 0
    }

    /// The queue limits of the disk this device belongs to, read now.
    ///
    /// A snapshot by value, as `queue_limits_commit_update()` may overwrite the disk's limits at
    /// any time: each field is read once, so it is either the old value or the new one, but two
    /// fields may come from two different updates.
    pub fn limits(&self) -> QueueLimits {
        // SAFETY: By the type invariant the device is valid and open or referenced, so its disk
        // and queue exist; the limits live as long as the queue.
        let lim = unsafe { bindings::bdev_limits(self.as_raw()) };
        // Reads a field once, as `READ_ONCE()`: writers store under the queue's limits lock,
        // which readers do not take.
        macro_rules! read_once {
            ($field:ident) => {
                // SAFETY: `lim` is valid (see above). A volatile read is the kernel's
                // `READ_ONCE()`, which tolerates a racing store as the limits' readers in C do.
                unsafe { (&raw const (*lim).$field).read_volatile() }
            };
        }
        QueueLimits {
            logical_block_size: read_once!(logical_block_size),
            max_copy_sectors: read_once!(max_copy_sectors),
            max_copy_src_segments: read_once!(max_copy_src_segments),
            max_copy_dst_segments: read_once!(max_copy_dst_segments),
            copy_domain: read_once!(copy_domain),
        }
    }

    /// The logical block size in bytes.
    pub fn logical_block_size(&self) -> u32 {
        self.limits().logical_block_size
    }

    /// The size of the device in bytes.
    pub fn nr_bytes(&self) -> u64 {
        // SAFETY: By the type invariant the device is valid.
        let bytes = unsafe { bindings::bdev_nr_bytes(self.as_raw()) };
        // A device size is never negative.
        bytes.try_into().unwrap_or(0)
    }

    /// Whether writes to the device are refused, for the device itself or its whole disk.
    pub fn is_read_only(&self) -> bool {
        // SAFETY: By the type invariant the device is valid.
        unsafe { bindings::bdev_read_only(self.as_raw()) }
    }

    /// Whether the device is an active swap device that user space must not write to.
    ///
    /// True from `swapon()` to `swapoff()`, except for the swap device that user space
    /// hibernation saves its image to. `write()` to such a device fails with `ETXTBSY`; every
    /// other way user space writes to a block device must refuse it the same way.
    pub fn is_swap_busy(&self) -> bool {
        // SAFETY: By the type invariant the device is valid and open.
        unsafe { bindings::bdev_swap_busy(self.as_raw()) }
    }

    /// The first sector of the device on its disk: 0 for a whole disk.
    pub fn start_sector(&self) -> u64 {
        // SAFETY: By the type invariant the device is valid; the start of a partition is set
        // before the partition can be opened and only changes while it is not open.
        unsafe { (*self.as_raw()).bd_start_sect }
    }

    /// Whether `self` and `other` are (partitions of) the same disk.
    pub fn same_disk(&self, other: &BlockDevice) -> bool {
        // SAFETY: By the type invariant both devices are valid; `bd_disk` is set when a device
        // is created and never changes.
        unsafe { (*self.as_raw()).bd_disk == (*other.as_raw()).bd_disk }
    }

    /// The device number (`dev_t`).
    pub fn dev(&self) -> u32 {
        // SAFETY: By the type invariant the device is valid; `bd_dev` never changes.
        unsafe { (*self.as_raw()).bd_dev }
    }

    /// The disk this device belongs to.
    pub fn disk(&self) -> *mut bindings::gendisk {
        // SAFETY: By the type invariant the device is valid; `bd_disk` never changes, and the
        // disk lives at least as long as the open or referenced device.
        unsafe { (*self.as_raw()).bd_disk }
    }

    /// Whether the disk's driver takes bios itself (`submit_bio`, as stacking drivers do)
    /// rather than requests from a queue.
    pub fn is_bio_based(&self) -> bool {
        // SAFETY: The disk is valid (see [`BlockDevice::disk`]); its operations are set before
        // it is added and never change.
        unsafe { (*(*self.disk()).fops).submit_bio.is_some() }
    }

    /// Whether the disk of this device can execute copies whose source ranges lie on `src`:
    /// always within one disk, between two disks only when their drivers put them in one copy
    /// domain (`queue_limits.copy_domain`) and their logical blocks are of one size.
    ///
    /// Compares data the driver set, without calling into it: this runs where a driver must not
    /// be called (under a spinlock) and on disks that may be going away.
    pub fn can_copy_from(&self, src: &BlockDevice) -> bool {
        if self.same_disk(src) {
            return true;
        }
        // A source whose copies were turned off (`copy_max_bytes` 0) keeps its domain but is
        // not copied from.
        let (lim, src_lim) = (self.limits(), src.limits());
        lim.copy_domain != 0
            && lim.copy_domain == src_lim.copy_domain
            && lim.logical_block_size == src_lim.logical_block_size
            && src_lim.max_copy_sectors != 0
    }

    /// Whether the page cache holds a page of the `len` bytes at `pos`.
    ///
    /// A snapshot, as the walk of the page cache is: a page added meanwhile is the caller's to
    /// handle, as for direct I/O. A device whose cache holds no page at all (used only for direct
    /// I/O, and closed by everyone else since) is answered without a walk.
    pub fn has_cached_pages(&self, pos: u64, len: u64) -> bool {
        // SAFETY: By the type invariant the device, and so its page cache mapping, is valid.
        let mapping = unsafe { (*self.as_raw()).bd_mapping };
        // This `read_volatile` is intended to correspond to a READ_ONCE call, as C reads
        // `nrpages` without the lock it is changed under (`mapping_needs_writeback()`).
        //
        // SAFETY: The mapping is valid (above); `nrpages` is an aligned `unsigned long`.
        if unsafe { (&raw const (*mapping).nrpages).read_volatile() } == 0 {
            return false;
        }
        let (start, end) = byte_range(pos, len);
        // SAFETY: The mapping is valid (above).
        unsafe { bindings::filemap_range_has_page(mapping, start, end) }
    }

    /// Whether writing back the page cache of the `len` bytes at `pos` would have to wait: a page
    /// there is dirty, under writeback or locked. For callers that must not wait (io_uring's
    /// nonblocking issue), to find out whether [`BlockDevice::write_back_range`] would.
    pub fn needs_write_back(&self, pos: u64, len: u64) -> bool {
        if !self.has_cached_pages(pos, len) {
            return false;
        }
        let (start, end) = byte_range(pos, len);
        // SAFETY: By the type invariant the device, and so its page cache mapping, is valid.
        unsafe { bindings::filemap_range_has_writeback((*self.as_raw()).bd_mapping, start, end) }
    }

    /// Writes back the dirty page cache pages of `len` bytes at `pos` and waits for them.
    pub fn write_back_range(&self, pos: u64, len: u64) -> Result {
        let (start, end) = byte_range(pos, len);
        // SAFETY: By the type invariant the device, and so its page cache mapping, is valid.
        to_result(unsafe {
            bindings::filemap_write_and_wait_range((*self.as_raw()).bd_mapping, start, end)
        })
    }

    /// Writes back and then drops the page cache pages of `len` bytes at `pos`, as before and
    /// after a direct write, so that later buffered reads see what is on the device.
    pub fn invalidate_range(&self, pos: u64, len: u64) -> Result {
        let (start, end) = byte_range(pos, len);
        // SAFETY: By the type invariant the device, and so its page cache mapping, is valid.
        to_result(unsafe {
            bindings::filemap_invalidate_pages((*self.as_raw()).bd_mapping, start, end, false)
        })
    }
}

/// The queue limits a copy depends on, read from `struct queue_limits` by
/// [`BlockDevice::limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Smallest unit the device addresses, in bytes.
    pub logical_block_size: u32,
    /// Longest copy the device executes at once, in sectors; 0 when it cannot copy.
    pub max_copy_sectors: u32,
    /// Most source ranges in one copy.
    pub max_copy_src_segments: u16,
    /// Most destination ranges in one copy.
    pub max_copy_dst_segments: u16,
    /// The copy domain (see `blk_alloc_copy_domain()`), 0 for none.
    pub copy_domain: u64,
}

/// Reports that the page cache of the block device `file` is open on may hold stale pages after
/// a write through `file` that went around the cache, as direct I/O does when it cannot drop
/// them ([`BlockDevice::invalidate_range`] failed): the next `fsync()` of the device returns
/// `EIO`, and the kernel log says so (rate-limited).
pub fn warn_stale_pagecache(file: &LocalFile) {
    // SAFETY: `file` is valid for the duration of the call, which is all the function needs.
    unsafe { bindings::dio_warn_stale_pagecache(file.as_ptr()) }
}

/// The first and last byte of a non-empty range, as page cache functions take them.
fn byte_range(pos: u64, len: u64) -> (i64, i64) {
    let last = pos.saturating_add(len.max(1) - 1);
    (
        pos.try_into().unwrap_or(i64::MAX),
        last.try_into().unwrap_or(i64::MAX),
    )
}
