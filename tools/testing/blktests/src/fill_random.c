// SPDX-License-Identifier: GPL-2.0
/*
 * Fill part of a block device or file with pseudo-random data, for the copy
 * offload tests: /dev/urandom gives about 16 MB/s under TCG with KASAN, and
 * the cases fill devices before nearly every copy.
 *
 *   fill_random DEV OFF LEN
 *
 * Writes LEN bytes at byte OFF of DEV, with O_DIRECT when DEV is a block
 * device (OFF and LEN then multiples of its logical block size), in writes
 * of up to 1 MiB; a file that does not exist is created. The data is a
 * xorshift64* stream seeded from getrandom(2): no two runs and no two 8-byte
 * words of one run are alike, so that data copied to the wrong place is told
 * from the right data. OFF and LEN take K, M or G suffixes. Exit status 0;
 * 1 with a message when DEV cannot be opened or written; 2 on a usage error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "size_arg.h"

#define CHUNK (1 << 20)

int main(int argc, char **argv)
{
	long long off, len, done = 0;
	uint64_t state, *buf;
	struct stat st;
	int fd, flags = O_WRONLY | O_CREAT;

	if (argc != 4) {
		fprintf(stderr, "usage: %s DEV OFF LEN\n", argv[0]);
		return 2;
	}
	off = parse_size(argv[2]);
	len = parse_size(argv[3]);
	if (stat(argv[1], &st) == 0 && S_ISBLK(st.st_mode))
		flags |= O_DIRECT;
	fd = open(argv[1], flags, 0644);
	if (fd < 0 || off < 0 || len < 0) {
		perror(argv[1]);
		return 1;
	}
	if (posix_memalign((void **)&buf, 4096, CHUNK) ||
	    getrandom(&state, sizeof(state), 0) != sizeof(state)) {
		perror("fill_random");
		return 1;
	}
	state |= 1;
	while (done < len) {
		size_t n = len - done < CHUNK ? len - done : CHUNK;
		size_t i;

		for (i = 0; i < (n + 7) / sizeof(*buf); i++) {
			state ^= state >> 12;
			state ^= state << 25;
			state ^= state >> 27;
			buf[i] = state * 0x2545f4914f6cdd1dULL;
		}
		if (pwrite(fd, buf, n, off + done) != (ssize_t)n) {
			perror("fill_random: write");
			return 1;
		}
		done += n;
	}
	return 0;
}
