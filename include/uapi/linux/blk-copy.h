/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * BLKCOPY: copy ranges of a block device to other ranges of the same device,
 * offloaded to the device when it can copy internally.
 *
 * See Documentation/block/copy-offload.rst.
 */
#ifndef _UAPI_LINUX_BLK_COPY_H
#define _UAPI_LINUX_BLK_COPY_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct blkcopy_range - one range of a BLKCOPY call
 * @src: source offset in bytes, relative to the device (or partition) the
 *	ioctl is called on
 * @dst: destination offset in bytes
 * @len: length in bytes
 * @copied: output: bytes of this range that were copied
 *
 * @src, @dst and @len must be multiples of the logical block size, @len must
 * not be zero, both ranges must lie inside the device, and no destination
 * range may overlap a source range or another destination range.
 */
struct blkcopy_range {
	__u64 src;
	__u64 dst;
	__u64 len;
	__u64 copied;
};

/**
 * struct blkcopy - argument of BLKCOPY
 * @nr_ranges: number of entries in @ranges, 1 to %BLKCOPY_MAX_RANGES
 * @flags: %BLKCOPY_OFFLOAD_ONLY or 0
 * @out_flags: output: %BLKCOPY_OFFLOADED when the device copied all of it
 * @reserved: must be zero
 * @ranges: the ranges, copied in order
 *
 * The ranges add up to at most %BLKCOPY_MAX_BYTES. On return each range's
 * @copied tells how much of it was copied: a copy that fails stops there,
 * and every byte before that point was copied.
 */
struct blkcopy {
	__u32 nr_ranges;
	__u32 flags;
	__u32 out_flags;
	__u32 reserved[5];
	struct blkcopy_range ranges[];
};

/* Fail with EOPNOTSUPP instead of copying through host memory. */
#define BLKCOPY_OFFLOAD_ONLY	_BITUL(0)

/* Set in out_flags when the device did the whole copy. */
#define BLKCOPY_OFFLOADED	_BITUL(0)

#define BLKCOPY_MAX_RANGES	256
#define BLKCOPY_MAX_BYTES	_BITULL(32)

/*
 * At most this many bytes in one BLOCK_URING_CMD_COPY (linux/blkdev.h),
 * whose CQE returns the bytes copied in an int; a power of two, so that a
 * longer copy cut into commands of this size stays aligned to any logical
 * block size.
 */
#define BLKCOPY_URING_MAX_BYTES	_BITULL(30)

/*
 * Errors: EBADF without write access, EPERM on a read-only device, ETXTBSY on
 * an active swap device (as for write()), EINVAL for unknown flags, non-zero
 * reserved fields or bad ranges, EFAULT for a bad pointer, EOPNOTSUPP with
 * BLKCOPY_OFFLOAD_ONLY when the device cannot offload, or the I/O error that
 * stopped the copy. BLOCK_URING_CMD_COPY returns the same ones in its CQE,
 * and ECANCELED when its ring or task went away during the copy.
 */
#define BLKCOPY _IOWR(0x12, 129, struct blkcopy)

#endif /* _UAPI_LINUX_BLK_COPY_H */
