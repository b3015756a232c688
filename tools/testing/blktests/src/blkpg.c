// SPDX-License-Identifier: GPL-2.0
/*
 * Add, resize or delete one partition of a disk with the BLKPG ioctl, for
 * the copy offload tests.
 *
 *   blkpg DISK add PARTNO START LENGTH
 *   blkpg DISK resize PARTNO START LENGTH
 *   blkpg DISK del PARTNO
 *
 * START and LENGTH are bytes on DISK and take a K, M or G suffix; a resize
 * keeps the partition's start, which START must name. BLKPG changes only the
 * kernel's partition table, at once and whether or not the partition is
 * open, without writing or rereading a partition table on the disk, so a
 * test can change a partition under a running copy at a moment it chooses.
 * Prints "ok" or the errno name; exits with 0 when the ioctl succeeded, 1
 * when it failed, 2 on a usage or open error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/blkpg.h>
#include "errno_name.h"
#include "size_arg.h"

static int usage(void)
{
	fprintf(stderr, "usage: blkpg DISK add|resize PARTNO START LENGTH\n"
			"       blkpg DISK del PARTNO\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct blkpg_partition part;
	struct blkpg_ioctl_arg arg;
	int fd, ret, err;

	if (argc < 4)
		return usage();
	memset(&part, 0, sizeof(part));
	memset(&arg, 0, sizeof(arg));
	if (!strcmp(argv[2], "del") && argc == 4) {
		arg.op = BLKPG_DEL_PARTITION;
	} else if (argc == 6 && (!strcmp(argv[2], "add") ||
				 !strcmp(argv[2], "resize"))) {
		arg.op = argv[2][0] == 'a' ? BLKPG_ADD_PARTITION :
					     BLKPG_RESIZE_PARTITION;
		part.start = parse_size(argv[4]);
		part.length = parse_size(argv[5]);
	} else {
		return usage();
	}
	part.pno = atoi(argv[3]);
	arg.datalen = sizeof(part);
	arg.data = &part;

	/* BLKPG wants CAP_SYS_ADMIN, not write access to the disk. */
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	ret = ioctl(fd, BLKPG, &arg);
	err = errno;
	close(fd);
	if (ret < 0) {
		printf("%s\n", errno_name(err));
		return 1;
	}
	printf("ok\n");
	return 0;
}
