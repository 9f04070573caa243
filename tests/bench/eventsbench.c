// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the eBPF source of /events costs programs that never use ipcfs: a
 * native semop loop and a native msgsnd+msgrcv loop, while /events is open
 * (the program attached to every system call's entry and exit) against the
 * same loop with it closed (detached), interleaved in one run.
 *
 *   eventsbench MOUNTPOINT [--quick] [--mode LABEL] [--json FILE]
 *
 * The ratio is traced / untraced (goal: at least 0.95, under 5 % lost).  A
 * program, not a test: it asserts nothing about speed.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/msg.h>
#include <sys/sem.h>

#include "bench.h"

static const char *mnt;
static long rounds = 400000;
static int semid, msqid;
static bool (*loop)(void);

static bool semop_pair(void)
{
	struct sembuf up = { 0, 1, 0 }, down = { 0, -1, 0 };

	return semop(semid, &up, 1) == 0 && semop(semid, &down, 1) == 0;
}

static bool msg_pair(void)
{
	struct msg64 m = { .mtype = 1 };

	return msgsnd(msqid, &m, sizeof(m.mtext), 0) == 0 &&
	       msgrcv(msqid, &m, sizeof(m.mtext), 0, 0) == (ssize_t)sizeof(m.mtext);
}

/* Pairs per second. */
static double run_loop(void)
{
	double t = now();

	for (long i = 0; i < rounds; i++)
		if (!loop())
			die("ipc call");
	return (double)rounds / (now() - t);
}

static double untraced(void *arg)
{
	(void)arg;
	return run_loop();
}

static double traced(void *arg)
{
	char path[4096];
	double rate;
	int fd;

	(void)arg;
	snprintf(path, sizeof(path), "%s/events", mnt);
	fd = open(path, O_RDONLY | O_NONBLOCK);	/* the open attaches the program */
	if (fd < 0)
		die(path);
	rate = run_loop();
	close(fd);
	return rate;
}

int main(int argc, char **argv)
{
	double (*const sides[])(void *) = { traced, untraced };
	const char *mode = "bpf", *json_path = NULL;
	FILE *json = NULL;
	struct figure f[2];

	if (argc < 2) {
		fprintf(stderr, "usage: eventsbench MOUNTPOINT [--quick] [--mode LABEL] [--json FILE]\n");
		return 2;
	}
	mnt = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			rounds /= 4;
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json_path = argv[++i];
		else {
			fprintf(stderr, "eventsbench: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (json_path && !(json = fopen(json_path, "a")))
		die(json_path);
	semid = semget(IPC_PRIVATE, 1, 0600);
	msqid = msgget(IPC_PRIVATE, 0600);
	if (semid < 0 || msqid < 0)
		die("semget/msgget");
	loop = semop_pair;
	measure_sides(2, sides, NULL, f);
	report_figures(json, "native semop +1/-1, /events open (eBPF)", mode, "pairs/s", "closed",
		       f[0], f[1], 0.95);
	loop = msg_pair;
	measure_sides(2, sides, NULL, f);
	report_figures(json, "native msgsnd+msgrcv 64 B, /events open (eBPF)", mode, "pairs/s",
		       "closed", f[0], f[1], 0.95);
	semctl(semid, 0, IPC_RMID);
	msgctl(msqid, IPC_RMID, NULL);
	if (json)
		fclose(json);
	return 0;
}
