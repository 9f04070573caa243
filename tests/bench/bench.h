/* SPDX-License-Identifier: GPL-2.0-only */
/* What every benchmark program here shares: the clock, and the median of REPS runs. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPS 5

/* A 64-byte System V message, as the msg benchmarks send it. */
struct msg64 {
	long mtype;
	char mtext[64];
};

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

/*
 * One measure: a table line on stdout ("versus" names the comparison:
 * native, pipes, ...) and, if json is open, one JSON object per line.
 */
static inline void report_figures(FILE *json, const char *name, const char *mode, const char *unit,
				  const char *versus, struct figure ipcfs, struct figure other,
				  double goal)
{
	double ratio = ipcfs.median / other.median;

	printf("%-28s %12.0f %-8s [%.0f-%.0f]  %s %12.0f [%.0f-%.0f]  ratio %5.2f  goal %.2f  %s\n",
	       name, ipcfs.median, unit, ipcfs.min, ipcfs.max, versus, other.median, other.min,
	       other.max, ratio, goal, ratio >= goal ? "pass" : "FAIL");
	fflush(stdout);
	if (json) {
		fprintf(json, "{\"measure\": \"%s\", \"mode\": \"%s\", \"unit\": \"%s\", "
			"\"ipcfs\": [%.1f, %.1f, %.1f], \"native\": [%.1f, %.1f, %.1f], \"goal\": %.2f}\n",
			name, mode, unit, ipcfs.median, ipcfs.min, ipcfs.max, other.median, other.min,
			other.max, goal);
		fflush(json);
	}
}
