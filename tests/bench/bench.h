/* SPDX-License-Identifier: GPL-2.0-only */
/* What every benchmark program here shares: the clock, and the median of REPS runs. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPS 5

struct figure {
	double median, min, max;
};

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void die(const char *what)
{
	perror(what);
	exit(1);
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Run fn REPS times; each returns a rate (higher is better). */
static inline struct figure measure(double (*fn)(void *), void *arg)
{
	double v[REPS];
	struct figure f;

	for (int i = 0; i < REPS; i++)
		v[i] = fn(arg);
	qsort(v, REPS, sizeof(double), cmp_double);
	f.median = v[REPS / 2];
	f.min = v[0];
	f.max = v[REPS - 1];
	return f;
}
