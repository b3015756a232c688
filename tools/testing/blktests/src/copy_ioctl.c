// SPDX-License-Identifier: GPL-2.0
/*
 * Issue one BLKCOPY ioctl and print its outcome, for the copy offload tests.
 *
 *   copy_ioctl [-r] [-O] [-f FLAGS] [-n NR] [-z WORD] [-F] [-R SECS [-W FILE]]
 *              DEV SRC:DST:LEN...
 *
 *   -r        open DEV read-only (BLKCOPY wants write access)
 *   -O        set BLKCOPY_OFFLOAD_ONLY
 *   -f FLAGS  set the flags word to FLAGS (overrides -O)
 *   -n NR     claim NR ranges whatever was given
 *   -z WORD   set reserved word WORD (0-4) to 1
 *   -F        pass a pointer the kernel cannot read
 *   -R SECS   repeat the call on the same descriptor until one fails or SECS
 *             seconds passed (a device can go away under it, not only
 *             between opens)
 *   -W FILE   with -R, write "1" to FILE once the first call succeeded
 *
 * Offsets and lengths take a K, M or G suffix. Prints "ok" or the errno name,
 * then "offloaded" or "onloaded", then each range's copied bytes, of the last
 * call; with -R then "copies N", N the calls that succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "errno_name.h"
#include "mono_time.h"
#include "ready_file.h"
#include <linux/blk-copy.h>

#define MAX_ARG_RANGES 4096

static unsigned long long parse_size(const char *s, char **end)
{
	unsigned long long v = strtoull(s, end, 0);
	const char *units = "KMG";
	const char *unit = **end ? strchr(units, **end) : NULL;

	if (unit) {
		v <<= 10 * (unit - units + 1);
		(*end)++;
	}
	return v;
}

int main(int argc, char **argv)
{
	long long nr = -1;
	int opt, fd, rsvd = -1, bad_ptr = 0, read_only = 0, i, n, err;
	unsigned long long copies = 0;
	const char *ready = NULL;
	double repeat = 0, end;
	unsigned int flags = 0;
	struct blkcopy *arg;

	while ((opt = getopt(argc, argv, "rOf:n:z:FR:W:")) != -1) {
		switch (opt) {
		case 'r': read_only = 1; break;
		case 'O': flags = BLKCOPY_OFFLOAD_ONLY; break;
		case 'f': flags = strtoul(optarg, NULL, 0); break;
		case 'n': nr = strtoll(optarg, NULL, 0); break;
		case 'z': rsvd = atoi(optarg); break;
		case 'F': bad_ptr = 1; break;
		case 'R': repeat = atof(optarg); break;
		case 'W': ready = optarg; break;
		default: return 2;
		}
	}
	n = argc - optind - 1;
	if (n < 0 || n > MAX_ARG_RANGES) {
		fprintf(stderr, "usage: copy_ioctl [options] DEV SRC:DST:LEN...\n");
		return 2;
	}
	arg = calloc(1, sizeof(*arg) + (n ? n : 1) * sizeof(arg->ranges[0]));
	if (!arg)
		return 2;
	for (i = 0; i < n; i++) {
		char *p = argv[optind + 1 + i];

		arg->ranges[i].src = parse_size(p, &p);
		if (*p++ != ':')
			return 2;
		arg->ranges[i].dst = parse_size(p, &p);
		if (*p++ != ':')
			return 2;
		arg->ranges[i].len = parse_size(p, &p);
		arg->ranges[i].copied = ~0ULL;
	}
	arg->nr_ranges = nr >= 0 ? (unsigned int)nr : (unsigned int)n;
	arg->flags = flags;
	if (rsvd >= 0 && rsvd < 5)
		arg->reserved[rsvd] = 1;

	fd = open(argv[optind], read_only ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		perror(argv[optind]);
		return 2;
	}
	end = now() + repeat;
	do {
		for (i = 0; i < n; i++)
			arg->ranges[i].copied = ~0ULL;
		arg->out_flags = 0;
		err = ioctl(fd, BLKCOPY, bad_ptr ? (void *)16 : (void *)arg) < 0 ? errno : 0;
		if (!err && !copies++ && ready)
			write_ready_file(ready);
	} while (repeat > 0 && !err && now() < end);
	printf("%s\n", err ? errno_name(err) : "ok");
	printf("%s\n", arg->out_flags & BLKCOPY_OFFLOADED ? "offloaded" : "onloaded");
	for (i = 0; i < n; i++)
		printf("range %d copied %llu\n", i, (unsigned long long)arg->ranges[i].copied);
	if (repeat > 0)
		printf("copies %llu\n", copies);
	close(fd);
	return 0;
}
