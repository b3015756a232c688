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

#include <linux/blk_types.h>
#include <uapi/linux/blk-copy.h>

struct bio;
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
	int status;
};

/**
 * blkdev_copy_offload() - copy by offloading to the device
 * @params: what to copy
 *
 * Cuts the copy into chunks both devices accept and offloads them with
 * REQ_OP_COPY_SRC and REQ_OP_COPY_DST bios, several chunks at a time. A
 * chunk is offloaded only when all its bios reach the same disk; otherwise
 * it fails with -EOPNOTSUPP and the copy stops, so that the caller can fall
 * back to blkdev_copy_onload() for the bytes after @params->copied.
 *
 * Context: process context, may sleep.
 * Return: synchronous copy: 0 or a negative errno (also in @params->status);
 * asynchronous copy: -EIOCBQUEUED once @params->end_io will be called, or an
 * error for a copy that was not started (then @params->end_io is not
 * called). -EOPNOTSUPP when a device cannot offload, -EINVAL for bad
 * segments, -EPERM when @params->dst_bdev is read-only.
 */
int blkdev_copy_offload(struct blk_copy_params *params);

/**
 * blkdev_copy_onload() - copy by reading and writing in the kernel
 * @params: what to copy
 *
 * Reads each piece of the copy into a buffer of at most
 * %BLK_COPY_ONLOAD_BUF_BYTES allocated once per copy and writes it out,
 * without a kernel mapping of the buffer. Works on every block device.
 *
 * Context: process context, may sleep.
 * Return: as blkdev_copy_offload(), without -EOPNOTSUPP.
 */
int blkdev_copy_onload(struct blk_copy_params *params);

/* Size of the buffer blkdev_copy_onload() copies through. */
#define BLK_COPY_ONLOAD_BUF_BYTES	(1U << 20)

/**
 * struct blk_copy_range - one range of an offloaded copy request
 * @bdev: the device the range lies on (a whole disk: partition offsets
 *	are already added to @sector)
 * @sector: first sector
 * @nr_sectors: length in sectors
 */
struct blk_copy_range {
	struct block_device *bdev;
	u64 sector;
	u32 nr_sectors;
};

/**
 * blk_copy_nr_ranges() - number of ranges of one side of a copy request
 * @rq: a request with op REQ_OP_COPY_DST that reached the driver
 * @op: REQ_OP_COPY_SRC or REQ_OP_COPY_DST
 *
 * A driver executes the whole copy when it sees the request: the source
 * ranges, read in order, are written in order over the destination ranges.
 * Both sides have the same total length, and the block layer checked them
 * against the queue's copy limits.
 */
unsigned int blk_copy_nr_ranges(struct request *rq, enum req_op op);

/**
 * blk_copy_get_range() - one range of a copy request
 * @rq: as for blk_copy_nr_ranges()
 * @op: REQ_OP_COPY_SRC or REQ_OP_COPY_DST
 * @idx: index of the range, below blk_copy_nr_ranges()
 * @range: output
 */
void blk_copy_get_range(struct request *rq, enum req_op op, unsigned int idx,
			struct blk_copy_range *range);

/* BLKCOPY, see <uapi/linux/blk-copy.h> */
int blkdev_copy_ioctl(struct block_device *bdev, blk_mode_t mode,
		      void __user *argp);

/*
 * Called by submit_bio_noacct() for REQ_OP_COPY_* bios. Returns true when
 * the bio is to be submitted further, false when the copy engine took it.
 */
bool blk_copy_submit_bio(struct bio *bio);

#endif /* _LINUX_BLK_COPY_H */
