// SPDX-License-Identifier: GPL-2.0-only
/*
 * Channel throughput against pipes (or against another channel path), in
 * the same run.  A program, not a test: it prints figures and asserts nothing.
 *
 *   chanbench PATH [--against PATH2] [--label NAME] [--goal1 G] [--goal8 G]
 *             [--readers N] [--quick] [--json FILE]
 *
 * PATH is a channel: /dev/channel0, or /mnt/ipc/chan/0.  With 64 KiB records,
 * it measures the payload bytes per second delivered, in aggregate, to 1 and
 * to 8 readers, and the same as records per second.  The comparison is one writer feeding 1 or 8 pipes (each
 * record written once per pipe), or, with --against, the same transfer
 * through PATH2.  Readers that are overrun lose records; only delivered
 * bytes count.  Each figure is the median of 5 runs, min and max shown.
 * --readers N measures N readers only (1 to 8), against N pipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../bench/bench.h"

#define RECORD (64 * 1024)
#define MAX_READERS 8

static long records = 4000;
static FILE *json;
static const char *label = "chan";

/* Count payload bytes until the 1-byte end record, then report them through out. */
static void reader(int fd, int is_pipe, int out)
{
	static char buf[RECORD];
	long long got = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EPIPE)
			continue;	/* overrun: those records are lost, count on */
		if (n < 0)
			_exit(1);
		if (n == 0 || (!is_pipe && n == 1))
			break;
		got += n;
	}
	if (write(out, &got, sizeof(got)) != sizeof(got))
		_exit(1);
	_exit(0);
}

/* One transfer: MB/s delivered to nreaders through path (NULL: pipes). */
static double transfer(const char *path, int nreaders)
{
	static char rec[RECORD];
	int fds[MAX_READERS], results[2], wfd = -1;
	long long total = 0, got;
	double t;

	if (pipe(results) != 0)
		die("pipe");
	for (int i = 0; i < nreaders; i++) {
		int p[2], rfd;

		if (path) {
			/* Open before the writer starts: a new reader starts at the live end. */
			rfd = open(path, O_RDONLY);
			if (rfd < 0)
				die(path);
		} else {
			if (pipe(p) != 0)
				die("pipe");
			rfd = p[0];
			fds[i] = p[1];
		}
		if (fork() == 0) {
			/* Hold no pipe's write end, or that pipe would never reach EOF. */
			for (int j = 0; !path && j <= i; j++)
				close(fds[j]);
			close(results[0]);
			reader(rfd, !path, results[1]);
		}
		close(rfd);
	}
	if (path) {
		wfd = open(path, O_WRONLY);
		if (wfd < 0)
			die(path);
	}
	memset(rec, 'c', sizeof(rec));
	t = now();
	for (long r = 0; r < records; r++) {
		for (int i = 0; i < (path ? 1 : nreaders); i++)
			if (write(path ? wfd : fds[i], rec, RECORD) != RECORD)
				die("write");
	}
	if (path) {
		if (write(wfd, "E", 1) != 1)
			die("write end");
		close(wfd);
	} else {
		for (int i = 0; i < nreaders; i++)
			close(fds[i]);
	}
	for (int i = 0; i < nreaders; i++) {
		if (read(results[0], &got, sizeof(got)) != sizeof(got))
			die("reader");
		total += got;
	}
	t = now() - t;
	/* A loss shortens the transfer and so flatters the rate: say so. */
	if (path && total < (long long)nreaders * records * RECORD)
		fprintf(stderr, "chanbench: %d readers lost %lld of %ld records each, on average\n",
			nreaders, ((long long)nreaders * records * RECORD - total) / RECORD / nreaders,
			records);
	while (wait(NULL) > 0)
		;
	close(results[0]);
	close(results[1]);
	return (double)total / t / 1e6;
}

struct transfer_args {
	const char *path;
	int nreaders;
};

static double transfer_rate(void *p)
{
	struct transfer_args *a = p;

	return transfer(a->path, a->nreaders);
}

static struct figure in_records(struct figure mbs)
{
	double per = 1e6 / RECORD;

	return (struct figure){ mbs.median * per, mbs.min * per, mbs.max * per };
}

static void report(const char *path, const char *against, int nreaders, double goal)
{
	struct transfer_args through = { path, nreaders }, other = { against, nreaders };
	struct figure a = measure(transfer_rate, &through), b = measure(transfer_rate, &other);
	char name[64];

	snprintf(name, sizeof(name), "%s %d reader%s 64K", label, nreaders, nreaders > 1 ? "s" : "");
	report_figures(json, name, against ? against : "pipes", "MB/s", against ? "other" : "pipes",
		       a, b, goal);
	/* The same runs as records delivered per second. */
	snprintf(name, sizeof(name), "%s %d reader%s rec/s", label, nreaders, nreaders > 1 ? "s" : "");
	report_figures(json, name, against ? against : "pipes", "rec/s", against ? "other" : "pipes",
		       in_records(a), in_records(b), goal);
}

int main(int argc, char **argv)
{
	const char *path = NULL, *against = NULL, *json_path = NULL;
	double goal1 = 1.0, goal8 = 1.0;
	int only = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--against") == 0 && i + 1 < argc)
			against = argv[++i];
		else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
			label = argv[++i];
		else if (strcmp(argv[i], "--goal1") == 0 && i + 1 < argc)
			goal1 = atof(argv[++i]);
		else if (strcmp(argv[i], "--goal8") == 0 && i + 1 < argc)
			goal8 = atof(argv[++i]);
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json_path = argv[++i];
		else if (strcmp(argv[i], "--readers") == 0 && i + 1 < argc)
			only = atoi(argv[++i]);
		else if (strcmp(argv[i], "--quick") == 0)
			records = 500;
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "chanbench: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!path || only < 0 || only > MAX_READERS) {
		fprintf(stderr, "usage: chanbench PATH [--against PATH2] [--label NAME] [--goal1 G] [--goal8 G] [--readers 1-8] [--quick] [--json FILE]\n");
		return 2;
	}
	if (json_path && !(json = fopen(json_path, "a")))
		die(json_path);
	if (only) {
		report(path, against, only, only == 1 ? goal1 : goal8);
	} else {
		report(path, against, 1, goal1);
		report(path, against, 8, goal8);
	}
	if (json)
		fclose(json);
	return 0;
}
