// SPDX-License-Identifier: GPL-2.0
/*
 * Say which blocks of two files differ, for the copy offload tests: cmp -l
 * prints a line per differing byte, and the awk that turned them into
 * blocks took seconds per MiB under TCG.
 *
 *   diff_blocks A B BS
 *
 * Prints the index of every BS-byte block (BS takes a K or M suffix) at
 * which A and B differ, one a line; a block that only one of them has
 * counts as differing. Exit status 0 when they are equal, 1 when not, 2
 * when one cannot be read.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "size_arg.h"

int main(int argc, char **argv)
{
	FILE *a, *b;
	char *ba, *bb;
	long long bs, index;
	int status = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: %s A B BS\n", argv[0]);
		return 2;
	}
	bs = parse_size(argv[3]);
	a = fopen(argv[1], "r");
	b = fopen(argv[2], "r");
	ba = bs > 0 ? malloc(bs) : NULL;
	bb = bs > 0 ? malloc(bs) : NULL;
	if (!a || !b || !ba || !bb) {
		perror("diff_blocks");
		return 2;
	}
	for (index = 0;; index++) {
		size_t na = fread(ba, 1, bs, a), nb = fread(bb, 1, bs, b);

		if (ferror(a) || ferror(b)) {
			perror("diff_blocks: read");
			return 2;
		}
		if (!na && !nb)
			break;
		if (na != nb || memcmp(ba, bb, na)) {
			printf("%lld\n", index);
			status = 1;
		}
	}
	return status;
}
