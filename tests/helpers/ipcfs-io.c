// SPDX-License-Identifier: GPL-2.0-only
/*
 * A test client with exact system-call semantics (no retry on EINTR):
 *
 *   ipcfs-io write PATH DATA [nonblock]   one write(2); prints "OK <n>" or "ERR <ERRNO>"
 *   ipcfs-io read PATH SIZE [COUNT]       up to COUNT reads (0: until an error); prints
 *                                         "MSG <hex>" per read, then "ERR <ERRNO>" if one failed
 *   ipcfs-io hold PATH DATA               open O_WRONLY, one write, print "HELD", then wait
 *                                         for stdin to close (or to be killed) before exiting
 *
 * Each mode prints "OPEN" once the file is open, so that a parent waiting for
 * the process to block knows it blocks in the read or write, not in open.
 * SIGINT and SIGTERM interrupt a blocked call (handler without SA_RESTART).
 * Output is flushed after every line, so a parent can follow it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig)
{
	(void)sig;
}

static int report_error(void)
{
	printf("ERR %s\n", strerrorname_np(errno));
	fflush(stdout);
	return 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: see the comment at the top of ipcfs-io.c\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (strcmp(argv[1], "write") == 0 || strcmp(argv[1], "hold") == 0) {
		int flags = O_WRONLY | (argc > 4 && strcmp(argv[4], "nonblock") == 0 ? O_NONBLOCK : 0);
		ssize_t n;

		fd = open(argv[2], flags);
		if (fd < 0)
			return report_error();
		printf("OPEN\n");
		n = write(fd, argv[3], strlen(argv[3]));
		if (n < 0)
			return report_error();
		if (strcmp(argv[1], "write") == 0) {
			printf("OK %zd\n", n);
			return 0;
		}
		printf("HELD\n");
		fflush(stdout);
		while (read(0, &n, 1) > 0)
			;
		return 0;
	}
	if (strcmp(argv[1], "read") == 0) {
		size_t size = strtoul(argv[3], NULL, 0);
		long count = argc > 4 ? strtol(argv[4], NULL, 0) : 0;
		unsigned char *buf = malloc(size ? size : 1);

		fd = open(argv[2], O_RDONLY);
		if (fd < 0) {
			free(buf);
			return report_error();
		}
		printf("OPEN\n");
		for (long i = 0; count == 0 || i < count; i++) {
			ssize_t n = read(fd, buf, size);

			if (n < 0) {
				free(buf);
				return report_error();
			}
			printf("MSG ");
			for (ssize_t j = 0; j < n; j++)
				printf("%02x", buf[j]);
			printf("\n");
		}
		free(buf);	/* the helper is built with ASan too: LeakSanitizer fails its exit */
		return 0;
	}
	fprintf(stderr, "ipcfs-io: unknown mode %s\n", argv[1]);
	return 2;
}
