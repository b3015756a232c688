// SPDX-License-Identifier: GPL-2.0
/*
 * The exported interface of the copy offload engine. The engine is written
 * in Rust (engine.rs and its modules); these wrappers give its entry points
 * their documented names and export them, which a Rust crate other than the
 * kernel crate cannot do itself.
 */
#include <linux/blkdev.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include "../blk.h"
#include "engine.h"

/*
 * A copy bio carries no data, so its copy context lives in the slot of the
 * vec list it does not have: struct bio does not grow for copies.
 */
static_assert(offsetof(struct bio, bi_copy_ctx) ==
	      offsetof(struct bio, bi_io_vec) &&
	      sizeof_field(struct bio, bi_copy_ctx) ==
	      sizeof_field(struct bio, bi_io_vec));

struct workqueue_struct *blk_copy_wq;
struct workqueue_struct *blk_copy_onload_wq;

/*
 * A core_initcall: the workqueues exist before any block device does
 * (genhd_device_init() is a subsys_initcall), so before any copy.
 */
static int __init blk_copy_init(void)
{
	blk_copy_wq = alloc_workqueue("blk_copy", WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	blk_copy_onload_wq = alloc_workqueue("blk_copy_onload",
					     WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!blk_copy_wq || !blk_copy_onload_wq)
		panic("Failed to create blk_copy workqueues\n");
	return 0;
}
core_initcall(blk_copy_init);

#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include <trace/events/blk_copy.h>

/**
 * blkdev_copy() - copy between block devices
 * @params: what to copy
 * @flags: %BLKDEV_COPY_NOFALLBACK to offload only
 *
 * Validates the copy once, then offloads it: cuts it into chunks both devices
 * accept and sends each as REQ_OP_COPY_SRC and REQ_OP_COPY_DST bios, several
 * chunks at a time. A chunk is offloaded only when all its bios reach the
 * same disk, or two disks of one copy domain. What the devices refuse
 * (-EOPNOTSUPP: no copy offload, a chunk that a stacking driver could not
 * pass on, a chunk the engine could not get the memory for without waiting
 * while it holds other pieces of it) the kernel copies by reading and
 * writing, through a buffer of at most %BLK_COPY_ONLOAD_BUF_BYTES, unless
 * @flags has %BLKDEV_COPY_NOFALLBACK: then the copy stops there with
 * -EOPNOTSUPP, for the caller to copy the bytes after @params->copied its
 * own way.
 *
 * A synchronous copy waits as for I/O and copies in the kernel in the
 * caller's task; when the caller is killed it issues nothing more and
 * returns -EINTR once what is in flight has completed. An asynchronous copy
 * copies in the kernel on a workqueue with a rescuer, so that copies
 * started from memory reclaim (dm-kcopyd, nvmet) go on under memory
 * pressure.
 *
 * Context: process context, may sleep.
 * Return: for a synchronous copy (no @params->end_io), 0 or a negative
 * errno, also in @params->status; for an asynchronous one, -EIOCBQUEUED
 * once @params->end_io will be called, or an error for a copy that was not
 * started (then @params->end_io is not called). -EINVAL for bad segments or
 * flags, -ENODEV when a device is marked dead (being removed), -EPERM when
 * @params->dst_bdev is read-only, -EOPNOTSUPP (with
 * %BLKDEV_COPY_NOFALLBACK) when the devices cannot offload (the rest of) the
 * copy, -EINTR when a synchronous copy was killed. On an error the bytes
 * before @params->copied were copied: the error is that of the earliest
 * chunk that was not. @params->offloaded says how many of them the devices
 * copied.
 */
int blkdev_copy(struct blk_copy_params *params, unsigned int flags)
{
	return blk_copy_rust(params, flags);
}
EXPORT_SYMBOL_GPL(blkdev_copy);

/**
 * blk_copy_nr_ranges() - number of ranges of one side of a copy request
 * @rq: a request with op REQ_OP_COPY_DST that reached the driver
 * @op: REQ_OP_COPY_SRC or REQ_OP_COPY_DST
 *
 * A driver executes the whole copy when it sees the request: the source
 * ranges, read in order, are written in order over the destination ranges.
 * Both sides have the same total length, and the block layer checked them
 * against the queue's copy limits.
 *
 * Context: any; takes no lock, as the ranges do not change while the
 * request is in flight.
 * Return: the number of ranges, 0 for a request that is not a copy.
 */
unsigned int blk_copy_nr_ranges(struct request *rq, enum req_op op)
{
	return blk_copy_rust_nr_ranges(rq, op);
}
EXPORT_SYMBOL_GPL(blk_copy_nr_ranges);

/**
 * blk_copy_get_range() - one range of a copy request
 * @rq: as for blk_copy_nr_ranges()
 * @op: REQ_OP_COPY_SRC or REQ_OP_COPY_DST
 * @idx: index of the range, below blk_copy_nr_ranges()
 * @range: output; left untouched for an index out of range
 *
 * Context: any; takes no lock.
 */
void blk_copy_get_range(struct request *rq, enum req_op op, unsigned int idx,
			struct blk_copy_range *range)
{
	struct blk_copy_range found = blk_copy_rust_get_range(rq, op, idx);

	if (found.bdev)
		*range = found;
}
EXPORT_SYMBOL_GPL(blk_copy_get_range);

/**
 * blk_copy_bio_bytes() - bytes a bio asks its disk to read or write
 * @bio: a bio its submitter does not change during this call
 *
 * For the %REQ_OP_COPY_DST bio that carries a copy chunk to its disk, the
 * length of the chunk, which may be more than that of the bio: all of it is
 * read and written on the disk. The bio's own length for any other bio. For
 * the I/O controllers that charge a bio by its length when it is submitted.
 *
 * Context: any.
 * Return: the length in bytes.
 */
u64 blk_copy_bio_bytes(struct bio *bio)
{
	return blk_copy_rust_bio_bytes(bio);
}

/**
 * blk_copy_stats_prepare() - give a disk its copy counters
 * @disk: the disk a copy is about to write to
 *
 * The counters of /sys/block/<disk>/copy_stats/ are allocated by the first
 * copy to a disk, so that disks that never receive one do not pay for them.
 *
 * Context: process context, may sleep.
 * Return: 0, or -ENOMEM.
 */
int blk_copy_stats_prepare(struct gendisk *disk)
{
	struct blk_copy_stats *stats;

	if (READ_ONCE(disk->copy_stats))
		return 0;
	stats = kzalloc_obj(*stats, GFP_NOIO);
	if (!stats)
		return -ENOMEM;
	/* Another copy to the disk may have got there first. */
	if (cmpxchg(&disk->copy_stats, NULL, stats))
		kfree(stats);
	return 0;
}

/* /sys/block/<disk>/copy_stats/: the counters the engine keeps per disk */
struct blk_copy_stat_attr {
	struct device_attribute attr;
	enum blk_copy_stat stat;
	bool bytes;
};

static ssize_t blk_copy_stat_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct blk_copy_stat_attr *sa =
		container_of(attr, struct blk_copy_stat_attr, attr);
	struct blk_copy_stats *stats = READ_ONCE(dev_to_disk(dev)->copy_stats);
	u64 val = 0;

	if (stats)
		val = atomic64_read(sa->bytes ? &stats->bytes[sa->stat] :
						&stats->ops[sa->stat]);
	return sysfs_emit(buf, "%llu\n", val);
}

#define BLK_COPY_STAT_ATTR(_name, _stat, _bytes)			\
	static struct blk_copy_stat_attr blk_copy_stat_##_name = {	\
		.attr = __ATTR(_name, 0444, blk_copy_stat_show, NULL),	\
		.stat = BLK_COPY_STAT_##_stat,				\
		.bytes = _bytes,					\
	}

BLK_COPY_STAT_ATTR(offloaded_ops, OFFLOADED, false);
BLK_COPY_STAT_ATTR(offloaded_bytes, OFFLOADED, true);
BLK_COPY_STAT_ATTR(onloaded_ops, ONLOADED, false);
BLK_COPY_STAT_ATTR(onloaded_bytes, ONLOADED, true);
BLK_COPY_STAT_ATTR(fallback_ops, FALLBACK, false);
BLK_COPY_STAT_ATTR(fallback_bytes, FALLBACK, true);
BLK_COPY_STAT_ATTR(error_ops, ERROR, false);
BLK_COPY_STAT_ATTR(error_bytes, ERROR, true);

static struct attribute *blk_copy_stat_attrs[] = {
	&blk_copy_stat_offloaded_ops.attr.attr,
	&blk_copy_stat_offloaded_bytes.attr.attr,
	&blk_copy_stat_onloaded_ops.attr.attr,
	&blk_copy_stat_onloaded_bytes.attr.attr,
	&blk_copy_stat_fallback_ops.attr.attr,
	&blk_copy_stat_fallback_bytes.attr.attr,
	&blk_copy_stat_error_ops.attr.attr,
	&blk_copy_stat_error_bytes.attr.attr,
	NULL
};

const struct attribute_group blk_copy_stats_attr_group = {
	.name = "copy_stats",
	.attrs = blk_copy_stat_attrs,
};
