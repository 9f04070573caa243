// SPDX-License-Identifier: GPL-2.0-only
/*
 * /sem/<key>: a semaphore set.  Reading gives the values ("3 0 1\n"); each
 * written line is one command (semcmd.h); "undo" operations are reverted
 * when the open file description goes away.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sem.h>
#include <time.h>

#include "block.h"
#include "kind.h"
#include "log.h"
#include "quota.h"
#include "semcmd.h"
#include "sysv.h"
#include "waiters.h"

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/*
 * Per open file: the read snapshot, the undo record of "undo" operations,
 * and the start of a line whose newline has not been written yet.
 */
struct sem_file {
	GMutex lock;
	GString *snapshot;	/* what a read at offset 0 saw */
	GString *partial;	/* written without its newline: run with the rest, or at close */
	unsigned partial_units;	/* what partial holds of kept_lines, for the file's opener */
	bool may_size;		/* this open created the set, and its first line has not come */
	struct ipc_obj undo_set;	/* the set the record is for (undo_adj != NULL) */
	int undo_nsems;
	int *undo_adj;		/* what to add back at release, per semaphore */
};

static void sem_from_ds(int id, const struct semid_ds *ds, struct ipc_obj *obj)
{
	sysv_obj_from_perm(obj, id, &ds->sem_perm);
	obj->nsems = ds->sem_nsems;
	obj->size = ds->sem_nsems;
	obj->atime = obj->mtime = ds->sem_otime;
	obj->ctime = ds->sem_ctime;
}

static int sem_stat(int id, struct ipc_obj *obj)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	if (id < 0 || semctl(sysv_id_to_index(id), 0, SEM_STAT_ANY, arg) != id)
		return -ENOENT;
	sem_from_ds(id, &ds, obj);
	return 0;
}

static int sem_find_key(key_t key, int *id)
{
	*id = semget(key, 0, 0);
	return *id < 0 ? -ENOENT : 0;
}

/* /proc/sysvipc/sem: key semid perms nsems uid gid cuid cgid otime ctime */
static bool sem_parse_line(const char *line, struct ipc_obj *obj)
{
	struct ipc_perm perm;
	long long otime, ctime;
	unsigned long nsems;
	int id;

	if (sscanf(line, "%d %d %o %lu %u %u %u %u %lld %lld", &perm.__key, &id, &perm.mode, &nsems,
		   &perm.uid, &perm.gid, &perm.cuid, &perm.cgid, &otime, &ctime) != 10)
		return false;
	sysv_obj_from_perm(obj, id, &perm);
	obj->nsems = obj->size = nsems;
	obj->atime = obj->mtime = (time_t)otime;
	obj->ctime = (time_t)ctime;
	return true;
}

static int sem_list(GArray *objs)
{
	return sysv_read_proc("/proc/sysvipc/sem", sem_parse_line, objs);
}

static int semget_sized(key_t key, size_t nsems, int flags)
{
	return semget(key, (int)nsems, flags);
}

/* A set of nsems semaphores, with uid:gid as its creator and owner. */
static int sem_create_sized(uid_t uid, gid_t gid, key_t key, mode_t mode, int nsems,
			    struct ipc_obj *obj)
{
	int id = sysv_create_as(uid, gid, semget_sized, key, (size_t)nsems, mode, "semget");

	return id < 0 ? id : sem_stat(id, obj);
}

static int sem_create_key(struct caller *caller, key_t key, mode_t mode, struct ipc_obj *obj)
{
	return sem_create_sized(caller->uid, caller->gid, key, mode, 1, obj);
}

static int sem_remove(const struct ipc_obj *obj)
{
	if (semctl(obj->id, 0, IPC_RMID) != 0)
		return reason(errno, "IPC_RMID of sem id %d", obj->id);
	return 0;
}

static int sem_set_owner(const struct ipc_obj *obj, mode_t mode, uid_t uid, gid_t gid)
{
	struct semid_ds ds = { 0 };
	union semun arg = { .buf = &ds };

	ds.sem_perm.mode = mode;
	ds.sem_perm.uid = uid;
	ds.sem_perm.gid = gid;
	if (semctl(obj->id, 0, IPC_SET, arg) != 0)
		return reason(errno, "IPC_SET of sem id %d", obj->id);
	return 0;
}

static int get_values(int id, unsigned short *values)
{
	union semun arg = { .array = values };

	if (semctl(id, 0, GETALL, arg) != 0)
		return errno == EINVAL ? -EIDRM : -errno;
	return 0;
}

/* The kernel's limits, from /proc/sys/kernel/sem: SEMMSL SEMMNS SEMOPM SEMMNI. */
struct sem_limits {
	long semmsl, semmns;
};

static int read_limits(struct sem_limits *limits)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents("/proc/sys/kernel/sem", &text, NULL, NULL) ||
	    sscanf(text, "%ld %ld", &limits->semmsl, &limits->semmns) != 2)
		return reason(EIO, "cannot read the semaphore limits in /proc/sys/kernel/sem");
	return 0;
}

/* Would the kernel create a set of nsems in place of one of old_nsems? */
static int check_limits(const struct ipc_obj *obj, long nsems)
{
	struct sem_limits limits;
	struct seminfo info;
	union semun arg = { .buf = (struct semid_ds *)(void *)&info };
	int err = read_limits(&limits);

	if (err)
		return err;
	if (nsems > limits.semmsl)
		return reason(EINVAL, "truncate sem id %d to %ld: above SEMMSL (%ld)", obj->id, nsems,
			      limits.semmsl);
	/* SEM_INFO's semaem is the number of semaphores in all sets. */
	if (semctl(0, 0, SEM_INFO, arg) >= 0 &&
	    info.semaem - (long)obj->nsems + nsems > limits.semmns)
		return reason(ENOSPC, "truncate sem id %d to %ld: the system would exceed SEMMNS (%ld)",
			      obj->id, nsems, limits.semmns);
	return sysv_check_create_as(obj->cuid, obj->cgid);
}

/* A set like obj (key, creator, owner, mode) with these values. */
static int recreate_set(const struct ipc_obj *obj, int nsems, unsigned short *values,
			struct ipc_obj *created)
{
	union semun arg = { .array = values };
	int err;

	/* As the old creator, so that the creator does not change hands. */
	err = sem_create_sized(obj->cuid, obj->cgid, obj->key, obj->mode, nsems, created);
	if (err)
		return err;
	err = sem_set_owner(created, obj->mode & 0777, obj->uid, obj->gid);
	if (!err && semctl(created->id, 0, SETALL, arg) != 0)
		err = reason(errno, "re-create sem id %d: SETALL", created->id);
	return err;
}

/*
 * truncate -s N: the same key, mode and owner, N semaphores, values kept.
 * The kernel cannot resize a set, so it is removed and created again: that
 * takes IPC_RMID rights, and every limit the creation could hit is checked
 * before anything is removed.
 */
static int sem_truncate(struct caller *caller, struct ipc_obj *obj, off_t size,
			struct ipcfs_file *file)
{
	int old_nsems = (int)obj->nsems;
	g_autofree unsigned short *old_values = g_new0(unsigned short, old_nsems);
	g_autofree unsigned short *new_values = NULL;
	struct ipc_obj created;
	int err;

	if (size <= 0)
		return reason(EINVAL, "truncate sem id %d to %lld: a set has at least 1 semaphore",
			      obj->id, (long long)size);
	if (size == old_nsems)
		return 0;
	if (!perm_may_control(caller, obj))
		return reason(EPERM, "truncate sem id %d: a new size re-creates the set, which needs IPC_RMID rights that uid %u lacks",
			      obj->id, (unsigned)caller->uid);
	err = check_limits(obj, (long)size);
	if (err)
		return err;
	for (int i = 0; i < old_nsems; i++) {
		if (semctl(obj->id, i, GETNCNT) != 0 || semctl(obj->id, i, GETZCNT) != 0)
			return reason(EBUSY, "truncate sem id %d: processes wait on semaphore %d",
				      obj->id, i);
	}
	err = get_values(obj->id, old_values);
	if (err)
		return err;
	new_values = g_new0(unsigned short, size);
	memcpy(new_values, old_values, sizeof(*new_values) * (size_t)MIN(old_nsems, size));

	if (semctl(obj->id, 0, IPC_RMID) != 0)
		return reason(errno, "truncate sem id %d: IPC_RMID", obj->id);
	err = recreate_set(obj, (int)size, new_values, &created);
	if (err) {
		/* Only a race can get here: put the old set back, in the room just freed. */
		if (recreate_set(obj, old_nsems, old_values, &created) != 0) {
			log_debug("truncate sem 0x%08x: neither the new nor the old set could be created: the set is lost",
				  (unsigned)obj->key);
			return err;
		}
		log_debug("truncate sem 0x%08x: the new size failed; the old set is back as id %d",
			  (unsigned)obj->key, created.id);
	} else {
		log_debug("truncate sem 0x%08x: id %d (%d semaphores) is now id %d (%lld)",
			  (unsigned)obj->key, obj->id, old_nsems, created.id, (long long)size);
	}
	if (file)
		ipcfs_file_rebind(file, &created);
	*obj = created;
	return err;
}

/* ---- Reading ---- */

static int format_values(int id, int nsems, GString *out)
{
	g_autofree unsigned short *values = g_new0(unsigned short, nsems);
	int err = get_values(id, values);

	if (err)
		return err;
	for (int i = 0; i < nsems; i++)
		g_string_append_printf(out, i ? " %u" : "%u", values[i]);
	g_string_append_c(out, '\n');
	return 0;
}

/* The values' text is all data (cp and tar probe SEEK_DATA/SEEK_HOLE). */
static int64_t sem_data_size(struct ipcfs_file *file)
{
	g_autoptr(GString) text = g_string_new(NULL);
	struct ipc_obj obj;
	int err = ipcfs_file_object(file, &obj);

	if (!err)
		err = format_values(obj.id, (int)obj.nsems, text);
	return err ? err : (int64_t)text->len;
}

static void sem_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
		     bool nonblock)
{
	struct sem_file *sf = file->priv;
	g_autofree char *chunk = NULL;
	size_t len = 0;
	struct ipc_obj obj;
	int err = 0;

	(void)nonblock;	/* values are read at once */
	g_mutex_lock(&sf->lock);
	/* Offset 0 takes a fresh snapshot; later offsets continue it, as in /proc. */
	if (off == 0 || !sf->snapshot) {
		if (!sf->snapshot)
			sf->snapshot = g_string_new(NULL);
		g_string_truncate(sf->snapshot, 0);
		err = ipcfs_file_object(file, &obj);
		if (!err)
			err = format_values(obj.id, (int)obj.nsems, sf->snapshot);
	}
	/* Copied out: no lock of the file is held across the reply (kind.h). */
	if (!err && (size_t)off < sf->snapshot->len) {
		len = MIN(size, sf->snapshot->len - (size_t)off);
		chunk = g_memdup2(sf->snapshot->str + off, len);
	}
	g_mutex_unlock(&sf->lock);
	if (err)
		reply_error(req, err);
	else
		fuse_reply_buf(req, chunk, len);
}

/* ---- Writing ---- */

/*
 * One write (or the close that ends an unfinished line): its parsed lines,
 * run in order, possibly finishing in a waiter thread.  It is one
 * allocation with its lines in it: the usual write is one short line, and
 * the round trip it waits in is short enough that each malloc shows.
 */
struct sem_write {
	struct blocking_call call;
	struct ipcfs_file *file;
	struct ipc_obj set;	/* the set as the write found it */
	size_t next;		/* the line to run next */
	size_t size;		/* bytes to acknowledge */
	bool nonblock;		/* O_NONBLOCK: nowait on every line */
	bool flush;		/* a FLUSH: reply 0, not a byte count */
	GString *tail;		/* the unfinished last line, kept once the write succeeds */
	unsigned tail_units;	/* what tail holds of kept_lines */
	size_t ncmds;		/* lines parsed so far */
	struct semcmd cmds[];	/* one per line */
};

/*
 * Unfinished lines the daemon keeps between writes, in KEPT_UNIT pieces,
 * charged to the file's opener: one line can be long (64 bytes per operation,
 * up to SEMMSL operations), but no user may make the daemon keep more than
 * KEPT_LINES_PER_UID of them, nor all users more than KEPT_LINES_MAX.
 * Beyond, a write fails with ENOBUFS before any of its lines runs.
 */
#define KEPT_UNIT 4096
#define KEPT_LINES_PER_UID (8u << 20)
#define KEPT_LINES_MAX (32u << 20)
static struct quota kept_lines;

static unsigned kept_units(size_t bytes)
{
	return (unsigned)((bytes + KEPT_UNIT - 1) / KEPT_UNIT);
}

static void sem_write_free(struct sem_write *w)
{
	quota_give_n(&kept_lines, w->file->opener, w->tail_units);
	for (size_t i = 0; i < w->ncmds; i++)
		semcmd_clear(&w->cmds[i]);
	if (w->tail)
		g_string_free(w->tail, TRUE);
	g_free(w);
}

/* The kernel's bounds of an undo total (semadj), -SEMAEM - 1 .. SEMAEM. */
#define SEMAEM SEMCMD_SEMVMX

/*
 * Enter an "undo" line's operations in the record before they run (sign 1),
 * or take them out again if they failed (sign -1).  As semop(2), a total
 * that would leave the kernel's bounds fails with ERANGE, recording nothing.
 */
static int reserve_undo(struct sem_file *sf, const struct ipc_obj *set, const struct semcmd *cmd,
			int sign)
{
	int err = 0;

	g_mutex_lock(&sf->lock);
	if (!sf->undo_adj || !ipc_obj_same(&sf->undo_set, set)) {
		/* A record for a set that was re-created (truncate) no longer applies. */
		g_free(sf->undo_adj);
		sf->undo_adj = g_new0(int, set->nsems);
		sf->undo_set = *set;
		sf->undo_nsems = (int)set->nsems;
	}
	for (size_t i = 0; i < cmd->nops; i++) {
		int *adj = &sf->undo_adj[cmd->ops[i].sem_num];

		*adj -= sign * cmd->ops[i].sem_op;
		if (*adj < -SEMAEM - 1 || *adj > SEMAEM)
			err = -ERANGE;
	}
	if (err && sign > 0) {
		for (size_t i = 0; i < cmd->nops; i++)
			sf->undo_adj[cmd->ops[i].sem_num] += cmd->ops[i].sem_op;
	}
	g_mutex_unlock(&sf->lock);
	return err;
}

static int run_setter(int id, const struct semcmd *cmd)
{
	union semun arg;

	if (cmd->type == SEMCMD_SETVAL) {
		arg.val = cmd->value;
		if (semctl(id, cmd->semnum, SETVAL, arg) != 0)
			return reason(errno == EINVAL ? EIDRM : errno, "SETVAL sem id %d", id);
	} else {
		arg.array = cmd->values;
		if (semctl(id, 0, SETALL, arg) != 0)
			return reason(errno == EINVAL ? EIDRM : errno, "SETALL sem id %d", id);
	}
	return 0;
}

static int semop_errno(int id, int err)
{
	/* The id is gone: for an open file that is "removed", not "invalid". */
	if (err == EINVAL) {
		struct ipc_obj obj;

		if (sem_stat(id, &obj) != 0)
			return EIDRM;
	}
	return err;
}

/* Absolute CLOCK_MONOTONIC deadline of a timeout=... line. */
static struct timespec deadline_after(const struct timespec *timeout)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_sec += timeout->tv_sec;
	now.tv_nsec += timeout->tv_nsec;
	if (now.tv_nsec >= 1000000000L) {
		now.tv_sec++;
		now.tv_nsec -= 1000000000L;
	}
	return now;
}

static bool time_left(const struct timespec *deadline, struct timespec *left)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left->tv_sec = deadline->tv_sec - now.tv_sec;
	left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (left->tv_nsec < 0) {
		left->tv_sec--;
		left->tv_nsec += 1000000000L;
	}
	return left->tv_sec >= 0;
}

/* Wait for one operation line in a waiter thread; 0 or -errno. */
static int wait_ops(struct sem_write *w, struct semcmd *cmd)
{
	struct timespec deadline, left;
	struct ipc_obj now;

	if (cmd->has_timeout)
		deadline = deadline_after(&cmd->timeout);
	for (bool retry = false;; retry = true) {
		int r;

		if (blocking_interrupted(&w->call))
			return -blocking_stop_errno(&w->call);
		/* A retry: the set may have been removed, and its id reused, since the last try. */
		if (retry && ipcfs_object_recheck(&kind_sem, &w->set, &now) != 0)
			return -EIDRM;
		if (cmd->has_timeout) {
			if (!time_left(&deadline, &left))
				return -EAGAIN;
			r = semtimedop(w->set.id, cmd->ops, cmd->nops, &left);
		} else {
			r = semop(w->set.id, cmd->ops, cmd->nops);
		}
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -semop_errno(w->set.id, errno);
	}
}

/*
 * Run lines from w->next on.  In a FUSE worker (call_started false), an
 * operation that would wait hands the rest of the write to a waiter thread
 * and returns false; otherwise it runs to the end and returns true with *err.
 */
static bool run_lines(struct sem_write *w, bool in_waiter, int *err)
{
	struct sem_file *sf = w->file->priv;

	*err = 0;
	for (; w->next < w->ncmds; w->next++) {
		struct semcmd *cmd = &w->cmds[w->next];
		bool nowait = cmd->nowait || w->nonblock;

		if (cmd->type == SEMCMD_EMPTY)
			continue;
		if (cmd->type == SEMCMD_OPS && cmd->undo && !cmd->undo_reserved) {
			*err = reserve_undo(sf, &w->set, cmd, 1);
			if (*err) {
				reason(-*err, "semop sem id %d: the undo total would leave -32768..32767",
				       w->set.id);
				return true;
			}
			cmd->undo_reserved = true;
		}
		if (cmd->type != SEMCMD_OPS) {
			*err = run_setter(w->set.id, cmd);
		} else if (!in_waiter || nowait) {
			/* Try without waiting: the common, uncontended case costs one semop. */
			for (size_t i = 0; i < cmd->nops; i++)
				cmd->ops[i].sem_flg = IPC_NOWAIT;
			if (semop(w->set.id, cmd->ops, cmd->nops) != 0) {
				int e = errno;

				if (e == EAGAIN && !nowait)
					return false;	/* must wait: go to a waiter thread */
				*err = e == EAGAIN ? reason(EAGAIN, "semop sem id %d: would wait (nowait)", w->set.id)
						   : reason(semop_errno(w->set.id, e), "semop sem id %d", w->set.id);
			}
		} else {
			for (size_t i = 0; i < cmd->nops; i++)
				cmd->ops[i].sem_flg = 0;
			*err = wait_ops(w, cmd);
		}
		if (*err) {
			if (cmd->undo_reserved)
				reserve_undo(sf, &w->set, cmd, -1);
			return true;
		}
	}
	return true;
}

/* Done: keep the unfinished line for the next write, then reply. */
static void finish_write(fuse_req_t req, struct sem_write *w, int err)
{
	struct sem_file *sf = w->file->priv;

	if (!err && w->tail) {
		g_mutex_lock(&sf->lock);
		/* Writers sharing the descriptor at once: their pieces join in the order they finish. */
		if (sf->partial)
			g_string_append_len(sf->partial, w->tail->str, (gssize)w->tail->len);
		else
			sf->partial = g_steal_pointer(&w->tail);
		sf->partial_units += w->tail_units;	/* the file holds them now */
		w->tail_units = 0;
		g_mutex_unlock(&sf->lock);
	}
	if (err)
		reply_error(req, err);
	else if (w->flush)
		reply_error(req, 0);
	else
		fuse_reply_write(req, w->size);
	sem_write_free(w);
}

static void sem_write_in_waiter(struct blocking_call *call)
{
	struct sem_write *w = (struct sem_write *)call;
	int err;

	run_lines(w, true, &err);
	blocking_finish(call);
	finish_write(call->req, w, err);
}

/* The longest line any command for a set of nsems can need, with room for spacing and flags. */
static size_t max_line(int nsems)
{
	return 64 * (size_t)MAX(nsems, SEMCMD_MAX_OPS) + 65536;
}

/*
 * The line at *pos, without its newline, moving *pos past it; false at end.
 * Each line ends at a newline, and the last at the end of the text.
 */
static bool next_line(const char **pos, const char *end, const char **line, size_t *len)
{
	const char *nl;

	if (*pos >= end)
		return false;
	nl = memchr(*pos, '\n', (size_t)(end - *pos));
	*line = *pos;
	*len = nl ? (size_t)(nl - *pos) : (size_t)(end - *pos);
	*pos = nl ? nl + 1 : end;
	return true;
}

static size_t count_lines(const char *text, size_t size)
{
	const char *pos = text, *line;
	size_t len, lines = 0;

	while (next_line(&pos, text + size, &line, &len))
		lines++;
	return lines;
}

/* Parse every line before running any: a syntax error applies nothing. */
static int parse_lines(struct sem_write *w, const char *text, size_t size)
{
	const char *pos = text, *line;
	size_t len;

	while (next_line(&pos, text + size, &line, &len)) {
		int err = semcmd_parse(line, len, (int)w->set.nsems, &w->cmds[w->ncmds]);

		if (err) {
			if (memchr(line, '\0', len))
				return reason(-err, "write sem id %d: a line holds a NUL byte", w->set.id);
			return reason(-err, "write sem id %d: bad line \"%.*s\"", w->set.id,
				      (int)MIN(len, 80), line);
		}
		w->ncmds++;
	}
	return 0;
}

static int count_tokens(const char *line, size_t len)
{
	int tokens = 0;

	for (size_t i = 0; i < len; i++)
		if (!g_ascii_isspace(line[i]) && (i == 0 || g_ascii_isspace(line[i - 1])))
			tokens++;
	return tokens;
}

/*
 * The first line written to a set that this open created may size it:
 * `echo '3 1 4' > sem/NEWKEY` makes three semaphores with those values, as
 * `echo data > shm/NEWKEY` makes a segment of exactly that content.  Only a
 * values line (SETALL of as many semaphores as it has numbers) does; any
 * other first line is a command on the 1-semaphore set the create made.
 */
static int size_new_set(fuse_req_t req, struct ipcfs_file *file, const char *text, size_t complete,
			struct ipc_obj *obj)
{
	struct sem_file *sf = file->priv;
	const char *pos = text, *line;
	struct semcmd cmd;
	g_auto(caller_t) caller = { 0 };
	size_t len;
	bool first;
	int values, err;

	g_mutex_lock(&sf->lock);
	first = sf->may_size;
	if (complete)
		sf->may_size = false;
	g_mutex_unlock(&sf->lock);
	if (!first || !next_line(&pos, text + complete, &line, &len))
		return 0;
	values = count_tokens(line, len);
	if (values < 2 || values == (int)obj->nsems || semcmd_parse(line, len, values, &cmd) != 0)
		return 0;
	first = cmd.type == SEMCMD_SETALL;
	semcmd_clear(&cmd);
	if (!first)
		return 0;
	log_debug("write sem id %d: the first line of the set this open created has %d values: %d semaphores",
		  obj->id, values, values);
	caller_from_req(&caller, req);
	err = sem_truncate(&caller, obj, values, file);
	return err;
}

/*
 * Run the complete lines of text (flush: all of it, as one last line),
 * replying when they are done, and keep an unfinished last line for later.
 * A line is complete at its newline: one line may come in several WRITE
 * requests (a writer's buffer boundary, or the kernel splitting a write
 * larger than max_write), and must not run piecewise.
 */
static void run_text(fuse_req_t req, struct ipcfs_file *file, const char *text, size_t len,
		     size_t size, bool nonblock, bool flush)
{
	const char *last_nl = memrchr(text, '\n', len);
	size_t complete = flush ? len : last_nl ? (size_t)(last_nl - text) + 1 : 0;
	struct sem_write *w = g_malloc0(sizeof(*w) + count_lines(text, complete) * sizeof(w->cmds[0]));
	struct ipc_obj obj;
	int err;

	w->file = file;
	w->size = size;
	w->nonblock = nonblock;
	w->flush = flush;
	err = ipcfs_file_object(file, &obj);
	if (!err)
		err = size_new_set(req, file, text, complete, &obj);
	if (err)
		goto fail;
	w->set = obj;
	if (len - complete > max_line((int)w->set.nsems)) {
		err = reason(EINVAL, "write sem id %d: a line of over %zu bytes is longer than any command",
			     w->set.id, max_line((int)w->set.nsems));
		goto fail;
	}
	if (complete < len) {
		const char *refusal = quota_take_n(&kept_lines, file->opener, kept_units(len - complete));

		if (refusal) {
			err = reason(ENOBUFS, "write sem id %d: keeping an unfinished line of %zu bytes for uid %u would pass %s (%u MiB of unfinished lines)",
				     w->set.id, len - complete, (unsigned)file->opener, refusal,
				     (quota_refused_in_all(refusal) ? KEPT_LINES_MAX : KEPT_LINES_PER_UID) >> 20);
			goto fail;
		}
		w->tail_units = kept_units(len - complete);
		w->tail = g_string_new_len(text + complete, (gssize)(len - complete));
	}
	err = parse_lines(w, text, complete);
	if (err)
		goto fail;
	if (run_lines(w, false, &err))
		finish_write(req, w, err);
	else
		blocking_start(&w->call, req, file, sem_write_in_waiter);
	return;
fail:
	sem_write_free(w);
	reply_error(req, err);
}

/*
 * What an earlier write left unfinished, taken out of the file (or NULL).  Its
 * share of kept_lines goes back: the request holds it only while it runs, and
 * what it leaves unfinished is charged anew.
 */
static GString *take_partial(struct ipcfs_file *file)
{
	struct sem_file *sf = file->priv;
	GString *partial;
	unsigned units;

	g_mutex_lock(&sf->lock);
	partial = g_steal_pointer(&sf->partial);
	units = sf->partial_units;
	sf->partial_units = 0;
	g_mutex_unlock(&sf->lock);
	quota_give_n(&kept_lines, file->opener, units);
	return partial;
}

static void sem_write(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size,
		      off_t off, bool nonblock)
{
	g_autoptr(GString) partial = take_partial(file);

	(void)off;
	if (!partial) {
		run_text(req, file, buf, size, size, nonblock, false);
		return;
	}
	g_string_append_len(partial, buf, (gssize)size);
	run_text(req, file, partial->str, partial->len, size, nonblock, false);
}

/* close(2): a last line written without its newline runs now; its error is close's. */
static void sem_flush(fuse_req_t req, struct ipcfs_file *file)
{
	g_autoptr(GString) partial = take_partial(file);

	if (!partial) {
		reply_error(req, 0);
		return;
	}
	run_text(req, file, partial->str, partial->len, 0, file->flags & O_NONBLOCK, true);
}

/* ---- Undo on close ---- */

/* Add delta to one semaphore without waiting, clamped to 0..SEMVMX as exit_sem() does. */
static void undo_one(int id, int semnum, int delta)
{
	for (int attempt = 0; attempt < 100 && delta != 0; attempt++) {
		struct sembuf op = { .sem_num = (unsigned short)semnum, .sem_flg = IPC_NOWAIT };
		int value = semctl(id, semnum, GETVAL);

		if (value < 0)
			return;
		if (delta < 0 && value + delta < 0)
			op.sem_op = (short)-value;
		else if (delta > 0 && value + delta > SEMCMD_SEMVMX)
			op.sem_op = (short)(SEMCMD_SEMVMX - value);
		else
			op.sem_op = (short)delta;
		if (op.sem_op == 0 || semop(id, &op, 1) == 0)
			return;
		if (errno != EAGAIN && errno != ERANGE)
			return;
		/* The value changed under us: look again. */
	}
}

static void apply_undo(struct sem_file *sf)
{
	g_autofree struct sembuf *ops = g_new0(struct sembuf, sf->undo_nsems);
	struct ipc_obj now;
	size_t nops = 0;

	for (int i = 0; i < sf->undo_nsems; i++) {
		int adj = sf->undo_adj[i];

		if (adj == 0)
			continue;
		ops[nops].sem_num = (unsigned short)i;
		ops[nops].sem_op = (short)CLAMP(adj, -SEMCMD_SEMVMX, SEMCMD_SEMVMX);
		ops[nops].sem_flg = IPC_NOWAIT;
		nops++;
	}
	if (nops == 0)
		return;
	if (ipcfs_object_recheck(&kind_sem, &sf->undo_set, &now) != 0) {
		log_debug("undo on close: sem id %d is gone, record dropped", sf->undo_set.id);
		return;
	}
	/* All at once if the values allow it, else one by one with clamping. */
	if (semop(sf->undo_set.id, ops, nops) == 0) {
		log_debug("undo on close: sem id %d, %zu semaphores restored", sf->undo_set.id, nops);
		return;
	}
	if (errno != EAGAIN && errno != ERANGE) {
		log_debug("undo on close: sem id %d is gone, record dropped", sf->undo_set.id);
		return;
	}
	for (size_t i = 0; i < nops; i++)
		undo_one(sf->undo_set.id, ops[i].sem_num, sf->undo_adj[ops[i].sem_num]);
	log_debug("undo on close: sem id %d, restored with clamping", sf->undo_set.id);
}

static int sem_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi)
{
	struct sem_file *sf = g_new0(struct sem_file, 1);

	(void)req;
	(void)fi;
	g_mutex_init(&sf->lock);
	sf->may_size = file->created;
	file->priv = sf;
	return 0;
}

static void sem_release(struct ipcfs_file *file)
{
	struct sem_file *sf = file->priv;

	if (sf->undo_adj)
		apply_undo(sf);
	if (sf->snapshot)
		g_string_free(sf->snapshot, TRUE);
	if (sf->partial) {
		log_debug("close sem id %d: an unfinished line got no FLUSH and is dropped",
			  file->obj.id);
		g_string_free(sf->partial, TRUE);
	}
	quota_give_n(&kept_lines, file->opener, sf->partial_units);
	g_free(sf->undo_adj);
	g_mutex_clear(&sf->lock);
	g_free(sf);
}

/* ---- Extended attributes ---- */

static int format_nsems(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%lu", obj->nsems);
	return 0;
}

static int format_per_sem(const struct ipc_obj *obj, GString *out, int cmd)
{
	for (unsigned long i = 0; i < obj->nsems; i++) {
		int v = semctl(obj->id, (int)i, cmd);

		if (v < 0)
			return -EIDRM;
		g_string_append_printf(out, i ? " %d" : "%d", v);
	}
	return 0;
}

static int format_ncnt(const struct ipc_obj *obj, GString *out)
{
	return format_per_sem(obj, out, GETNCNT);
}

static int format_zcnt(const struct ipc_obj *obj, GString *out)
{
	return format_per_sem(obj, out, GETZCNT);
}

static int format_pids(const struct ipc_obj *obj, GString *out)
{
	return format_per_sem(obj, out, GETPID);
}

/* Who waits on a set: callers blocked through ipcfs, then threads blocked in the kernel itself. */
static int format_waiting(struct caller *caller, const struct ipc_obj *obj, GString *out)
{
	waiters_format(caller, true, obj->id, blocking_format_waiting(&kind_sem, caller, obj->id, out),
		       out);
	return 0;
}

/* The kernel keeps no creator of a set. */
static int format_creator(struct caller *caller, const struct ipc_obj *obj, GString *out)
{
	(void)obj;
	sysv_format_creator(caller, 0, 0, out);
	return 0;
}

static bool holds_undo(struct ipcfs_file *file, void *data);

/*
 * A leftover, as far as the kernel can tell: nobody waits on it, no file
 * holds undo records on it, and every process that last changed one of its
 * semaphores is gone.  A set nobody ever operated on is not called one: its
 * creator, which the kernel does not keep, may still be about to.
 */
static int format_orphan(const struct ipc_obj *obj, GString *out)
{
	g_autoptr(GArray) holders = g_array_new(FALSE, FALSE, sizeof(pid_t));
	time_t last_change = MAX(obj->mtime, obj->ctime);	/* semop, or SETVAL/SETALL */
	bool operated = false, orphan = true;

	for (unsigned long i = 0; i < obj->nsems && orphan; i++) {
		int pid = semctl(obj->id, (int)i, GETPID);

		if (pid < 0 || semctl(obj->id, (int)i, GETNCNT) != 0 || semctl(obj->id, (int)i, GETZCNT) != 0)
			orphan = false;
		operated |= pid > 0;
		if (orphan && sysv_process_since(pid, last_change) == SYSV_ALIVE)
			orphan = false;
	}
	if (orphan)
		ipcfs_openers(&kind_sem, holds_undo, (void *)obj, holders);
	g_string_append(out, orphan && operated && holders->len == 0 ? "1" : "0");
	return 0;
}

/* Does this open file hold a non-zero undo record on the set? */
static bool holds_undo(struct ipcfs_file *file, void *data)
{
	const struct ipc_obj *set = data;
	struct sem_file *sf = file->priv;
	bool holds = false;

	g_mutex_lock(&sf->lock);
	if (sf->undo_adj && ipc_obj_same(&sf->undo_set, set))
		for (int i = 0; i < sf->undo_nsems && !holds; i++)
			holds = sf->undo_adj[i] != 0;
	g_mutex_unlock(&sf->lock);
	return holds;
}

/*
 * user.ipc.undo: the processes that opened the ipcfs files holding undo
 * records on the set (the kernel does not publish its own SEM_UNDO holders).
 */
static int format_undo(struct caller *caller, const struct ipc_obj *obj, GString *out)
{
	g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(pid_t));

	ipcfs_openers(&kind_sem, holds_undo, (void *)obj, pids);
	sysv_format_hidden(sysv_format_processes(caller, pids, out), out);
	return 0;
}

static const struct xattr_field sem_xattrs[] = {
	{ .name = "nsems", .format = format_nsems },
	{ .name = "ncnt", .format = format_ncnt, .perm = PERM_READ },
	{ .name = "zcnt", .format = format_zcnt, .perm = PERM_READ },
	{ .name = "pids", .format = format_pids, .perm = PERM_READ, .pids = true },
	{ .name = "waiting", .format_for = format_waiting },
	{ .name = "undo", .format_for = format_undo },
	{ .name = "creator", .format_for = format_creator },
	{ .name = "orphan", .format = format_orphan, .perm = PERM_READ },	/* from ncnt, zcnt, pids */
	{ .name = NULL },
};

static int sem_setup(void)
{
	quota_init(&kept_lines, KEPT_LINES_MAX / KEPT_UNIT, KEPT_LINES_PER_UID / KEPT_UNIT);
	return 0;
}

static void sem_teardown(void)
{
	quota_clear(&kept_lines);
}

const struct ipcfs_kind kind_sem = {
	.name = "sem",
	.dir_mode = 01777,
	.xattr_prefix = "user.ipc.",
	.xattrs = sem_xattrs,
	.sysv = true,
	.writes_wait = true,
	.setup = sem_setup,
	.teardown = sem_teardown,
	.list = sem_list,
	.format_name = sysv_format_name,
	.lookup = sysv_lookup,
	.stat = sem_stat,
	.find_key = sem_find_key,
	.create_key = sem_create_key,
	.create = sysv_create,
	.remove = sem_remove,
	.set_owner = sem_set_owner,
	.truncate = sem_truncate,
	.open = sem_open,
	.read = sem_read,
	.write = sem_write,
	.flush = sem_flush,
	.data_size = sem_data_size,
	.release = sem_release,
};
