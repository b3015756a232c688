/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Rust side of the copy offload engine: the functions engine.rs, the
 * root of its crate, implements for the C code of the block layer.
 * Everything else uses <linux/blk-copy.h>.
 */
#ifndef _BLOCK_COPY_ENGINE_H
#define _BLOCK_COPY_ENGINE_H

#include <linux/blk-copy.h>
#include <linux/workqueue.h>

/*
 * Where the engine issues chunks and runs asynchronous copies in the kernel:
 * copies started from memory reclaim (dm-kcopyd, nvmet) must go on under
 * memory pressure, so it has a rescuer (WQ_MEM_RECLAIM).
 */
extern struct workqueue_struct *blk_copy_wq;

/*
 * Where asynchronous copies the devices refused are copied in the kernel: a
 * rescuer of its own, so that long reads and writes under memory pressure
 * never wait behind, or hold up, the chunks that blk_copy_wq issues.
 */
extern struct workqueue_struct *blk_copy_onload_wq;

int blk_copy_rust(struct blk_copy_params *params, unsigned int flags);
int blk_copy_stats_prepare(struct gendisk *disk);
unsigned int blk_copy_rust_nr_ranges(struct request *rq, enum req_op op);
struct blk_copy_range blk_copy_rust_get_range(struct request *rq,
					      enum req_op op, unsigned int idx);

u64 blk_copy_rust_bio_bytes(struct bio *bio);

/*
 * Called by submit_bio_noacct_nocheck() for REQ_OP_COPY_* bios. Returns true when
 * the bio is to be submitted further, false when the engine took it: parked
 * until all bios of its copy arrived, or ended with an error.
 */
bool blk_copy_submit_bio(struct bio *bio);

/*
 * Sends a parked REQ_OP_COPY_DST bio to its disk as the request of its chunk,
 * without throttling or accounting it again (block/blk-core.c)
 */
void blk_copy_dispatch_bio(struct bio *bio);

u64 blk_copy_bio_bytes(struct bio *bio);

/*
 * copy_file_range() between block devices opened with O_DIRECT; @file_out,
 * opened on @bdev_out, is where stale page cache is reported
 */
ssize_t blk_copy_file_range(struct block_device *bdev_in, loff_t pos_in,
			    struct block_device *bdev_out,
			    struct file *file_out, loff_t pos_out, size_t len);

/* BLKCOPY on @file, opened on @bdev with @mode; see <uapi/linux/blk-copy.h> */
int blkdev_copy_ioctl(struct file *file, struct block_device *bdev,
		      blk_mode_t mode, void __user *argp);

/*
 * BLOCK_URING_CMD_COPY (block/copy/uring.rs). blkdev_uring_cmd() passes
 * @slot, a word of the command's pdu (struct blk_iou_cmd in block/ioctl.c)
 * that belongs to the engine from the first issue to the completion: a copy
 * that starts parks itself there. The engine calls
 * blkdev_copy_uring_defer_finish() once the copy has finished, from any
 * context, unless io_uring cancelled the command before; the task work that
 * queues completes the command with blkdev_copy_uring_finish()'s result.
 */
struct io_uring_cmd;

int blkdev_copy_uring_cmd(struct io_uring_cmd *cmd, struct block_device *bdev,
			  blk_mode_t mode, u64 arg, u64 addr3, void **slot,
			  unsigned int issue_flags);
void blkdev_copy_uring_cancel(struct io_uring_cmd *cmd, void **slot,
			      unsigned int issue_flags);
int blkdev_copy_uring_finish(void **slot, bool cancel);
void blkdev_copy_uring_defer_finish(struct io_uring_cmd *cmd);

#endif /* _BLOCK_COPY_ENGINE_H */
