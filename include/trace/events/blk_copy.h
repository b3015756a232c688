/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the block layer copy offload engine (block/copy/), called
 * from Rust. A copy is submitted once, dispatched to a driver once per
 * offloaded chunk, and completes once.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM blk_copy

#if !defined(_TRACE_BLK_COPY_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_BLK_COPY_H

#include <linux/kdev_t.h>
#include <linux/tracepoint.h>

/**
 * blk_copy_submit - a copy starts
 * @src_dev: device the copy reads from
 * @dst_dev: device the copy writes to
 * @len: length of the copy in bytes
 * @nr_src: number of source segments
 * @nr_dst: number of destination segments
 * @offload: offloaded to the device, or copied by the kernel because the
 *	devices could not
 */
TRACE_EVENT(blk_copy_submit,

	TP_PROTO(dev_t src_dev, dev_t dst_dev, u64 len, unsigned int nr_src,
		 unsigned int nr_dst, bool offload),

	TP_ARGS(src_dev, dst_dev, len, nr_src, nr_dst, offload),

	TP_STRUCT__entry(
		__field(dev_t, src_dev)
		__field(dev_t, dst_dev)
		__field(u64, len)
		__field(unsigned int, nr_src)
		__field(unsigned int, nr_dst)
		__field(bool, offload)
	),

	TP_fast_assign(
		__entry->src_dev = src_dev;
		__entry->dst_dev = dst_dev;
		__entry->len = len;
		__entry->nr_src = nr_src;
		__entry->nr_dst = nr_dst;
		__entry->offload = offload;
	),

	TP_printk("%d,%d -> %d,%d %s len %llu segments %u -> %u",
		  MAJOR(__entry->src_dev), MINOR(__entry->src_dev),
		  MAJOR(__entry->dst_dev), MINOR(__entry->dst_dev),
		  __entry->offload ? "offload" : "onload", __entry->len,
		  __entry->nr_src, __entry->nr_dst)
);

/**
 * blk_copy_dispatch - one chunk of an offloaded copy goes to the driver
 * @disk: name of the disk that executes the chunk (which may be a hidden
 *	disk, such as an NVMe multipath path, without a device number)
 * @sector: first destination sector on @disk
 * @nr_sectors: length of the chunk in sectors
 * @nr_src: number of source ranges
 * @nr_dst: number of destination ranges
 */
TRACE_EVENT(blk_copy_dispatch,

	TP_PROTO(const char *disk, u64 sector, u64 nr_sectors,
		 unsigned int nr_src, unsigned int nr_dst),

	TP_ARGS(disk, sector, nr_sectors, nr_src, nr_dst),

	TP_STRUCT__entry(
		__string(disk, disk)
		__field(u64, sector)
		__field(u64, nr_sectors)
		__field(unsigned int, nr_src)
		__field(unsigned int, nr_dst)
	),

	TP_fast_assign(
		__assign_str(disk);
		__entry->sector = sector;
		__entry->nr_sectors = nr_sectors;
		__entry->nr_src = nr_src;
		__entry->nr_dst = nr_dst;
	),

	TP_printk("%s sector %llu nr_sectors %llu ranges %u -> %u",
		  __get_str(disk), __entry->sector, __entry->nr_sectors,
		  __entry->nr_src, __entry->nr_dst)
);

/**
 * blk_copy_complete - a copy finished
 * @src_dev: device the copy read from
 * @dst_dev: device the copy wrote to
 * @len: length of the copy in bytes
 * @copied: bytes copied from the start of the copy
 * @error: 0 or a negative errno; -EOPNOTSUPP when the devices refused an
 *	offload
 * @offload: as for blk_copy_submit
 */
TRACE_EVENT(blk_copy_complete,

	TP_PROTO(dev_t src_dev, dev_t dst_dev, u64 len, u64 copied, int error,
		 bool offload),

	TP_ARGS(src_dev, dst_dev, len, copied, error, offload),

	TP_STRUCT__entry(
		__field(dev_t, src_dev)
		__field(dev_t, dst_dev)
		__field(u64, len)
		__field(u64, copied)
		__field(int, error)
		__field(bool, offload)
	),

	TP_fast_assign(
		__entry->src_dev = src_dev;
		__entry->dst_dev = dst_dev;
		__entry->len = len;
		__entry->copied = copied;
		__entry->error = error;
		__entry->offload = offload;
	),

	TP_printk("%d,%d -> %d,%d %s len %llu copied %llu error %d",
		  MAJOR(__entry->src_dev), MINOR(__entry->src_dev),
		  MAJOR(__entry->dst_dev), MINOR(__entry->dst_dev),
		  __entry->offload ? "offload" : "onload", __entry->len,
		  __entry->copied, __entry->error)
);

#endif /* _TRACE_BLK_COPY_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
