/* SPDX-License-Identifier: GPL-2.0-only */
/* What every benchmark program here shares: the clock, and the median of REPS runs. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static inline struct figure figure_of(double v[REPS])
{
	struct figure f;

	qsort(v, REPS, sizeof(double), cmp_double);
	f.median = v[REPS / 2];
	f.min = v[0];
	f.max = v[REPS - 1];
	return f;
}

/*
 * The n sides of one comparison (ipcfs, native, tmpfs...), each fns[i](arg)
 * returning a rate (higher is better).  A first run of each, not counted,
 * warms every side alike: page faults, caches, the daemon's attachments and
 * worker threads.  Then REPS rounds run each side once, interleaved, so that
 * this shared machine's drift moves every side alike instead of one.
 */
static inline void measure_sides(unsigned n, double (*const fns[])(void *), void *arg,
				 struct figure *out)
{
	double v[n][REPS];

	for (unsigned s = 0; s < n; s++)
		fns[s](arg);
	for (int i = 0; i < REPS; i++)
		for (unsigned s = 0; s < n; s++)
			v[s][i] = fns[s](arg);
	for (unsigned s = 0; s < n; s++)
		out[s] = figure_of(v[s]);
}

static inline struct figure measure(double (*fn)(void *), void *arg)
{
	struct figure f;

	measure_sides(1, &fn, arg, &f);
	return f;
}

/*
 * One measure: a table line on stdout ("versus" names the comparison:
 * native, pipes, ...) and, if json is open, one JSON object per line.  With
 * tmpfs, the same operation on a tmpfs file (what a user would pick instead)
 * is shown too, and goal_vs_tmpfs judges the goal against it, not "versus".
 * The line gives the goal but no verdict: a measure bound by the FUSE round
 * trip is judged against its floor, which is measured by another program, so
 * only the closing table (table.py) judges.  A floor is a ceiling: no goal.
 */
static inline void report_beside(FILE *json, const char *name, const char *mode, const char *unit,
				 const char *versus, struct figure ipcfs, struct figure other,
				 const struct figure *tmpfs, double goal, int goal_vs_tmpfs)
{
	double ratio = ipcfs.median / other.median;

	printf("%-28s %12.0f %-8s [%.0f-%.0f]  %s %12.0f [%.0f-%.0f]  ratio %5.2f", name,
	       ipcfs.median, unit, ipcfs.min, ipcfs.max, versus, other.median, other.min,
	       other.max, ratio);
	if (tmpfs)
		printf("  tmpfs %7.0f ratio %5.2f", tmpfs->median, ipcfs.median / tmpfs->median);
	if (strcmp(mode, "floor") == 0)
		printf("  ceiling\n");
	else
		printf("  goal %.2f%s\n", goal, goal_vs_tmpfs ? " of tmpfs" : "");
	fflush(stdout);
	if (json) {
		fprintf(json, "{\"measure\": \"%s\", \"mode\": \"%s\", \"unit\": \"%s\", "
			"\"ipcfs\": [%.1f, %.1f, %.1f], \"native\": [%.1f, %.1f, %.1f], \"goal\": %.2f, "
			"\"versus\": \"%s\"", name, mode, unit, ipcfs.median, ipcfs.min, ipcfs.max,
			other.median, other.min, other.max, goal, versus);
		if (tmpfs)
			fprintf(json, ", \"tmpfs\": [%.1f, %.1f, %.1f]", tmpfs->median, tmpfs->min,
				tmpfs->max);
		if (goal_vs_tmpfs)
			fprintf(json, ", \"goal_vs\": \"tmpfs\"");
		fprintf(json, "}\n");
		fflush(json);
	}
}

static inline void report_figures(FILE *json, const char *name, const char *mode, const char *unit,
				  const char *versus, struct figure ipcfs, struct figure other,
				  double goal)
{
	report_beside(json, name, mode, unit, versus, ipcfs, other, NULL, goal, 0);
}

/*
 * The native side of a shm copy, warm: seg is attached once and every page of
 * it was touched before (touch_pages), so only the copy is timed.  MB/s.
 */
static inline double memcpy_rate(char *seg, char *buf, size_t size, size_t block, int write)
{
	double t = now();

	for (size_t off = 0; off < size; off += block) {
		if (write)
			memcpy(seg + off, buf, block);
		else
			memcpy(buf, seg + off, block);
	}
	return (double)size / (now() - t) / 1e6;
}

/* pread (or pwrite) the first size bytes of fd in blocks into (from) buf: MB/s. */
static inline double file_rate(int fd, char *buf, size_t size, size_t block, int write)
{
	double t = now();

	for (size_t off = 0; off < size; off += block) {
		ssize_t n = write ? pwrite(fd, buf, block, (off_t)off) : pread(fd, buf, block, (off_t)off);

		if (n != (ssize_t)block)
			die(write ? "pwrite" : "pread");
	}
	return (double)size / (now() - t) / 1e6;
}

/* Fault in every page of a fresh attachment (or buffer), so no timed copy pays for it. */
static inline void touch_pages(char *p, size_t size)
{
	memset(p, 'x', size);
}
