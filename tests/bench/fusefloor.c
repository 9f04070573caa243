// SPDX-License-Identifier: GPL-2.0-only
/*
 * The FUSE floor: what the cheapest possible FUSE filesystem achieves on this
 * machine, against the native System V calls, in the same run.
 *
 *   fusefloor MOUNTPOINT [--quick] [--reads] [--nice N] [--json FILE]
 *
 * --reads measures only the reads of /big (to profile them); --nice N runs
 * the server at that nice value, as ipcfs -o nice=N does the daemon.
 *
 * A child process serves a null filesystem with the same low-level API and
 * multithreaded loop as ipcfs, and no work at all behind each request:
 *   /null   a write is discarded, a read returns zeros at once;
 *   /big    a read is answered from memory the server touched beforehand,
 *           the size of the segment it is compared with: the floor under a
 *           /shm read (one copy, from the daemon's memory into the reader's);
 *   /box0, /box1   a read waits until a write arrives, and the writer's own
 *           worker thread answers it: the fewest wake-ups any FUSE design
 *           can have for a hand-off (caller to daemon, daemon to waiter).
 *   /relay0, /relay1   the same, but a read that must wait sleeps in a thread
 *           of its own, as an ipcfs semop or msgrcv does in the kernel, and
 *           the write wakes that thread, which answers: one wake-up more.
 * The syscall floors make the kernel calls an ipcfs request makes, and nothing
 * of ipcfs around them: an IPC_STAT (ipcfs re-checks the object's identity),
 * then the call without waiting, and if it would wait, the call again in a
 * thread of its own that answers when it returns (as ipcfs's waiter threads):
 *   /semop, /semop2   a write of "[N:]+1" or "[N:]-1" is that semop on the
 *           floor's set (two files, one for each side of a hand-off: without
 *           FOPEN_PARALLEL_DIRECT_WRITES, which libfuse 3.14 cannot set, the
 *           kernel holds a file's inode lock while its write waits, as ipcfs
 *           avoids with an inode for each writer);
 *   /msg0, /msg1   a write is a msgsnd of its 64 bytes, a read a msgrcv,
 *           on the floor's two queues.
 * The ratios it prints are ceilings for any filesystem served as ipcfs is
 * (read and writev on /dev/fuse, libfuse's loop): a goal above its ceiling
 * is out of ipcfs's reach on this machine.  A program, not a test.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

enum { ROOT_INO = 1, NULL_INO, BOX0_INO, BOX1_INO, RELAY0_INO, RELAY1_INO, BIG_INO, SEMOP_INO,
	SEMOP2_INO, MSG0_INO, MSG1_INO, LAST_INO = MSG1_INO };
static const char *const names[] = {
	[NULL_INO] = "null", [BOX0_INO] = "box0", [BOX1_INO] = "box1",
	[RELAY0_INO] = "relay0", [RELAY1_INO] = "relay1", [BIG_INO] = "big", [SEMOP_INO] = "semop",
	[SEMOP2_INO] = "semop2", [MSG0_INO] = "msg0", [MSG1_INO] = "msg1",
};
static int sem_id = -1, q_ping = -1, q_pong = -1;	/* made before the server forks */

/* ---- the null filesystem (server child) ---- */

/*
 * A box holds either waiting reads or undelivered writes, never both.  A relay
 * box's waiting reads are not listed: each sleeps on changed in a thread.
 */
struct box {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	fuse_req_t waiting[64];
	int nwaiting, tokens;
};
#define BOX_INIT { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER }
static struct box boxes[4] = { BOX_INIT, BOX_INIT, BOX_INIT, BOX_INIT };
static GThreadPool *relay_threads[2];	/* one per relay box: its user_data */
static const char zeros[65536];
static size_t big_size;		/* of /big, and of the segment the parent copies from */
static char *big;		/* the server's copy of /big, every page touched */

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = ino == ROOT_INO ? S_IFDIR | 0755 : S_IFREG | 0666;
	st->st_nlink = 1;
	if (ino == BIG_INO)
		st->st_size = (off_t)big_size;
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	for (fuse_ino_t ino = NULL_INO; ino <= LAST_INO; ino++) {
		if (parent == ROOT_INO && strcmp(name, names[ino]) == 0) {
			e.ino = ino;
			e.attr_timeout = e.entry_timeout = 3600;
			fill_attr(ino, &e.attr);
			fuse_reply_entry(req, &e);
			return;
		}
	}
	fuse_reply_err(req, ENOENT);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void null_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->direct_io = 1;	/* as ipcfs's files */
	fi->nonseekable = ino != BIG_INO;	/* /big is read at offsets, as /shm files are */
	fuse_reply_open(req, fi);
}

/* The box behind ino; NULL for /null. */
static struct box *box_of(fuse_ino_t ino)
{
	return ino >= BOX0_INO && ino <= LAST_INO ? &boxes[ino - BOX0_INO] : NULL;
}

static bool is_relay(fuse_ino_t ino)
{
	return ino == RELAY0_INO || ino == RELAY1_INO;
}

/* ---- the syscall floors ---- */

/* A call of a syscall floor that must wait: made again, waiting, in a thread of its own. */
struct kernel_wait {
	fuse_req_t req;
	fuse_ino_t ino;
	struct sembuf op;	/* /semop */
	struct msg64 msg;	/* /msg0, /msg1 */
	bool send;
	size_t size;		/* of the write, to acknowledge */
};
static GThreadPool *kernel_waiters;

static bool is_semop(fuse_ino_t ino)
{
	return ino == SEMOP_INO || ino == SEMOP2_INO;
}

static int queue_of(fuse_ino_t ino)
{
	return ino == MSG0_INO ? q_ping : q_pong;
}

/* Make the call: 0, or -1 with errno. */
static int kernel_call(struct kernel_wait *w, int flags)
{
	int q = queue_of(w->ino);

	if (is_semop(w->ino)) {
		w->op.sem_flg = (short)flags;
		return semop(sem_id, &w->op, 1);
	}
	if (w->send)
		return msgsnd(q, &w->msg, sizeof(w->msg.mtext), flags);
	return msgrcv(q, &w->msg, sizeof(w->msg.mtext), 0, flags) < 0 ? -1 : 0;
}

static void kernel_reply(struct kernel_wait *w, int rc)
{
	if (rc != 0)
		fuse_reply_err(w->req, errno);
	else if (!is_semop(w->ino) && !w->send)
		fuse_reply_buf(w->req, w->msg.mtext, sizeof(w->msg.mtext));
	else
		fuse_reply_write(w->req, w->size);
	g_free(w);
}

static void kernel_wait_thread(gpointer data, gpointer user_data)
{
	struct kernel_wait *w = data;
	int rc;

	(void)user_data;
	do
		rc = kernel_call(w, 0);
	while (rc != 0 && errno == EINTR);
	kernel_reply(w, rc);
}

/* IPC_STAT, the call without waiting, and if it must wait, the call in a waiting thread. */
static void kernel_floor(struct kernel_wait *w)
{
	struct semid_ds sem_ds;
	struct msqid_ds msq_ds;
	union { struct semid_ds *buf; } arg = { &sem_ds };
	int stat = is_semop(w->ino) ? semctl(sem_id, 0, IPC_STAT, arg)
				       : msgctl(queue_of(w->ino), IPC_STAT, &msq_ds);
	int rc = stat != 0 ? stat : kernel_call(w, IPC_NOWAIT);

	if (rc != 0 && stat == 0 && (errno == EAGAIN || errno == ENOMSG))
		g_thread_pool_push(kernel_waiters, w, NULL);
	else
		kernel_reply(w, rc);
}

/* "[N:]+1" or "[N:]-1": the semop of /semop. */
static struct sembuf semop_of(const char *buf, size_t size)
{
	struct sembuf op = { 0, 1, 0 };

	if (size >= 2 && buf[1] == ':') {
		op.sem_num = (unsigned short)(buf[0] - '0');
		buf += 2;
	}
	op.sem_op = (short)(buf[0] == '-' ? -1 : 1);
	return op;
}

/* A relay read that must wait, in a thread of its own (as ipcfs's waiter threads). */
static void relay_wait(gpointer data, gpointer user_data)
{
	fuse_req_t req = data;
	struct box *b = user_data;

	pthread_mutex_lock(&b->lock);
	while (b->tokens == 0)
		pthread_cond_wait(&b->changed, &b->lock);
	b->tokens--;
	pthread_mutex_unlock(&b->lock);
	fuse_reply_buf(req, zeros, 64);
}

static void null_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct box *b = box_of(ino);

	(void)fi;
	if (ino == MSG0_INO || ino == MSG1_INO) {
		struct kernel_wait *w = g_new0(struct kernel_wait, 1);

		*w = (struct kernel_wait){ .req = req, .ino = ino };
		kernel_floor(w);
		return;
	}
	if (ino == BIG_INO) {
		size_t left = (size_t)off < big_size ? big_size - (size_t)off : 0;

		fuse_reply_buf(req, big + off, size < left ? size : left);
		return;
	}
	if (!b) {
		fuse_reply_buf(req, zeros, size < sizeof(zeros) ? size : sizeof(zeros));
		return;
	}
	pthread_mutex_lock(&b->lock);
	if (b->tokens > 0) {
		b->tokens--;
		pthread_mutex_unlock(&b->lock);
		fuse_reply_buf(req, zeros, size < 64 ? size : 64);
		return;
	}
	if (is_relay(ino)) {
		pthread_mutex_unlock(&b->lock);
		g_thread_pool_push(relay_threads[ino - RELAY0_INO], req, NULL);
		return;
	}
	if (b->nwaiting == (int)G_N_ELEMENTS(b->waiting)) {
		pthread_mutex_unlock(&b->lock);
		fuse_reply_err(req, EAGAIN);
		return;
	}
	b->waiting[b->nwaiting++] = req;
	pthread_mutex_unlock(&b->lock);
}

static void null_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	fuse_req_t reader = NULL;
	struct box *b = box_of(ino);

	(void)off;
	(void)fi;
	if (is_semop(ino) || ino == MSG0_INO || ino == MSG1_INO) {
		struct kernel_wait *w = g_new0(struct kernel_wait, 1);

		*w = (struct kernel_wait){ .req = req, .ino = ino, .send = true, .size = size,
					   .msg = { 1, { 0 } } };
		if (is_semop(ino))
			w->op = semop_of(buf, size);
		else
			memcpy(w->msg.mtext, buf, MIN(size, sizeof(w->msg.mtext)));
		kernel_floor(w);
		return;
	}
	if (b) {
		pthread_mutex_lock(&b->lock);
		if (is_relay(ino)) {
			b->tokens++;
			pthread_cond_signal(&b->changed);
		} else if (b->nwaiting > 0) {
			reader = b->waiting[0];
			memmove(b->waiting, b->waiting + 1, --b->nwaiting * sizeof(b->waiting[0]));
		} else {
			b->tokens++;
		}
		pthread_mutex_unlock(&b->lock);
		if (reader)
			fuse_reply_buf(reader, zeros, 64);
	}
	fuse_reply_write(req, size);
}

static const struct fuse_lowlevel_ops null_ops = {
	.lookup = null_lookup,
	.getattr = null_getattr,
	.open = null_open,
	.read = null_read,
	.write = null_write,
};

/* Serve until unmounted; tells the parent through ready once mounted. */
static int serve(const char *mnt, int ready, int nice)
{
	/* -o OPTIONS for libfuse, such as io_uring (tests/chroot/run sid --uring), as ipcfs gets them. */
	const char *options = getenv("IPCFS_TEST_OPTIONS");
	char *argv[] = { "fusefloor", "-o", (char *)options, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(options && *options ? 3 : 1, argv);
	struct fuse_session *se = fuse_session_new(&args, &null_ops, sizeof(null_ops), NULL);
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	int rc;

	if (nice && setpriority(PRIO_PROCESS, 0, nice) != 0)
		die("setpriority");
	big = malloc(big_size);
	if (!big || !se || fuse_session_mount(se, mnt) != 0)
		return 1;
	touch_pages(big, big_size);
	if (write(ready, "m", 1) != 1)
		return 1;
	close(ready);
	for (int i = 0; i < 2; i++)
		relay_threads[i] = g_thread_pool_new(relay_wait, &boxes[2 + i], -1, FALSE, NULL);
	kernel_waiters = g_thread_pool_new(kernel_wait_thread, NULL, -1, FALSE, NULL);
	/* ipcfs's defaults: no clone_fd, libfuse's thread limits. */
	fuse_loop_cfg_set_clone_fd(config, 0);
	rc = fuse_session_loop_mt(se, config);
	fuse_loop_cfg_destroy(config);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return rc < 0;
}

/* ---- the measures (parent) ---- */

static const char *mnt;
static long count;

static int open_file(const char *name, int flags)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", mnt, name);
	fd = open(path, flags);
	if (fd < 0)
		die(path);
	return fd;
}

/*
 * One write per request, a V then a P by turns (the null file discards them,
 * /semop makes them): requests per second, the floor under P+V and every
 * other one-request-per-operation measure.
 */
static double writes(const char *file)
{
	int fd = open_file(file, O_WRONLY);
	double t = now();

	for (long i = 0; i < count; i++)
		if (write(fd, i % 2 ? "-1\n" : "+1\n", 3) != 3)
			die(file);
	t = now() - t;
	close(fd);
	return (double)count / t;
}

static double null_writes(void *p) { (void)p; return writes("null"); }
static double semop_writes(void *p) { (void)p; return writes("semop"); }

static double native_semops(void *p)
{
	struct sembuf P = { 0, -1, 0 }, V = { 0, 1, 0 };
	double t = now();

	(void)p;
	for (long i = 0; i < count; i += 2)
		if (semop(sem_id, &V, 1) || semop(sem_id, &P, 1))
			die("semop");
	return (double)count / (now() - t);
}

/* One sender, one receiver, each one request per 64-byte message through file (NULL: natively). */
static double streaming(const char *file)
{
	struct msg64 m = { 1, { 0 } };
	pid_t child = fork();
	int fd = -1;
	double t;

	if (child == 0) {
		if (file)
			fd = open_file(file, O_WRONLY);
		for (long i = 0; i < count; i++)
			if (file ? write(fd, m.mtext, 64) != 64 : msgsnd(q_ping, &m, 64, 0) != 0)
				_exit(1);
		_exit(0);
	}
	if (file)
		fd = open_file(file, O_RDONLY);
	t = now();
	for (long i = 0; i < count; i++)
		if (file ? read(fd, m.mtext, 64) != 64 : msgrcv(q_ping, &m, 64, 0, 0) != 64)
			die("streaming");
	t = now() - t;
	waitpid(child, NULL, 0);
	if (fd >= 0)
		close(fd);
	return (double)count / t;
}

/*
 * 64 KiB records from one writer to one reader, each record one write and one
 * read request (NULL: through a pipe): the floor under /chan with one reader
 * (tests/vm/chanbench), in records per second.
 */
enum { RECORD = 65536 };

static double record_streaming(const char *file)
{
	long records = count / 10;
	int fds[2] = { -1, -1 };
	pid_t child;
	char *buf = malloc(RECORD);
	double t;

	if (!buf || (!file && pipe(fds) != 0))
		die("record streaming");
	child = fork();
	if (child == 0) {
		int fd = file ? open_file(file, O_WRONLY) : fds[1];

		memset(buf, 'r', RECORD);
		for (long i = 0; i < records; i++)
			if (write(fd, buf, RECORD) != RECORD)
				_exit(1);
		_exit(0);
	}
	if (!file)
		close(fds[1]);
	int fd = file ? open_file(file, O_RDONLY) : fds[0];

	t = now();
	for (long i = 0; i < records; i++) {
		for (size_t got = 0; got < RECORD;) {	/* a pipe may return a record in parts */
			ssize_t n = read(fd, buf + got, RECORD - got);

			if (n <= 0)
				die("record streaming");
			got += (size_t)n;
		}
	}
	t = now() - t;
	waitpid(child, NULL, 0);
	close(fd);
	free(buf);
	return (double)records / t;
}

static double null_records(void *p) { (void)p; return record_streaming("null"); }
static double pipe_records(void *p) { (void)p; return record_streaming(NULL); }

static double null_streaming(void *p) { (void)p; return streaming("null"); }
static double msg_streaming(void *p) { (void)p; return streaming("msg0"); }
static double native_streaming(void *p) { (void)p; return streaming(NULL); }

/*
 * Ping-pong: one side sends on channel 0 and waits on channel 1, the other
 * waits on 0 and answers on 1.  Through FUSE a channel is a box or a relay
 * box (the wait is a read waiting in the daemon, released by the other side's
 * write); natively it is a message queue, or, for the sem hand-off, a semaphore.
 */
enum partner { THROUGH_BOXES, THROUGH_RELAYS, THROUGH_SEMOP, THROUGH_MSG, NATIVE_MSG, NATIVE_SEM };

struct side {
	enum partner how;
	int fds[2];	/* through FUSE: channels 0 and 1, each open for this side's use */
};

static void post(struct side *s, int chan)
{
	struct msg64 m = { 1, { 0 } };
	struct sembuf V = { (unsigned short)chan, 1, 0 };
	int bad;

	if (s->how == THROUGH_BOXES || s->how == THROUGH_RELAYS || s->how == THROUGH_MSG)
		bad = write(s->fds[chan], m.mtext, 64) != 64;
	else if (s->how == THROUGH_SEMOP)
		bad = write(s->fds[chan], chan ? "1:+1\n" : "0:+1\n", 5) != 5;
	else if (s->how == NATIVE_MSG)
		bad = msgsnd(chan ? q_pong : q_ping, &m, 64, 0) != 0;
	else
		bad = semop(sem_id, &V, 1) != 0;
	if (bad)
		die("post");
}

static void await(struct side *s, int chan)
{
	struct msg64 m;
	struct sembuf P = { (unsigned short)chan, -1, 0 };
	int bad;

	if (s->how == THROUGH_BOXES || s->how == THROUGH_RELAYS || s->how == THROUGH_MSG)
		bad = read(s->fds[chan], m.mtext, 64) != 64;
	else if (s->how == THROUGH_SEMOP)
		bad = write(s->fds[chan], chan ? "1:-1\n" : "0:-1\n", 5) != 5;
	else if (s->how == NATIVE_MSG)
		bad = msgrcv(chan ? q_pong : q_ping, &m, 64, 0, 0) != 64;
	else
		bad = semop(sem_id, &P, 1) != 0;
	if (bad)
		die("await");
}

static struct side open_side(enum partner how, bool first)
{
	struct side s = { how, { -1, -1 } };

	static const char *const files[][2] = {
		[THROUGH_BOXES] = { "box0", "box1" }, [THROUGH_RELAYS] = { "relay0", "relay1" },
		[THROUGH_MSG] = { "msg0", "msg1" },
	};

	if (how == THROUGH_SEMOP) {
		s.fds[0] = open_file(first ? "semop" : "semop2", O_WRONLY);
		s.fds[1] = open_file(first ? "semop" : "semop2", O_WRONLY);
	} else if (how != NATIVE_MSG && how != NATIVE_SEM) {
		s.fds[0] = open_file(files[how][0], first ? O_WRONLY : O_RDONLY);
		s.fds[1] = open_file(files[how][1], first ? O_RDONLY : O_WRONLY);
	}
	return s;
}

static void close_side(struct side *s)
{
	for (int i = 0; i < 2; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
}

static double pingpong(enum partner how)
{
	long rounds = count / 4;
	pid_t child = fork();
	struct side s;
	double t;

	if (child == 0) {
		s = open_side(how, false);
		for (long i = 0; i < rounds; i++) {
			await(&s, 0);
			post(&s, 1);
		}
		_exit(0);
	}
	s = open_side(how, true);
	t = now();
	for (long i = 0; i < rounds; i++) {
		post(&s, 0);
		await(&s, 1);
	}
	t = now() - t;
	close_side(&s);
	waitpid(child, NULL, 0);
	return (double)rounds / t;
}

static double null_pingpong(void *p) { (void)p; return pingpong(THROUGH_BOXES); }
static double relayed_pingpong(void *p) { (void)p; return pingpong(THROUGH_RELAYS); }
static double semop_handoff(void *p) { (void)p; return pingpong(THROUGH_SEMOP); }
static double msg_pingpong(void *p) { (void)p; return pingpong(THROUGH_MSG); }
static double native_msg_pingpong(void *p) { (void)p; return pingpong(NATIVE_MSG); }
static double native_sem_handoff(void *p) { (void)p; return pingpong(NATIVE_SEM); }

/* Sequential reads of /big in blocks, against a warm memcpy from a segment of the same size. */
struct big_read {
	size_t block;
	char *seg;	/* attached once, every page touched */
	char *buf;
};

static double null_reads(void *p)
{
	struct big_read *r = p;
	int fd = open_file("big", O_RDONLY);
	double rate = file_rate(fd, r->buf, big_size, r->block, 0);

	close(fd);
	return rate;
}

static double native_reads(void *p)
{
	struct big_read *r = p;

	return memcpy_rate(r->seg, r->buf, big_size, r->block, 0);
}

static void floor_reads(FILE *json)
{
	static const size_t blocks[] = { 4096, 65536, 1 << 20 };
	double (*const sides[])(void *) = { null_reads, native_reads };
	struct big_read r = { .buf = malloc(1 << 20) };
	struct figure f[2];
	int id = shmget(IPC_PRIVATE, big_size, IPC_CREAT | 0600);
	char name[64];

	if (id < 0 || !r.buf)
		die("fusefloor: segment");
	r.seg = shmat(id, NULL, 0);
	shmctl(id, IPC_RMID, NULL);	/* gone at the detach, whatever happens */
	if (r.seg == (void *)-1)
		die("shmat");
	touch_pages(r.seg, big_size);
	touch_pages(r.buf, 1 << 20);
	for (size_t i = 0; i < G_N_ELEMENTS(blocks); i++) {
		r.block = blocks[i];
		snprintf(name, sizeof(name), "floor: null read %zuK / memcpy", r.block / 1024);
		/* The goal is the classic /shm read's (ipcbench.c), which only 1 MiB has. */
		measure_sides(2, sides, &r, f);
		report_figures(json, name, "floor", "MB/s", "memcpy", f[0], f[1],
			       r.block == (1 << 20) ? 0.35 : 0);
	}
	shmdt(r.seg);
	free(r.buf);
}

/*
 * Remove the SysV objects, unmount and reap the server: at the end, and also
 * when a measure dies (exit), but only in the process that mounted.
 */
static pid_t main_pid, server;

static void clean_up(void)
{
	if (getpid() != main_pid)
		return;
	if (sem_id >= 0)
		semctl(sem_id, 0, IPC_RMID);
	if (q_ping >= 0)
		msgctl(q_ping, IPC_RMID, NULL);
	if (q_pong >= 0)
		msgctl(q_pong, IPC_RMID, NULL);
	if (server <= 0)
		return;		/* the objects could not be made: nothing was mounted */
	if (umount2(mnt, MNT_DETACH) != 0 && errno == EPERM) {
		g_autofree char *cmd = g_strdup_printf("fusermount3 -u '%s'", mnt);

		if (system(cmd) != 0)
			fprintf(stderr, "fusefloor: could not unmount %s\n", mnt);
	}
	/* Ends the connection too, so that a measure's process blocked in a box read gets ENOTCONN. */
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
}

/* Ctrl-C or a kill during a run still unmounts and removes the objects. */
static void exit_on_signal(int sig)
{
	(void)sig;
	exit(1);
}

int main(int argc, char **argv)
{
	const char *json_path = NULL;
	FILE *json = NULL;
	int ready[2];
	unsigned short zero[2] = { 0, 0 };
	union { int val; unsigned short *array; } arg = { .array = zero };
	char c;
	struct figure handoff, native_handoff;
	bool quick = false, reads_only = false;
	int nice = 0;

	count = 50000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			count = 20000, quick = true;	/* short runs are too noisy to bound anything */
		else if (strcmp(argv[i], "--reads") == 0)
			reads_only = true;
		else if (strcmp(argv[i], "--nice") == 0 && i + 1 < argc)
			nice = atoi(argv[++i]);
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json_path = argv[++i];
		else if (!mnt && argv[i][0] != '-')
			mnt = argv[i];
		else
			mnt = NULL, i = argc;
	}
	if (!mnt) {
		fprintf(stderr, "usage: fusefloor MOUNTPOINT [--quick] [--reads] [--nice N] [--json FILE]\n");
		return 2;
	}
	if (json_path && !(json = fopen(json_path, "a")))
		die(json_path);
	big_size = quick ? (64u << 20) : (1u << 30);	/* as ipcbench's segment */
	main_pid = getpid();
	atexit(clean_up);
	/* Before the server forks: /semop operates on sem_id. */
	sem_id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	q_ping = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	q_pong = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (sem_id < 0 || q_ping < 0 || q_pong < 0) {
		perror("fusefloor: SysV objects");
		return 1;
	}
	semctl(sem_id, 0, SETALL, arg);
	if (pipe(ready) != 0)
		die("pipe");
	server = fork();
	if (server == 0) {
		close(ready[0]);
		_exit(serve(mnt, ready[1], nice));
	}
	close(ready[1]);
	signal(SIGINT, exit_on_signal);
	signal(SIGTERM, exit_on_signal);
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "fusefloor: the null filesystem did not mount\n");
		return 1;
	}
	if (reads_only) {
		floor_reads(json);
		return 0;
	}
	/* Each goal is the issue's, for the ipcfs measure that this floor bounds. */
	report_figures(json, "floor: null write / semop", "floor", "ops/s", "semop",
		       measure(null_writes, NULL), measure(native_semops, NULL), 0.1);
	report_figures(json, "floor: semop write / semop", "floor", "ops/s", "semop",
		       measure(semop_writes, NULL), measure(native_semops, NULL), 0.1);
	/* Through the null filesystem a hand-off and a ping-pong are the same thing: measure it once. */
	handoff = measure(null_pingpong, NULL);
	native_handoff = measure(native_sem_handoff, NULL);
	report_figures(json, "floor: null hand-off / sem", "floor", "rounds/s", "semop", handoff,
		       native_handoff, 0.5);
	report_figures(json, "floor: null ping-pong / msg", "floor", "rounds/s", "msg", handoff,
		       measure(native_msg_pingpong, NULL), 0.4);
	report_figures(json, "floor: null streaming / msg", "floor", "msgs/s", "msg",
		       measure(null_streaming, NULL), measure(native_streaming, NULL), 0.2);
	report_figures(json, "floor: null 64K records / pipes", "floor", "rec/s", "pipes",
		       measure(null_records, NULL), measure(pipe_records, NULL), 0);
	floor_reads(json);
	/*
	 * Last, the measures whose waits are answered from a thread of their own:
	 * over io_uring, libfuse 3.18.3 can lose such a reply (libfuse issue #1443)
	 * and the measure then never ends (tests/bench/uring bounds it).  The
	 * syscall floors first, since the goals are judged against them; the
	 * relayed hand-off, which loses a reply most often, at the very end.
	 */
	/* The syscall floors: what the transport gives a request that makes ipcfs's kernel calls. */
	report_figures(json, "floor: msg streaming / msg", "floor", "msgs/s", "msg",
		       measure(msg_streaming, NULL), measure(native_streaming, NULL), 0.2);
	report_figures(json, "floor: semop hand-off / sem", "floor", "rounds/s", "semop",
		       measure(semop_handoff, NULL), native_handoff, 0.5);
	report_figures(json, "floor: msg ping-pong / msg", "floor", "rounds/s", "msg",
		       measure(msg_pingpong, NULL), measure(native_msg_pingpong, NULL), 0.4);
	/* The ceiling of ipcfs's own design, where a wait sleeps in a thread of its own. */
	report_figures(json, "floor: relayed hand-off / sem", "floor", "rounds/s", "semop",
		       measure(relayed_pingpong, NULL), native_handoff, 0.5);
	return 0;
}

