/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sizes and offsets on the command line of the copy offload tests' helpers:
 * a number (decimal, 0x hex or 0 octal) with an optional K, M or G suffix.
 */
#ifndef SIZE_ARG_H
#define SIZE_ARG_H

#include <stdlib.h>
#include <string.h>

static inline long long parse_size(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 0);
	const char *units = "KMG";
	const char *unit = *end ? strchr(units, *end) : NULL;

	if (unit)
		v <<= 10 * (unit - units + 1);
	return v;
}

#endif /* SIZE_ARG_H */
