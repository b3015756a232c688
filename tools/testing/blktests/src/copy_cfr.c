// SPDX-License-Identifier: GPL-2.0
/*
 * Copy with copy_file_range(2) between block devices, for the copy offload
 * tests. Named copy_cfr, not copy_file_range, so that it cannot collide with
 * a program of that name in upstream blktests' src/.
 *
 *   copy_cfr [-b] [-r] [-1] [-F] [-f FLAGS] [-R SECS [-W FILE]]
 *            SRC SRC_OFF DST DST_OFF LEN
 *
 *   -b        open without O_DIRECT (buffered)
 *   -r        open DST read-only
 *   -1        call copy_file_range() once instead of looping until done
 *   -F        pass a source offset pointer the kernel cannot read
 *   -f FLAGS  pass FLAGS as the flags argument
 *   -R SECS   copy LEN again and again through the same descriptors until a
 *             copy falls short or SECS seconds passed
 *   -W FILE   with -R, write "1" to FILE once the first copy is whole
 *
 * Offsets and lengths take a K, M or G suffix. Prints "copied N" with the
 * bytes copied, and the errno name of the call that failed, if one did, of
 * the last copy; with -R then "copies N", N the copies of all LEN bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "errno_name.h"
#include "mono_time.h"
#include "ready_file.h"
#include "size_arg.h"

int main(int argc, char **argv)
{
	int opt, buffered = 0, dst_ro = 0, once = 0, bad_ptr = 0, in, out;
	unsigned long long copies = 0;
	const char *ready = NULL;
	long long done, len, src, dst;
	double repeat = 0, end;
	unsigned int flags = 0;
	loff_t pos_in, pos_out;
	ssize_t ret;

	while ((opt = getopt(argc, argv, "br1Ff:R:W:")) != -1) {
		switch (opt) {
		case 'b': buffered = 1; break;
		case 'r': dst_ro = 1; break;
		case '1': once = 1; break;
		case 'F': bad_ptr = 1; break;
		case 'f': flags = strtoul(optarg, NULL, 0); break;
		case 'R': repeat = atof(optarg); break;
		case 'W': ready = optarg; break;
		default: return 2;
		}
	}
	if (argc - optind != 5) {
		fprintf(stderr, "usage: copy_cfr [-b] [-r] [-1] [-F] [-f FLAGS] "
			"[-R SECS [-W FILE]] SRC SRC_OFF DST DST_OFF LEN\n");
		return 2;
	}
	in = open(argv[optind], O_RDONLY | (buffered ? 0 : O_DIRECT));
	out = open(argv[optind + 2], (dst_ro ? O_RDONLY : O_WRONLY) | (buffered ? 0 : O_DIRECT));
	if (in < 0 || out < 0) {
		perror("open");
		return 2;
	}
	src = parse_size(argv[optind + 1]);
	dst = parse_size(argv[optind + 3]);
	len = parse_size(argv[optind + 4]);
	end = now() + repeat;
	do {
		pos_in = src;
		pos_out = dst;
		done = 0;
		ret = 0;
		while (done < len) {
			ret = copy_file_range(in, bad_ptr ? (loff_t *)16 : &pos_in, out,
					      &pos_out, len - done, flags);
			if (ret <= 0)
				break;
			done += ret;
			if (once)
				break;
		}
		if (done == len && !copies++ && ready)
			write_ready_file(ready);
	} while (repeat > 0 && done == len && now() < end);
	printf("copied %lld\n", done);
	if (ret < 0)
		printf("%s\n", errno_name(errno));
	if (repeat > 0)
		printf("copies %llu\n", copies);
	return 0;
}
