// SPDX-License-Identifier: GPL-2.0
/*
 * Check a copy that reported how much it copied against images of the
 * devices taken before it, for the copy offload tests
 * (_co_copy_check_copied; a python3 start costs seconds under TCG).
 *
 *   check_copied BEFORE SRC_BEFORE AFTER LABEL SRC:DST:LEN:COPIED...
 *
 * BEFORE and AFTER are images of the destination device before and after
 * the copy, SRC_BEFORE one of the source device before it (BEFORE again
 * within one device); each range is in bytes. The first COPIED bytes of
 * each destination must hold their source, every other 4 KiB block of a
 * destination its old or its copied data, and nothing outside the
 * destinations may have changed. Prints "LABEL: as expected" or
 * "LABEL: " and what differs, "; " between findings. Exit status 0 when the
 * check ran (whatever it found), 2 when an image cannot be read.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096

struct image {
	const unsigned char *data;
	size_t size;
};

/* Map file @name read-only into @img; 0 or -1 (reported). */
static int map_image(const char *name, struct image *img)
{
	struct stat st;
	int fd = open(name, O_RDONLY);

	if (fd < 0 || fstat(fd, &st)) {
		perror(name);
		return -1;
	}
	img->size = st.st_size;
	img->data = img->size ? mmap(NULL, img->size, PROT_READ, MAP_PRIVATE, fd, 0) :
				(const unsigned char *)"";
	close(fd);
	if (img->data == MAP_FAILED) {
		perror(name);
		return -1;
	}
	return 0;
}

/* Whether bytes [@a, @a + @len) of @x equal [@b, @b + @len) of @y, each cut at its end. */
static int same(const struct image *x, size_t a, const struct image *y, size_t b, size_t len)
{
	size_t lx = a < x->size ? x->size - a : 0, ly = b < y->size ? y->size - b : 0;

	lx = lx < len ? lx : len;
	ly = ly < len ? ly : len;
	return lx == ly && (!lx || !memcmp(x->data + a, y->data + b, lx));
}

static int findings;

/* Print finding @what, "; " after the one before. */
static void report(const char *what)
{
	printf("%s%s", findings++ ? "; " : "", what);
}

int main(int argc, char **argv)
{
	struct image before, src_before, after;
	unsigned char *changed;
	size_t off;
	int i;

	if (argc < 5) {
		fprintf(stderr, "usage: %s BEFORE SRC_BEFORE AFTER LABEL SRC:DST:LEN:COPIED...\n",
			argv[0]);
		return 2;
	}
	if (map_image(argv[1], &before) || map_image(argv[2], &src_before) ||
	    map_image(argv[3], &after))
		return 2;
	changed = malloc(before.size + 1);
	if (!changed)
		return 2;
	memcpy(changed, before.data, before.size);
	printf("%s: ", argv[4]);
	for (i = 5; i < argc; i++) {
		unsigned long long src, dst, len, copied;

		if (sscanf(argv[i], "%llu:%llu:%llu:%llu", &src, &dst, &len, &copied) != 4 ||
		    copied > len) {
			fprintf(stderr, "%s: bad range %s\n", argv[0], argv[i]);
			return 2;
		}
		if (!same(&after, dst, &src_before, src, copied)) {
			report("range ");
			printf("%s: copied part differs", argv[i]);
		}
		for (off = copied; off < len; off += BLOCK) {
			size_t n = len - off < BLOCK ? len - off : BLOCK;

			if (!same(&after, dst + off, &before, dst + off, n) &&
			    !same(&after, dst + off, &src_before, src + off, n)) {
				report("range ");
				printf("%s: block at +%zu neither old nor copied", argv[i], off);
				break;
			}
		}
		/* What the destination may now hold: what it holds. */
		for (off = dst; off < dst + len && off < before.size && off < after.size; off++)
			changed[off] = after.data[off];
	}
	if (before.size != after.size || memcmp(changed, after.data, after.size))
		report("data outside the destinations changed");
	printf("%s\n", findings ? "" : "as expected");
	return 0;
}
