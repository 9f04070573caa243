// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipcfs against the native System V calls, measured in the same run.
 *
 *   ipcbench MOUNTPOINT [--quick] [--only shm|sem|msg] [--mode LABEL] [--json FILE]
 *
 * Prints one line per measure: the ipcfs figure, the native figure, their
 * ratio, and the goal from the issues.  Each figure is the median of REPS
 * repetitions; min and max are shown.  With --json, each measure is also
 * appended to FILE as one JSON object per line, labelled with the mode
 * (classic, passthrough).  A program, not a test: it asserts nothing about
 * speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char *mnt;
static int quick;
static const char *mode = "classic";
static FILE *json;

static int open_obj(const char *kind, int id, int flags)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/id-%d", mnt, kind, id);
	fd = open(path, flags);
	if (fd < 0)
		die(path);
	return fd;
}

/* ipcfs against native, measured interleaved (measure_sides()). */
static void report(const char *name, const char *unit, double (*through_ipcfs)(void *),
		   double (*natively)(void *), void *arg, double goal)
{
	double (*const sides[])(void *) = { through_ipcfs, natively };
	struct figure f[2];

	measure_sides(2, sides, arg, f);
	report_figures(json, name, mode, unit, "native", f[0], f[1], goal);
}

/* ---- shm: sequential read and write ---- */

/*
 * Every side is warm: the segment is attached once and all its pages touched,
 * the tmpfs file is filled, and measure() runs each side once untimed.
 */
struct shm_args {
	int id;
	size_t size, block;
	int write;
	char *buf;
	char *seg;	/* the segment, attached once */
	int tmpfs_fd;	/* a tmpfs file of the same size: what a user would pick instead */
	char *mapped;	/* the ipcfs file mapped MAP_SHARED, or NULL */
	int segment_fd;	/* the segment's own shmem file (as passthrough reads it), or -1 */
};

static double shm_file_rate(int fd, const struct shm_args *a)
{
	return file_rate(fd, a->buf, a->size, a->block, a->write);
}

static double shm_ipcfs(void *p)
{
	struct shm_args *a = p;
	int fd = open_obj("shm", a->id, a->write ? O_WRONLY : O_RDONLY);
	double rate = shm_file_rate(fd, a);

	close(fd);
	return rate;
}

static double shm_tmpfs(void *p)
{
	return shm_file_rate(((struct shm_args *)p)->tmpfs_fd, p);
}

static double shm_segment_file(void *p)
{
	return shm_file_rate(((struct shm_args *)p)->segment_fd, p);
}

static double shm_native(void *p)
{
	struct shm_args *a = p;

	return memcpy_rate(a->seg, a->buf, a->size, a->block, a->write);
}

static double shm_mapped(void *p)
{
	struct shm_args *a = p;

	return memcpy_rate(a->mapped, a->buf, a->size, a->block, a->write);
}

/*
 * The goals: classic 1 MiB reads at least 0.35x a warm memcpy; passthrough
 * reads at least 0.9x tmpfs (both copy from shmem pages).  Writes keep no
 * goal: they go through the daemon in both modes (docs/shm.md), and mmap is
 * the fast write path (measured apart).
 */
static double shm_goal(size_t block, int write)
{
	if (write)
		return 0;
	if (strcmp(mode, "passthrough") == 0)
		return 0.9;
	return block == (1 << 20) ? 0.35 : 0;
}

/* A writer through a MAP_SHARED mapping of the ipcfs file, against one through shmat. */
static void bench_shm_mmap(struct shm_args *a)
{
	int fd = open_obj("shm", a->id, O_RDWR);

	a->mapped = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (a->mapped == MAP_FAILED) {
		printf("# shm mmap write: no MAP_SHARED in %s mode (%s)\n", mode, strerror(errno));
		a->mapped = NULL;
		return;
	}
	a->block = 1 << 20;
	a->write = 1;
	touch_pages(a->mapped, a->size);
	report("shm mmap write 1024K", "MB/s", shm_mapped, shm_native, a, 0.95);
	munmap(a->mapped, a->size);
	a->mapped = NULL;
}

static void bench_shm(void)
{
	struct shm_args a = { .size = quick ? (64u << 20) : (1u << 30) };
	static const size_t blocks[] = { 4096, 65536, 1 << 20 };
	char tmpfs_path[] = "/dev/shm/ipcbench-XXXXXX";
	char name[64];

	a.id = shmget(IPC_PRIVATE, a.size, IPC_CREAT | 0600);
	if (a.id < 0)
		die("shmget");
	a.seg = shmat(a.id, NULL, 0);
	if (a.seg == (void *)-1)
		die("shmat");
	a.tmpfs_fd = mkstemp(tmpfs_path);
	if (a.tmpfs_fd < 0)
		die(tmpfs_path);
	unlink(tmpfs_path);
	a.buf = malloc(1 << 20);
	touch_pages(a.buf, 1 << 20);
	/*
	 * Fault in the segment and fill the tmpfs file a MiB of each in turn.  On
	 * these VMs memory allocated first reads up to 20 % slower than memory
	 * allocated after it (whichever file it backs: docs/performance.md), so
	 * filling one and then the other would hand one side the slower memory.
	 */
	for (size_t off = 0; off < a.size; off += 1 << 20) {
		touch_pages(a.seg + off, 1 << 20);
		if (pwrite(a.tmpfs_fd, a.buf, 1 << 20, (off_t)off) != 1 << 20)
			die("tmpfs fill");
	}
	snprintf(name, sizeof(name), "/proc/self/map_files/%lx-%lx", (unsigned long)a.seg,
		 (unsigned long)a.seg + a.size);
	a.segment_fd = strcmp(mode, "passthrough") == 0 ? open(name, O_RDONLY) : -1;
	for (size_t i = 0; i < 3; i++) {
		a.block = blocks[i];
		for (a.write = 0; a.write < 2; a.write++) {
			/* The segment's own file: passthrough's source, read without FUSE. */
			double (*const sides[])(void *) = { shm_ipcfs, shm_native, shm_tmpfs,
							    shm_segment_file };
			bool segment_file = a.segment_fd >= 0 && !a.write;
			struct figure f[4];

			measure_sides(segment_file ? 4 : 3, sides, &a, f);
			snprintf(name, sizeof(name), "shm %s %zuK", a.write ? "write" : "read",
				 a.block / 1024);
			report_beside(json, name, mode, "MB/s", "native", f[0], f[1], &f[2],
				      shm_goal(a.block, a.write),
				      strcmp(mode, "passthrough") == 0 && !a.write);
			/* Passthrough's limit, against the tmpfs file: they are not equally fast. */
			if (segment_file) {
				snprintf(name, sizeof(name), "shm read %zuK: segment file", a.block / 1024);
				report_figures(json, name, mode, "MB/s", "tmpfs", f[3], f[2], 0);
			}
		}
	}
	if (a.segment_fd >= 0)
		close(a.segment_fd);
	bench_shm_mmap(&a);
	free(a.buf);
	close(a.tmpfs_fd);
	shmdt(a.seg);
	shmctl(a.id, IPC_RMID, NULL);
}

/* ---- sem ---- */

static int sem_id;
static long sem_ops;

static double sem_pv_ipcfs(void *p)
{
	int fd = open_obj("sem", sem_id, O_WRONLY);
	double t = now();

	(void)p;
	for (long i = 0; i < sem_ops; i++) {
		if (write(fd, "-1\n", 3) != 3 || write(fd, "+1\n", 3) != 3)
			die("sem write");
	}
	t = now() - t;
	close(fd);
	return (double)sem_ops / t;
}

static double sem_pv_native(void *p)
{
	struct sembuf P = { 0, -1, 0 }, V = { 0, 1, 0 };
	double t = now();

	(void)p;
	for (long i = 0; i < sem_ops; i++)
		if (semop(sem_id, &P, 1) || semop(sem_id, &V, 1))
			die("semop");
	return (double)sem_ops / (now() - t);
}

/* Hand-off: the parent posts sem 0 and waits on sem 1; the child the reverse. */
static double handoff(int through_ipcfs)
{
	long rounds = sem_ops / 4;
	int fd = -1;
	pid_t child;
	double t;

	child = fork();
	if (child == 0) {
		struct sembuf P = { 0, -1, 0 }, V = { 1, 1, 0 };

		if (through_ipcfs)
			fd = open_obj("sem", sem_id, O_WRONLY);
		for (long i = 0; i < rounds; i++) {
			if (through_ipcfs ? write(fd, "0:-1\n", 5) != 5 || write(fd, "1:+1\n", 5) != 5
					  : semop(sem_id, &P, 1) || semop(sem_id, &V, 1))
				_exit(1);
		}
		_exit(0);
	}
	if (through_ipcfs)
		fd = open_obj("sem", sem_id, O_WRONLY);
	t = now();
	for (long i = 0; i < rounds; i++) {
		struct sembuf V = { 0, 1, 0 }, P = { 1, -1, 0 };

		if (through_ipcfs ? write(fd, "0:+1\n", 5) != 5 || write(fd, "1:-1\n", 5) != 5
				  : semop(sem_id, &V, 1) || semop(sem_id, &P, 1))
			die("handoff");
	}
	t = now() - t;
	waitpid(child, NULL, 0);
	if (fd >= 0)
		close(fd);
	return (double)rounds / t;
}

static double handoff_ipcfs(void *p)
{
	(void)p;
	return handoff(1);
}

static double handoff_native(void *p)
{
	(void)p;
	return handoff(0);
}

static void bench_sem(void)
{
	union { int val; unsigned short *array; } arg;
	unsigned short one[2] = { 1, 0 };

	sem_ops = quick ? 5000 : 50000;
	sem_id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	arg.array = one;
	semctl(sem_id, 0, SETALL, arg);
	report("sem P+V uncontended", "pairs/s", sem_pv_ipcfs, sem_pv_native, NULL, 0.1);
	one[0] = 0;
	semctl(sem_id, 0, SETALL, arg);
	report("sem hand-off", "rounds/s", handoff_ipcfs, handoff_native, NULL, 0.5);
	semctl(sem_id, 0, IPC_RMID);
}

/* ---- msg ---- */

static int q_ping, q_pong;
static long msg_count;

static int msg_send(int through, int fd, int q, struct msg64 *m)
{
	return through ? write(fd, m->mtext, 64) != 64 : msgsnd(q, m, 64, 0);
}

static int msg_recv(int through, int fd, int q, struct msg64 *m)
{
	return through ? read(fd, m->mtext, 64) != 64 : msgrcv(q, m, 64, 0, 0) != 64;
}

static double pingpong(int through)
{
	long rounds = msg_count / 4;
	struct msg64 m = { 1, { 0 } };
	pid_t child = fork();
	int in, out;
	double t;

	if (child == 0) {
		in = through ? open_obj("msg", q_ping, O_RDONLY) : -1;
		out = through ? open_obj("msg", q_pong, O_WRONLY) : -1;
		for (long i = 0; i < rounds; i++)
			if (msg_recv(through, in, q_ping, &m) || msg_send(through, out, q_pong, &m))
				_exit(1);
		_exit(0);
	}
	out = through ? open_obj("msg", q_ping, O_WRONLY) : -1;
	in = through ? open_obj("msg", q_pong, O_RDONLY) : -1;
	t = now();
	for (long i = 0; i < rounds; i++)
		if (msg_send(through, out, q_ping, &m) || msg_recv(through, in, q_pong, &m))
			die("pingpong");
	t = now() - t;
	waitpid(child, NULL, 0);
	if (through) {
		close(in);
		close(out);
	}
	return (double)rounds / t;
}

static double stream(int through)
{
	struct msg64 m = { 1, { 0 } };
	pid_t child = fork();
	int fd;
	double t;

	if (child == 0) {
		fd = through ? open_obj("msg", q_ping, O_WRONLY) : -1;
		for (long i = 0; i < msg_count; i++)
			if (msg_send(through, fd, q_ping, &m))
				_exit(1);
		_exit(0);
	}
	fd = through ? open_obj("msg", q_ping, O_RDONLY) : -1;
	t = now();
	for (long i = 0; i < msg_count; i++)
		if (msg_recv(through, fd, q_ping, &m))
			die("stream");
	t = now() - t;
	waitpid(child, NULL, 0);
	if (through)
		close(fd);
	return (double)msg_count / t;
}

static double pingpong_ipcfs(void *p) { (void)p; return pingpong(1); }
static double pingpong_native(void *p) { (void)p; return pingpong(0); }
static double stream_ipcfs(void *p) { (void)p; return stream(1); }
static double stream_native(void *p) { (void)p; return stream(0); }

static void bench_msg(void)
{
	msg_count = quick ? 10000 : 100000;
	q_ping = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	q_pong = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	report("msg ping-pong 64B", "rounds/s", pingpong_ipcfs, pingpong_native, NULL, 0.4);
	report("msg streaming 64B", "msgs/s", stream_ipcfs, stream_native, NULL, 0.2);
	msgctl(q_ping, IPC_RMID, NULL);
	msgctl(q_pong, IPC_RMID, NULL);
}

int main(int argc, char **argv)
{
	const char *only = NULL, *json_path = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: ipcbench MOUNTPOINT [--quick] [--only shm|sem|msg] [--mode LABEL] [--json FILE]\n");
		return 2;
	}
	mnt = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json_path = argv[++i];
		else {
			fprintf(stderr, "ipcbench: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (json_path && !(json = fopen(json_path, "a")))
		die(json_path);
	if (!only)
		printf("%-28s %12s %-8s %-13s  %-28s  %-11s  %s\n", "measure", "ipcfs", "unit",
		       "[min-max]", "native [min-max]", "ratio", "goal");
	if (!only || strcmp(only, "shm") == 0)
		bench_shm();
	if (!only || strcmp(only, "sem") == 0)
		bench_sem();
	if (!only || strcmp(only, "msg") == 0)
		bench_msg();
	if (json)
		fclose(json);
	return 0;
}
