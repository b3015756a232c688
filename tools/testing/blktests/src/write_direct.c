// SPDX-License-Identifier: GPL-2.0
/*
 * Write a file's contents to a block device with one O_DIRECT pwrite(2), for
 * the copy offload tests.
 *
 *   write_direct [-f] DEV OFF FILE
 *
 *   -f  set /proc/self/make-it-fail for the pwrite() only, so that fault
 *       injection with task-filter=Y fails allocations made for this write
 *       and for nothing else this program does (loading it, reading FILE)
 *
 * OFF takes a K, M or G suffix; FILE holds a whole number of 4 KiB blocks,
 * at most 1 MiB. Prints "ok" or the errno name of the failed write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "errno_name.h"
#include "size_arg.h"

#define BLOCK 4096
#define MAX_LEN (1 << 20)

/* Set this task's make-it-fail flag through the open descriptor @fd. */
static int set_make_it_fail(int fd, const char *val)
{
	if (pwrite(fd, val, 1, 0) != 1) {
		perror("/proc/self/make-it-fail");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int opt, inject = 0, dev, in, fail_fd = -1, err = 0;
	ssize_t len, ret;
	long long off;
	void *buf;

	while ((opt = getopt(argc, argv, "f")) != -1) {
		switch (opt) {
		case 'f': inject = 1; break;
		default: return 2;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: write_direct [-f] DEV OFF FILE\n");
		return 2;
	}
	off = parse_size(argv[optind + 1]);
	if (posix_memalign(&buf, BLOCK, MAX_LEN)) {
		fprintf(stderr, "out of memory\n");
		return 2;
	}
	in = open(argv[optind + 2], O_RDONLY);
	if (in < 0) {
		perror(argv[optind + 2]);
		return 2;
	}
	len = read(in, buf, MAX_LEN);
	if (len <= 0 || len % BLOCK) {
		fprintf(stderr, "%s: want 4 KiB blocks, at most 1 MiB\n", argv[optind + 2]);
		return 2;
	}
	close(in);
	dev = open(argv[optind], O_WRONLY | O_DIRECT);
	if (dev < 0) {
		perror(argv[optind]);
		return 2;
	}
	if (inject) {
		fail_fd = open("/proc/self/make-it-fail", O_WRONLY);
		if (fail_fd < 0) {
			perror("/proc/self/make-it-fail");
			return 2;
		}
		if (set_make_it_fail(fail_fd, "1"))
			return 2;
	}
	ret = pwrite(dev, buf, len, off);
	if (ret < 0)
		err = errno;
	if (inject && set_make_it_fail(fail_fd, "0"))
		return 2;
	if (ret < 0)
		printf("%s\n", errno_name(err));
	else if (ret != len)
		printf("short write %zd\n", ret);
	else
		printf("ok\n");
	return 0;
}
