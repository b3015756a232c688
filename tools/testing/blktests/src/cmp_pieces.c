// SPDX-License-Identifier: GPL-2.0
/*
 * Check a gather copy's destination run in one program, for the copy
 * offload tests (a cmp(1) per piece costs a tenth of a second each under
 * TCG, and the cases that loop on copies check every one).
 *
 *   cmp_pieces DEV OFF PIECE IMAGE SRC...
 *
 * Piece k of the run, PIECE bytes at OFF + k * PIECE of DEV (read with
 * O_DIRECT when DEV is a block device), must equal the PIECE bytes at byte
 * SRC k of file IMAGE (an image of the sources taken before). Prints
 * nothing when every piece does; else, for each piece that does not,
 * " piece K holds source range J" when it equals another SRC J, or
 * " piece K differs", on one line. Exit status 0 when all match, 1 when
 * some do not, 2 when something cannot be read. OFF, PIECE and SRC take
 * K, M or G suffixes; PIECE is a multiple of 4 KiB, at most 1 MiB.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "size_arg.h"

#define BLOCK 4096
#define MAX_PIECE (1 << 20)

/* Read @len bytes at @off of @fd into @buf; 0 or -1 (reported). */
static int read_at(int fd, void *buf, size_t len, long long off, const char *name)
{
	ssize_t ret = pread(fd, buf, len, off);

	if (ret == (ssize_t)len)
		return 0;
	if (ret < 0)
		perror(name);
	else
		fprintf(stderr, "%s: short read at %lld\n", name, off);
	return -1;
}

int main(int argc, char **argv)
{
	long long off, piece, *src;
	int dev, img, flags = O_RDONLY, nr, k, j, bad = 0;
	unsigned char *run, *want;
	struct stat st;

	if (argc < 6) {
		fprintf(stderr, "usage: %s DEV OFF PIECE IMAGE SRC...\n", argv[0]);
		return 2;
	}
	off = parse_size(argv[2]);
	piece = parse_size(argv[3]);
	if (off < 0 || off % BLOCK || piece <= 0 || piece % BLOCK || piece > MAX_PIECE) {
		fprintf(stderr, "%s: bad OFF or PIECE\n", argv[0]);
		return 2;
	}
	nr = argc - 5;
	src = calloc(nr, sizeof(*src));
	if (!src)
		return 2;
	for (k = 0; k < nr; k++) {
		src[k] = parse_size(argv[5 + k]);
		if (src[k] < 0) {
			fprintf(stderr, "%s: bad SRC %s\n", argv[0], argv[5 + k]);
			return 2;
		}
	}
	if (stat(argv[1], &st) == 0 && S_ISBLK(st.st_mode))
		flags |= O_DIRECT;
	dev = open(argv[1], flags);
	img = open(argv[4], O_RDONLY);
	if (dev < 0 || img < 0) {
		perror(dev < 0 ? argv[1] : argv[4]);
		return 2;
	}
	if (posix_memalign((void **)&run, BLOCK, piece * nr) ||
	    posix_memalign((void **)&want, BLOCK, piece))
		return 2;
	if (read_at(dev, run, piece * nr, off, argv[1]))
		return 2;
	for (k = 0; k < nr; k++) {
		unsigned char *got = run + k * piece;

		if (read_at(img, want, piece, src[k], argv[4]))
			goto fail;
		if (!memcmp(got, want, piece))
			continue;
		for (j = 0; j < nr; j++) {
			if (j == k)
				continue;
			if (read_at(img, want, piece, src[j], argv[4]))
				goto fail;
			if (!memcmp(got, want, piece))
				break;
		}
		if (j < nr)
			printf(" piece %d holds source range %d", k, j);
		else
			printf(" piece %d differs", k);
		bad = 1;
	}
	if (bad)
		putchar('\n');
	return bad;
fail:
	if (bad)
		putchar('\n');
	return 2;
}
