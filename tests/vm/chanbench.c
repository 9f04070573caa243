// SPDX-License-Identifier: GPL-2.0-only
/*
 * Channel throughput against pipes (or against another channel path), in
 * the same run.  A program, not a test: it prints figures and asserts nothing.
 *
 *   chanbench PATH [--against PATH2] [--label NAME] [--goal1 G] [--goal8 G]
 *             [--quick] [--json FILE]
 *
 * PATH is a channel: /dev/channel0, or /mnt/ipc/chan/0.  With 64 KiB records,
 * it measures the payload bytes per second delivered, in aggregate, to 1 and
 * to 8 readers.  The comparison is one writer feeding 1 or 8 pipes (each
 * record written once per pipe), or, with --against, the same transfer
 * through PATH2.  Readers that are overrun lose records; only delivered
 * bytes count.  Each figure is the median of 5 runs, min and max shown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECORD (64 * 1024)
#define REPS 5
#define MAX_READERS 8

static long records = 4000;
static FILE *json;
static const char *label = "chan";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

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
	while (wait(NULL) > 0)
		;
	close(results[0]);
	close(results[1]);
	return (double)total / t / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void measure(const char *path, int nreaders, double out[3])
{
	double v[REPS];

	for (int i = 0; i < REPS; i++)
		v[i] = transfer(path, nreaders);
	qsort(v, REPS, sizeof(v[0]), cmp_double);
	out[0] = v[REPS / 2];
	out[1] = v[0];
	out[2] = v[REPS - 1];
}

static void report(const char *path, const char *against, int nreaders, double goal)
{
	double a[3], b[3], ratio;
	char name[64];

	measure(path, nreaders, a);
	measure(against, nreaders, b);
	ratio = a[0] / b[0];
	snprintf(name, sizeof(name), "%s %d reader%s 64K", label, nreaders, nreaders > 1 ? "s" : "");
	printf("%-28s %8.0f MB/s [%.0f-%.0f]  %s %8.0f [%.0f-%.0f]  ratio %5.2f  goal %.2f  %s\n",
	       name, a[0], a[1], a[2], against ? "other" : "pipes", b[0], b[1], b[2], ratio, goal,
	       ratio >= goal ? "pass" : "FAIL");
	fflush(stdout);
	if (json)
		fprintf(json, "{\"measure\": \"%s\", \"mode\": \"%s\", \"unit\": \"MB/s\", "
			"\"ipcfs\": [%.1f, %.1f, %.1f], \"native\": [%.1f, %.1f, %.1f], \"goal\": %.2f}\n",
			name, against ? against : "pipes", a[0], a[1], a[2], b[0], b[1], b[2], goal);
}

int main(int argc, char **argv)
{
	const char *path = NULL, *against = NULL, *json_path = NULL;
	double goal1 = 1.0, goal8 = 1.0;

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
		else if (strcmp(argv[i], "--quick") == 0)
			records = 500;
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "chanbench: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: chanbench PATH [--against PATH2] [--label NAME] [--goal1 G] [--goal8 G] [--quick] [--json FILE]\n");
		return 2;
	}
	if (json_path && !(json = fopen(json_path, "a")))
		die(json_path);
	report(path, against, 1, goal1);
	report(path, against, 8, goal8);
	if (json)
		fclose(json);
	return 0;
}
