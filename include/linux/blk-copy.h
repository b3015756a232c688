/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Block layer copy offload: copy data between ranges of block devices
 * without moving it through host memory when the device can.
 *
 * The engine is implemented in Rust (block/copy/); this header is its C
 * interface. See Documentation/block/copy-offload.rst.
 */
#ifndef _LINUX_BLK_COPY_H
#define _LINUX_BLK_COPY_H

#include <linux/bits.h>
#include <linux/blk_types.h>
#include <linux/sizes.h>
#include <uapi/linux/blk-copy.h>

struct block_device;
struct request;

/**
 * struct blk_copy_seg - a byte range of a block device
 * @pos: offset from the start of the device (or partition), in bytes
 * @len: length in bytes
 */
struct blk_copy_seg {
	u64 pos;
	u64 len;
};

/**
 * struct blk_copy_params - one copy between two block devices
 * @src_bdev: device to read from
 * @src_segs: source segments, read in order as one stream
 * @nr_src_segs: number of source segments
 * @dst_bdev: device to write to, may be @src_bdev
 * @dst_segs: destination segments, written in order
 * @nr_dst_segs: number of destination segments
 * @end_io: called once when an asynchronous copy has finished; %NULL makes
 *	the copy synchronous. May be called from interrupt context.
 * @private: for the caller's use
 * @copied: output: bytes copied, counted from the start of the copy; on
 *	error, every byte before @copied was copied
 * @offloaded: output: how many of the first @copied bytes the devices
 *	copied; the kernel copied the rest
 * @status: output: 0 or a negative errno
 *
 * Both segment lists must add up to the same length. The engine copies the
 * segments before it returns, so they may live on the caller's stack; the
 * parameters themselves must stay valid until @end_io has been called.
 */
struct blk_copy_params {
	struct block_device *src_bdev;
	const struct blk_copy_seg *src_segs;
	unsigned int nr_src_segs;
	struct block_device *dst_bdev;
	const struct blk_copy_seg *dst_segs;
	unsigned int nr_dst_segs;
	void (*end_io)(struct blk_copy_params *params);
	void *private;
	u64 copied;
	u64 offloaded;
	int status;
};

/* blkdev_copy() @flags */
#define BLKDEV_COPY_NOFALLBACK	BIT(0)	/* offload only: no copy in the kernel */

#ifdef CONFIG_BLK_COPY_OFFLOAD
/* Documented in block/copy/blk-copy.c. */
int blkdev_copy(struct blk_copy_params *params, unsigned int flags);
#else
static inline int blkdev_copy(struct blk_copy_params *params,
			      unsigned int flags)
{
	return -EOPNOTSUPP;
}
#endif

/* Size of the buffer the kernel copies through when the devices cannot. */
#define BLK_COPY_ONLOAD_BUF_BYTES	SZ_1M

/**
 * struct blk_copy_range - one range of an offloaded copy request
 * @bdev: the device the range lies on (its disk is ->bd_disk; partition
 *	offsets are already added to @sector)
 * @sector: first sector
 * @nr_sectors: length in sectors
 */
struct blk_copy_range {
	struct block_device *bdev;
	u64 sector;
	u32 nr_sectors;
};

unsigned int blk_copy_nr_ranges(struct request *rq, enum req_op op);
void blk_copy_get_range(struct request *rq, enum req_op op, unsigned int idx,
			struct blk_copy_range *range);

#endif /* _LINUX_BLK_COPY_H */
