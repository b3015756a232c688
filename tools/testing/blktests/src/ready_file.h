/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tell a test case that a helper got somewhere: write "1" to a file it
 * waits for, for the copy offload tests' helpers.
 */
#ifndef READY_FILE_H
#define READY_FILE_H

#include <stdio.h>

static inline void write_ready_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
}

#endif /* READY_FILE_H */
