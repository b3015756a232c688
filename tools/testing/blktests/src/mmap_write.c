// SPDX-License-Identifier: GPL-2.0
/*
 * Keep dirtying one page of a block device through a shared mapping, for the
 * copy offload tests: a page that is written through a mapping all the time
 * cannot be dropped from the page cache.
 *
 *   mmap_write DEV OFF
 *
 * OFF, a multiple of the page size, takes a K, M or G suffix. Prints
 * "writing" once the page is mapped and written, then writes it until killed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include "size_arg.h"

int main(int argc, char **argv)
{
	volatile unsigned char *page;
	long psize = sysconf(_SC_PAGESIZE);
	unsigned char n = 0;
	long long off;
	int dev;

	if (argc != 3) {
		fprintf(stderr, "usage: mmap_write DEV OFF\n");
		return 2;
	}
	off = parse_size(argv[2]);
	if (off < 0 || off % psize) {
		fprintf(stderr, "mmap_write: bad offset %s\n", argv[2]);
		return 2;
	}
	dev = open(argv[1], O_RDWR);
	if (dev < 0) {
		perror(argv[1]);
		return 1;
	}
	page = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, dev, off);
	if (page == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	page[0] = n++;
	printf("writing\n");
	fflush(stdout);
	for (long i = 0;; i = (i + 1) % psize)
		page[i] = ++n;
}
