/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Seconds on the monotonic clock, for the copy offload tests' helpers.
 */
#ifndef MONO_TIME_H
#define MONO_TIME_H

#include <time.h>

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* MONO_TIME_H */
