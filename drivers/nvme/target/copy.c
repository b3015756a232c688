// SPDX-License-Identifier: GPL-2.0
/*
 * The NVMe Copy command on the target: the limits each namespace advertises,
 * and the checks of a command's source ranges. The block device and file
 * backends execute copies (io-cmd-bdev.c, io-cmd-file.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/blk-copy.h>
#include <linux/blkdev.h>
#include <linux/slab.h>
#include "nvmet.h"

/* Source ranges of one command; MSRC is one less. */
#define NVMET_COPY_MAX_RANGES		128

/* Blocks one command copies when the backend copies by reading and writing. */
#define NVMET_COPY_ONLOAD_BYTES		SZ_8M

/**
 * nvmet_copy_ns_enable() - decide the Copy limit of a namespace
 * @ns: the namespace being enabled, its backend open
 *
 * A namespace whose block device offloads copies takes commands as large as
 * one offloaded copy of that device, so that every command becomes one copy
 * inside the device. Other namespaces, on a file or on a device that cannot
 * offload, copy by reading and writing: a command there is bounded so that
 * it does not hold a worker for long. Zoned namespaces do not take Copy:
 * the target does not check a destination against the zone's write pointer.
 *
 * The limit is decided once, here, and kept while the namespace is enabled.
 * Identify Namespace advertises it as MSSRL and MCL and every Copy command is
 * checked against it, so that a command the host was told is valid stays
 * valid when the device's own limit changes later (queue/copy_max_bytes in
 * sysfs, a new device mapper table): blkdev_copy() cuts each copy to
 * the device's limit of the moment, and what the device refuses is copied
 * by reading and writing.
 */
void nvmet_copy_ns_enable(struct nvmet_ns *ns)
{
	u64 bytes = NVMET_COPY_ONLOAD_BYTES;

	ns->copy_max_blocks = 0;
	if (!IS_ENABLED(CONFIG_BLK_COPY_OFFLOAD) || ns->csi != NVME_CSI_NVM)
		return;
	if (ns->bdev && bdev_max_copy_sectors(ns->bdev))
		bytes = (u64)bdev_max_copy_sectors(ns->bdev) << SECTOR_SHIFT;
	ns->copy_max_blocks = min_t(u64, bytes >> ns->blksize_shift, U16_MAX);
}

/**
 * nvmet_copy_set_limits() - fill in the Copy limits of a namespace
 * @ns: the namespace
 * @id: its Identify Namespace data
 *
 * MSSRL and MCL are both one command's worth, as decided when the namespace
 * was enabled (nvmet_copy_ns_enable()), so any number of ranges up to
 * MSRC + 1 may share it. A namespace without Copy keeps all three zero.
 */
void nvmet_copy_set_limits(struct nvmet_ns *ns, struct nvme_id_ns *id)
{
	u32 blocks = ns->copy_max_blocks;

	if (!blocks)
		return;
	id->mssrl = cpu_to_le16(blocks);
	id->mcl = cpu_to_le32(blocks);
	id->msrc = NVMET_COPY_MAX_RANGES - 1;
}

/*
 * Check one range of @nlb blocks at @slba against the namespace, whose size
 * is @nsze blocks; @loc is the offset of the field to report.
 */
static u16 nvmet_copy_check_range(struct nvmet_req *req, u64 slba, u64 nlb,
				  u64 nsze, u16 loc)
{
	if (slba >= nsze || nlb > nsze - slba) {
		req->error_loc = loc;
		return NVME_SC_LBA_RANGE | NVME_STATUS_DNR;
	}
	return NVME_SC_SUCCESS;
}

/**
 * nvmet_copy_parse() - read and check the ranges of a Copy command
 * @req: the command, on a namespace with a backend
 * @copy: output: the source ranges and the destination, in bytes; to be
 *	freed with nvmet_copy_free(), also after an error
 *
 * Accepts descriptor format 0h only, at most MSRC + 1 ranges of at most
 * MSSRL blocks each and MCL blocks in all, inside the namespace, as the
 * namespace's Identify data advertise them: the limit decided when the
 * namespace was enabled, not the device's limit of the moment.
 *
 * Return: an NVMe status.
 */
u16 nvmet_copy_parse(struct nvmet_req *req, struct nvmet_copy *copy)
{
	struct nvme_copy_command *cmd = &req->cmd->copy;
	unsigned int nr = cmd->nr_ranges + 1, i;
	u32 max_blocks = req->ns->copy_max_blocks;
	u8 shift = req->ns->blksize_shift;
	u64 nsze = req->ns->size >> shift;
	u64 sdlba = le64_to_cpu(cmd->sdlba);
	/* the ranges are the command's data; the destination is in SDLBA */
	u16 desc_loc = offsetof(struct nvme_copy_command, dptr);
	u16 sdlba_loc = offsetof(struct nvme_copy_command, sdlba);
	struct nvme_copy_desc_f0 *descs;
	u64 total = 0;
	u16 status;

	copy->segs = NULL;
	if ((cmd->desfmt & NVME_COPY_DESFMT_MASK) != NVME_COPY_DESFMT_0) {
		req->error_loc = offsetof(struct nvme_copy_command, desfmt);
		return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
	}
	if (nr > NVMET_COPY_MAX_RANGES) {
		req->error_loc = offsetof(struct nvme_copy_command, nr_ranges);
		return NVME_SC_CMD_SIZE_LIM_EXCEEDED | NVME_STATUS_DNR;
	}

	descs = kmalloc_array(nr, sizeof(*descs), GFP_KERNEL);
	copy->segs = kmalloc_array(nr, sizeof(*copy->segs), GFP_KERNEL);
	if (!descs || !copy->segs) {
		status = NVME_SC_INTERNAL;
		goto out;
	}
	status = nvmet_copy_from_sgl(req, 0, descs, nr * sizeof(*descs));
	if (status)
		goto out;

	for (i = 0; i < nr; i++) {
		u64 slba = le64_to_cpu(descs[i].slba);
		u64 nlb = (u64)le16_to_cpu(descs[i].nlb) + 1;

		if (nlb > max_blocks) {
			req->error_loc = offsetof(struct nvme_copy_command,
						  nr_ranges);
			status = NVME_SC_CMD_SIZE_LIM_EXCEEDED | NVME_STATUS_DNR;
			goto out;
		}
		status = nvmet_copy_check_range(req, slba, nlb, nsze, desc_loc);
		if (status)
			goto out;
		copy->segs[i].pos = slba << shift;
		copy->segs[i].len = nlb << shift;
		total += nlb;
	}
	if (total > max_blocks) {
		req->error_loc = offsetof(struct nvme_copy_command, nr_ranges);
		status = NVME_SC_CMD_SIZE_LIM_EXCEEDED | NVME_STATUS_DNR;
		goto out;
	}
	status = nvmet_copy_check_range(req, sdlba, total, nsze, sdlba_loc);
	if (status)
		goto out;
	copy->src = copy->segs;
	copy->nr_src = nr;
	copy->dst.pos = sdlba << shift;
	copy->dst.len = total << shift;
out:
	kfree(descs);
	return status;
}

/**
 * nvmet_copy_free() - free what nvmet_copy_parse() allocated
 * @copy: the copy
 */
void nvmet_copy_free(struct nvmet_copy *copy)
{
	kfree(copy->segs);
	copy->segs = NULL;
}

/**
 * nvmet_copy_status() - the NVMe status of a copy that ended with @error
 * @req: the command
 * @error: 0 or a negative errno
 *
 * Return: the status to complete @req with.
 */
u16 nvmet_copy_status(struct nvmet_req *req, int error)
{
	/* Source and destination overlap, which the block layer refuses. */
	if (error == -EINVAL) {
		req->error_loc = offsetof(struct nvme_copy_command, sdlba);
		return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
	}
	return errno_to_nvme_status(req, error);
}
