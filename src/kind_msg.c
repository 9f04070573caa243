// SPDX-License-Identifier: GPL-2.0-only
/*
 * /msg/<key>: a message queue.  One write sends one message, one read
 * receives one.  /msg/<key>@<T> chooses the type; @framed views put the type
 * in front of each message.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>

#include "block.h"
#include "kind.h"
#include "log.h"
#include "msgview.h"
#include "ns.h"
#include "quota.h"
#include "sysv.h"
#include "waiters.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

/* The framed header: the message type, as a native-endian int64. */
#define FRAME_HEADER sizeof(int64_t)

/*
 * Views chosen by name suffixes (msgview.h) get variant numbers; view 0 is
 * the plain file.  A view lives while the kernel holds a nodeid that names
 * it: each alias nodeid (node.h; /msg writes wait, so every msg nodeid is one)
 * holds a reference, and the number is reused once the last one is
 * forgotten.  So `stat msg/<key>@$i` in a loop costs what the kernel's own
 * inode cache holds, and names of queues that do not exist cost nothing.
 *
 * The numbers are few (16 bits), so each uid has its own: a view is counted
 * to the uid whose lookup made it, and one uid may hold at most
 * VIEWS_PER_UID at once.  Another user's `stat @$i` loop then cannot leave
 * anyone else without a number for @framed.
 */
struct view_slot {
	struct msg_view view;
	uid_t maker;
	unsigned refs;
};

static GMutex views_lock;
static GPtrArray *views;	/* index = variant number; NULL: free */
static GArray *free_variants;	/* unused numbers below views->len */
static GHashTable *view_index;	/* "type/framed" -> variant number */
#define MAX_VIEWS 0xffff	/* variant numbers have 16 bits of a nodeid (nodeid.h) */
#define VIEWS_PER_UID 4096
static struct quota view_quota;	/* variant numbers per maker uid */

static char *view_key(uid_t maker, struct msg_view v)
{
	return g_strdup_printf("%u/%ld/%d", (unsigned)maker, v.type, v.framed);
}

static struct msg_view view_of(unsigned variant)
{
	struct msg_view v = { 0, false };
	struct view_slot *slot;

	g_mutex_lock(&views_lock);
	if (variant && views && variant < views->len && (slot = g_ptr_array_index(views, variant)))
		v = slot->view;
	g_mutex_unlock(&views_lock);
	return v;
}

/* The variant number of v as maker names it, with a reference for the caller. */
static int intern_view(struct msg_view v, uid_t maker, unsigned *variant)
{
	g_autofree char *key = view_key(maker, v);
	struct view_slot *slot;
	const char *refusal;
	gpointer found;
	int err = 0;

	g_mutex_lock(&views_lock);
	if (!views) {
		views = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(views, NULL);	/* variant 0 is the plain file */
		free_variants = g_array_new(FALSE, FALSE, sizeof(unsigned));
		view_index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	}
	if (g_hash_table_lookup_extended(view_index, key, NULL, &found)) {
		*variant = GPOINTER_TO_UINT(found);
		((struct view_slot *)g_ptr_array_index(views, *variant))->refs++;
	} else if ((refusal = quota_take(&view_quota, maker))) {
		err = reason(ENOSPC, "msg: uid %u may not make another @ view (%s: %u per uid, %u in all)",
			     (unsigned)maker, refusal, VIEWS_PER_UID, MAX_VIEWS - 1);
	} else {
		slot = g_new0(struct view_slot, 1);
		slot->view = v;
		slot->maker = maker;
		slot->refs = 1;
		if (free_variants->len) {
			*variant = g_array_index(free_variants, unsigned, free_variants->len - 1);
			g_array_set_size(free_variants, free_variants->len - 1);
			views->pdata[*variant] = slot;
		} else {
			*variant = views->len;
			g_ptr_array_add(views, slot);
		}
		g_hash_table_insert(view_index, g_steal_pointer(&key), GUINT_TO_POINTER(*variant));
	}
	g_mutex_unlock(&views_lock);
	return err;
}

static void msg_hold_variant(unsigned variant)
{
	g_mutex_lock(&views_lock);
	((struct view_slot *)g_ptr_array_index(views, variant))->refs++;
	g_mutex_unlock(&views_lock);
}

static void msg_drop_variant(unsigned variant)
{
	struct view_slot *slot;

	g_mutex_lock(&views_lock);
	slot = g_ptr_array_index(views, variant);
	if (--slot->refs == 0) {
		g_autofree char *key = view_key(slot->maker, slot->view);

		quota_give(&view_quota, slot->maker);
		g_hash_table_remove(view_index, key);
		g_free(slot);
		views->pdata[variant] = NULL;
		g_array_append_val(free_variants, variant);
	}
	g_mutex_unlock(&views_lock);
}

static int msg_parse_variant(const char *suffix, uid_t asker, unsigned *variant)
{
	struct msg_view v;
	int err = msg_view_parse(suffix, &v);

	return err ? err : intern_view(v, asker, variant);
}

static void msg_from_ds(int id, const struct msqid_ds *ds, struct ipc_obj *obj)
{
	sysv_obj_from_perm(obj, id, &ds->msg_perm);
	obj->size = ds->__msg_cbytes;
	obj->qnum = ds->msg_qnum;
	obj->qbytes = ds->msg_qbytes;
	obj->lspid = ds->msg_lspid;
	obj->lrpid = ds->msg_lrpid;
	obj->atime = ds->msg_rtime;
	obj->mtime = ds->msg_stime;
	obj->ctime = ds->msg_ctime;
}

static int msg_stat(int id, struct ipc_obj *obj)
{
	struct msqid_ds ds;

	if (id < 0 || msgctl(sysv_id_to_index(id), MSG_STAT_ANY, &ds) != id)
		return -ENOENT;
	msg_from_ds(id, &ds, obj);
	return 0;
}

static int msg_find_key(key_t key, int *id)
{
	*id = msgget(key, 0);
	return *id < 0 ? -ENOENT : 0;
}

/* /proc/sysvipc/msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime */
static bool msg_parse_line(const char *line, struct ipc_obj *obj)
{
	struct ipc_perm perm;
	long long stime, rtime, ctime;
	unsigned long long cbytes;
	unsigned long qnum;
	int id, lspid, lrpid;

	if (sscanf(line, "%d %d %o %llu %lu %d %d %u %u %u %u %lld %lld %lld", &perm.__key, &id,
		   &perm.mode, &cbytes, &qnum, &lspid, &lrpid, &perm.uid, &perm.gid, &perm.cuid,
		   &perm.cgid, &stime, &rtime, &ctime) != 14)
		return false;
	sysv_obj_from_perm(obj, id, &perm);
	obj->size = cbytes;
	obj->qnum = qnum;
	obj->lspid = lspid;
	obj->lrpid = lrpid;
	obj->mtime = (time_t)stime;
	obj->atime = (time_t)rtime;
	obj->ctime = (time_t)ctime;
	return true;
}

static int msg_list(GArray *objs)
{
	return sysv_read_proc("/proc/sysvipc/msg", msg_parse_line, objs);
}

static int msgget_unsized(key_t key, size_t size, int flags)
{
	(void)size;
	return msgget(key, flags);
}

static int msg_create_key(struct caller *caller, key_t key, mode_t mode, struct ipc_obj *obj)
{
	int id = sysv_create_as(caller->uid, caller->gid, msgget_unsized, key, 0, mode, "msgget");

	return id < 0 ? id : msg_stat(id, obj);
}

static int msg_remove(const struct ipc_obj *obj)
{
	if (msgctl(obj->id, IPC_RMID, NULL) != 0)
		return reason(errno, "IPC_RMID of msg id %d", obj->id);
	return 0;
}

/* IPC_SET carries qbytes too: send the current value back unchanged. */
static int msg_ipc_set(int id, mode_t mode, uid_t uid, gid_t gid, unsigned long qbytes)
{
	struct msqid_ds ds = { 0 };

	ds.msg_perm.mode = mode;
	ds.msg_perm.uid = uid;
	ds.msg_perm.gid = gid;
	ds.msg_qbytes = qbytes;
	if (msgctl(id, IPC_SET, &ds) != 0)
		return reason(errno, "IPC_SET of msg id %d", id);
	return 0;
}

static int msg_set_owner(const struct ipc_obj *obj, mode_t mode, uid_t uid, gid_t gid)
{
	return msg_ipc_set(obj->id, mode, uid, gid, obj->qbytes);
}

/* Truncate to 0 purges the queue; any other size is meaningless. */
static int msg_truncate(struct caller *caller, struct ipc_obj *obj, off_t size,
			struct ipcfs_file *file)
{
	g_autofree char *buf = NULL;
	unsigned purged = 0;

	(void)file;
	if (size != 0)
		return reason(EINVAL, "truncate msg id %d to %lld: only 0 (purge) is allowed",
			      obj->id, (long long)size);
	/* A purge receives every message: it takes read permission, as msgrcv does. */
	if (!perm_may_access(caller, obj, PERM_READ))
		return reason(EACCES, "truncate msg id %d: purging receives, and uid %u may not read",
			      obj->id, (unsigned)caller->uid);
	buf = g_malloc(sizeof(long) + 1);
	/* MSG_NOERROR: a 1-byte buffer takes any message; the body is discarded anyway. */
	while (msgrcv(obj->id, buf, 1, 0, IPC_NOWAIT | MSG_NOERROR) >= 0)
		purged++;
	if (errno != ENOMSG)
		return reason(errno == EINVAL ? EIDRM : errno, "purge msg id %d", obj->id);
	log_debug("truncate msg id %d: purged %u messages", obj->id, purged);
	return 0;
}

static int msg_setxattr(struct caller *caller, const struct ipc_obj *obj, const char *field,
			const char *value, size_t size)
{
	unsigned long long qbytes;

	if (strcmp(field, "qbytes") != 0)
		return reason(EPERM, "setxattr user.ipc.%s: read-only", field);
	if (!perm_may_control(caller, obj))
		return reason(EPERM, "IPC_SET of msg id %d: uid %u is neither owner nor creator",
			      obj->id, (unsigned)caller->uid);
	if (attr_parse_number(value, size, ULONG_MAX, &qbytes) != 0)
		return reason(EINVAL, "setxattr user.ipc.qbytes=%.*s: not a number", (int)MIN(size, 40),
			      value);
	/* Raising qbytes above msgmnb needs capable(CAP_SYS_RESOURCE): the caller's, not ours. */
	if (qbytes > obj->qbytes && !perm_has_global_cap(caller, PERM_CAP_SYS_RESOURCE)) {
		g_autofree char *mnb = NULL;

		if (g_file_get_contents("/proc/sys/kernel/msgmnb", &mnb, NULL, NULL) &&
		    qbytes > g_ascii_strtoull(mnb, NULL, 10))
			return reason(EPERM, "qbytes %llu is above msgmnb", qbytes);
	}
	return msg_ipc_set(obj->id, obj->mode & 0777, obj->uid, obj->gid, (unsigned long)qbytes);
}

/* ---- Reading and writing ---- */

/* Reads receive into at most this much, and grow only for a message that needs more. */
#define READ_BUFFER_START 65536

struct msg_io {
	struct blocking_call call;
	int id;
	struct msg_view view;
	size_t size;		/* read: buffer now; write: body length */
	size_t wanted;		/* read: the caller's buffer */
	struct msgbuf *msg;	/* mtype followed by the body */
};

static struct msg_io *msg_io_new(const struct ipcfs_file *file, size_t body)
{
	struct msg_io *io = g_new0(struct msg_io, 1);

	io->id = file->obj.id;
	io->view = view_of(file->variant);
	io->wanted = body;
	io->size = body;
	io->msg = g_malloc(sizeof(long) + body + 1);
	return io;
}

static struct msg_io *msg_reader_new(const struct ipcfs_file *file, size_t wanted)
{
	struct msg_io *io = msg_io_new(file, MIN(wanted, READ_BUFFER_START));

	io->wanted = wanted;
	return io;
}

/* msgrcv into io; E2BIG only if the caller's whole buffer is too small. */
static ssize_t receive(struct msg_io *io, int flags)
{
	ssize_t n = msgrcv(io->id, io->msg, io->size, io->view.type, flags);

	if (n < 0 && errno == E2BIG && io->size < io->wanted) {
		io->size = io->wanted;
		io->msg = g_realloc(io->msg, sizeof(long) + io->size + 1);
		n = msgrcv(io->id, io->msg, io->size, io->view.type, flags);
	}
	return n;
}

static void msg_io_free(struct msg_io *io)
{
	g_free(io->msg);
	g_free(io);
}

static int io_errno(int id, int err)
{
	if (err == EINVAL || err == EIDRM) {
		struct ipc_obj obj;

		if (msg_stat(id, &obj) != 0)
			return EIDRM;
	}
	return err;
}

/* Put a received message back (at the tail: the only place msgsnd can put it). */
static bool requeue(struct msg_io *io, ssize_t n, const char *why)
{
	if (msgsnd(io->id, io->msg, (size_t)n, IPC_NOWAIT) == 0) {
		log_debug("msgrcv msg id %d: %s; message of %zd bytes requeued", io->id, why, n);
		return true;
	}
	log_debug("msgrcv msg id %d: %s, and requeueing its message of %zd bytes failed (%s): it is lost",
		  io->id, why, n, strerror(errno));
	return false;
}

/* Reply with a received message; one the reply cannot carry goes back into the queue. */
static void deliver(fuse_req_t req, struct msg_io *io, ssize_t n)
{
	int err;

	if (io->view.framed) {
		struct iovec iov[2];
		int64_t type = io->msg->mtype;

		iov[0].iov_base = &type;
		iov[0].iov_len = FRAME_HEADER;
		iov[1].iov_base = io->msg->mtext;
		iov[1].iov_len = (size_t)n;
		err = fuse_reply_iov(req, iov, 2);
	} else {
		err = fuse_reply_buf(req, io->msg->mtext, (size_t)n);
	}
	/* The caller was interrupted away, or the connection is gone (unmounted). */
	if (err < 0)
		requeue(io, n, "the reply could not be delivered");
}

static void msg_read_in_waiter(struct blocking_call *call)
{
	struct msg_io *io = (struct msg_io *)call;
	struct ipc_obj queue;
	ssize_t n = -1;
	int err = -1;

	for (bool retry = false; !blocking_interrupted(call); retry = true) {
		/* A retry: the queue may have been removed, and its id reused, since the last try. */
		if (retry && (err = -ipcfs_file_object(call->file, &queue)) != 0)
			break;
		err = -1;
		n = receive(io, 0);
		if (n >= 0 || errno != EINTR) {
			err = errno;
			break;
		}
	}
	if (n < 0 && err < 0)
		err = blocking_stop_errno(call);
	/*
	 * A message already taken is delivered, interrupted or not, unless the
	 * caller is being killed: then the kernel discards the reply, so the
	 * message goes back.  Every signal sends an INTERRUPT, so only an
	 * interrupted call needs the look at /proc (it costs a read of it).
	 */
	if (n >= 0 && blocking_interrupted(call) && blocking_caller_dying(call) &&
	    requeue(io, n, "the reader was killed")) {
		n = -1;
		err = EINTR;
	}
	blocking_finish(call);
	if (n >= 0)
		deliver(call->req, io, n);
	else
		reply_error(call->req, -io_errno(io->id, err));
	msg_io_free(io);
}

static void msg_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
		     bool nonblock)
{
	struct ipc_obj queue;
	struct msg_io *io;
	ssize_t n;
	int err;

	(void)off;
	if (view_of(file->variant).framed) {
		if (size < FRAME_HEADER) {
			reply_error(req, reason(E2BIG, "read msg: framed reads need %zu bytes",
						    FRAME_HEADER));
			return;
		}
		size -= FRAME_HEADER;
	}
	err = ipcfs_file_object(file, &queue);
	if (err) {
		reply_error(req, err);
		return;
	}
	io = msg_reader_new(file, size);
	n = receive(io, IPC_NOWAIT);
	if (n >= 0) {
		deliver(req, io, n);
		msg_io_free(io);
		return;
	}
	if (errno == ENOMSG && !nonblock) {
		blocking_start(&io->call, req, file, msg_read_in_waiter);
		return;
	}
	if (errno == ENOMSG)
		errno = EAGAIN;
	reply_error(req, reason(io_errno(io->id, errno), "msgrcv msg id %d type %ld", io->id,
				    io->view.type));
	msg_io_free(io);
}

static void msg_write_in_waiter(struct blocking_call *call)
{
	struct msg_io *io = (struct msg_io *)call;
	struct ipc_obj queue;
	int err = -1;

	for (bool retry = false; !blocking_interrupted(call); retry = true) {
		if (retry && (err = -ipcfs_file_object(call->file, &queue)) != 0)
			break;
		err = -1;
		if (msgsnd(io->id, io->msg, io->size, 0) == 0) {
			err = 0;
			break;
		}
		if (errno != EINTR) {
			err = errno;
			break;
		}
	}
	if (err < 0)
		err = blocking_stop_errno(call);
	blocking_finish(call);
	if (err)
		reply_error(call->req, -io_errno(io->id, err));
	else
		fuse_reply_write(call->req, io->size + (io->view.framed ? FRAME_HEADER : 0));
	msg_io_free(io);
}

static void msg_write(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size,
		      off_t off, bool nonblock)
{
	struct msg_view view = view_of(file->variant);
	struct ipc_obj queue;
	struct msg_io *io;
	/* Without a suffix, type 1; with one, exactly the type it names. */
	long type = file->variant ? view.type : 1;
	int err;

	(void)off;
	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	if (view.framed) {
		int64_t framed_type;

		if (size < FRAME_HEADER) {
			reply_error(req, reason(EINVAL, "write msg: a framed message needs its %zu-byte type",
						    FRAME_HEADER));
			return;
		}
		memcpy(&framed_type, buf, FRAME_HEADER);
		type = (long)framed_type;
		buf += FRAME_HEADER;
		size -= FRAME_HEADER;
	}
	if (type <= 0) {
		reply_error(req, reason(EINVAL, "write msg id %d: type %ld is not positive",
					    file->obj.id, type));
		return;
	}
	err = ipcfs_file_object(file, &queue);
	if (err) {
		reply_error(req, err);
		return;
	}
	io = msg_io_new(file, size);
	io->msg->mtype = type;
	memcpy(io->msg->mtext, buf, size);
	if (msgsnd(io->id, io->msg, size, IPC_NOWAIT) == 0) {
		fuse_reply_write(req, size + (view.framed ? FRAME_HEADER : 0));
		msg_io_free(io);
		return;
	}
	if (errno == EAGAIN && !nonblock) {
		blocking_start(&io->call, req, file, msg_write_in_waiter);
		return;
	}
	err = io_errno(io->id, errno);
	/* EINVAL for a live queue and a positive type can only mean "above msgmax". */
	if (err == EINVAL)
		err = EMSGSIZE;
	reply_error(req, reason(err, "msgsnd msg id %d, %zu bytes", io->id, size));
	msg_io_free(io);
}

/* ---- poll ----
 *
 * The kernel has no wake-ups for SysV queues, so a watcher thread looks at
 * every polled queue every POLL_INTERVAL while anyone waits in poll, and
 * sleeps otherwise.  It reads the queues without holding poll_lock, which
 * msg_poll() and release take, each queue once however many poll it, and a
 * queue's messages once for all its typed pollers.  A round that took long
 * (many typed pollers on long queues) makes the next wait longer, so that
 * the watcher uses at most about a tenth of a core.
 */
#define POLL_INTERVAL_US 5000
#define POLL_DUTY_CYCLE 10

struct msg_poller {
	const struct ipcfs_file *file;	/* only compared, never followed */
	uid_t opener;			/* the file's, charged in poller_quota */
	struct fuse_pollhandle *ph;
	uint64_t serial;	/* names it across an unlocked round; never reused */
	unsigned ns;		/* the file's IPC namespace */
	struct ipc_obj queue;	/* as the file is bound to it */
	long type;
	unsigned events;
};

/* One poller's question, copied out for a round without the lock. */
struct poll_check {
	uint64_t serial;
	unsigned ns;
	struct ipc_obj queue;
	long type;
	unsigned events;
	unsigned revents;	/* the answer */
	bool scanning;		/* typed, and no matching message seen yet */
};

/*
 * Pollers: at most one per open file, found by file (a new poll, a release)
 * and by serial (a round's answers) in constant time, so that a user with a
 * hundred thousand pollers slows nobody's open and close.  Bounded per opener
 * uid and in all; past that, poll(2) sees POLLERR for that file.
 */
#define POLLERS_PER_UID 16384
#define POLLERS_MAX 65536
static GMutex poll_lock;
static GCond poll_cond;
static GHashTable *pollers;		/* serial -> struct msg_poller (owns it) */
static GHashTable *poller_of_file;	/* struct ipcfs_file * -> the same struct msg_poller */
static struct quota poller_quota;
static uint64_t next_poller_serial;
static GThread *poll_thread;
static bool poll_stop;

/* The kernel's msgmax, re-read when a message turns out to be larger. */
static size_t read_msgmax(void)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents("/proc/sys/kernel/msgmax", &text, NULL, NULL))
		return 8192;
	return (size_t)g_ascii_strtoull(text, NULL, 10);
}

/*
 * Look at the queue's messages once, until every scanning check has seen a
 * message of its read type.  MSG_COPY peeks without taking, but ignores
 * MSG_NOERROR: the buffer must hold the whole message.  It finds message i
 * by walking the queue from its head, so a scan of a whole long queue costs
 * the square of its length: only the first TYPE_SCAN_MAX messages are looked
 * at, and a typed poller whose type is not among them is told POLLIN (maybe
 * early: its read then waits, or says EAGAIN), so that one user's long queue
 * never delays everyone's wake-ups.
 */
#define TYPE_SCAN_MAX 256

static void scan_types(int id, unsigned long qnum, struct poll_check *checks, guint n,
		       guint scanning)
{
	static size_t peek_size;
	size_t size = __atomic_load_n(&peek_size, __ATOMIC_RELAXED);
	g_autofree struct msgbuf *peek = NULL;

	if (size == 0) {
		size = read_msgmax();
		__atomic_store_n(&peek_size, size, __ATOMIC_RELAXED);
	}
	peek = g_malloc(sizeof(long) + size);
	for (unsigned long i = 0; i < qnum && scanning > 0;) {
		if (msgrcv(id, peek, size, (long)i, IPC_NOWAIT | MSG_COPY) < 0) {
			size_t msgmax = read_msgmax();

			if (errno != EINVAL || msgmax <= size)
				return;
			/* msgmax was raised since: grow and look at this message again. */
			size = msgmax;
			__atomic_store_n(&peek_size, size, __ATOMIC_RELAXED);
			peek = g_realloc(peek, sizeof(long) + size);
			continue;
		}
		for (guint c = 0; c < n; c++) {
			long type = checks[c].type;

			if (checks[c].scanning && (type > 0 ? peek->mtype == type : peek->mtype <= -type)) {
				checks[c].revents |= POLLIN | POLLRDNORM;
				checks[c].scanning = false;
				scanning--;
			}
		}
		i++;
		if (i == TYPE_SCAN_MAX && i < qnum)
			break;
	}
	for (guint c = 0; c < n && qnum > TYPE_SCAN_MAX; c++)
		if (checks[c].scanning)
			checks[c].revents |= POLLIN | POLLRDNORM;	/* not looked at: maybe (see above) */
}

/* Answer n checks that are all about one queue id. */
static void check_queue(struct poll_check *checks, guint n)
{
	struct ipc_obj now;
	bool alive = msg_stat(checks[0].queue.id, &now) == 0;
	guint scanning = 0;

	for (guint c = 0; c < n; c++) {
		struct poll_check *check = &checks[c];

		check->scanning = false;
		if (!alive || !ipc_obj_same(&check->queue, &now)) {
			check->revents = POLLERR | POLLHUP;
			continue;
		}
		check->revents = 0;
		/* msgsnd's test for a 1-byte message: bytes and count both below qbytes. */
		if (now.size + 1 <= now.qbytes && now.qnum + 1 <= now.qbytes)
			check->revents |= POLLOUT | POLLWRNORM;
		if (now.qnum > 0 && check->type == 0)
			check->revents |= POLLIN | POLLRDNORM;
		else if (now.qnum > 0)
			scanning += check->scanning = true;
	}
	if (scanning)
		scan_types(checks[0].queue.id, now.qnum, checks, n, scanning);
}

static gint by_queue(gconstpointer a, gconstpointer b)
{
	const struct poll_check *x = a, *y = b;

	if (x->ns != y->ns)
		return (x->ns > y->ns) - (x->ns < y->ns);
	return (x->queue.id > y->queue.id) - (x->queue.id < y->queue.id);
}

/* Answer every check, each queue once, in the namespace of its file. */
static void check_all(GArray *checks)
{
	g_array_sort(checks, by_queue);
	for (guint start = 0, end; start < checks->len; start = end) {
		const struct poll_check *first = &g_array_index(checks, struct poll_check, start);
		g_auto(ns_scope) scope = NS_SCOPE_INIT;

		for (end = start + 1; end < checks->len; end++) {
			const struct poll_check *c = &g_array_index(checks, struct poll_check, end);

			if (c->ns != first->ns || c->queue.id != first->queue.id)
				break;
		}
		/* A file released meanwhile may have let its namespace go: no answer then. */
		if (ns_scope_enter(&scope, first->ns) == 0)
			check_queue(&g_array_index(checks, struct poll_check, start), end - start);
	}
}

static unsigned msg_readiness(const struct ipc_obj *queue, long type)
{
	struct poll_check check = { .queue = *queue, .type = type };

	check_queue(&check, 1);
	return check.revents;
}

/* Notify and forget the poller of each check that is answered; with poll_lock held. */
static void notify_ready(GArray *checks)
{
	for (guint c = 0; c < checks->len; c++) {
		const struct poll_check *check = &g_array_index(checks, struct poll_check, c);
		struct msg_poller *p;

		if (!(check->revents & (check->events | POLLERR | POLLHUP)))
			continue;
		p = g_hash_table_lookup(pollers, &check->serial);
		if (p) {
			fuse_lowlevel_notify_poll(p->ph);
			g_hash_table_remove(poller_of_file, p->file);
			g_hash_table_remove(pollers, &p->serial);	/* frees p */
		}
	}
}

static gpointer poll_watcher(gpointer data)
{
	g_autoptr(GArray) checks = g_array_new(FALSE, FALSE, sizeof(struct poll_check));

	(void)data;
	g_mutex_lock(&poll_lock);
	while (!poll_stop) {
		gint64 started;
		gint64 spent;

		GHashTableIter iter;
		gpointer value;

		if (g_hash_table_size(pollers) == 0) {
			g_cond_wait(&poll_cond, &poll_lock);
			continue;
		}
		g_array_set_size(checks, 0);
		g_hash_table_iter_init(&iter, pollers);
		while (g_hash_table_iter_next(&iter, NULL, &value)) {
			const struct msg_poller *p = value;
			struct poll_check check = { .serial = p->serial, .ns = p->ns,
						    .queue = p->queue, .type = p->type,
						    .events = p->events };

			g_array_append_val(checks, check);
		}
		g_mutex_unlock(&poll_lock);
		started = g_get_monotonic_time();
		check_all(checks);
		spent = g_get_monotonic_time() - started;
		g_mutex_lock(&poll_lock);
		/* A poller gone meanwhile is not found; one that polled anew has a new serial. */
		notify_ready(checks);
		g_mutex_unlock(&poll_lock);
		g_usleep((gulong)MAX(POLL_INTERVAL_US, POLL_DUTY_CYCLE * spent));
		g_mutex_lock(&poll_lock);
	}
	g_mutex_unlock(&poll_lock);
	return NULL;
}

static void poller_free(gpointer data)
{
	struct msg_poller *p = data;

	fuse_pollhandle_destroy(p->ph);
	quota_give(&poller_quota, p->opener);
	g_free(p);
}

/* Forget the file's poller; call with poll_lock held. */
static void drop_poller(const struct ipcfs_file *file)
{
	struct msg_poller *p = g_hash_table_lookup(poller_of_file, file);

	if (p) {
		g_hash_table_remove(poller_of_file, file);
		g_hash_table_remove(pollers, &p->serial);	/* frees p */
	}
}

static void msg_poll(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph)
{
	struct msg_view view = view_of(file->variant);
	unsigned revents = msg_readiness(&file->obj, view.type);

	if (ph) {
		struct msg_poller *p = g_new0(struct msg_poller, 1);
		const char *refusal;

		p->file = file;
		p->opener = file->opener;
		p->ph = ph;
		p->ns = file->ns;
		p->queue = file->obj;
		p->type = view.type;
		p->events = file->poll_events ? file->poll_events : POLLIN | POLLOUT;
		g_mutex_lock(&poll_lock);
		/* poll(2) registers anew on every call: the newest handle replaces the old. */
		drop_poller(file);
		refusal = quota_take(&poller_quota, p->opener);
		if (refusal) {
			g_mutex_unlock(&poll_lock);
			fuse_pollhandle_destroy(ph);
			g_free(p);
			reply_error(req, reason(ENOSPC, "poll msg id %d by uid %u: %s of pollers (%d per uid, %d in all) are waiting; poll(2) sees POLLERR",
						    file->obj.id, (unsigned)file->opener, refusal,
						    POLLERS_PER_UID, POLLERS_MAX));
			return;
		}
		p->serial = next_poller_serial++;
		g_hash_table_insert(pollers, &p->serial, p);
		g_hash_table_insert(poller_of_file, (gpointer)file, p);
		if (!poll_thread)
			poll_thread = ns_thread_new("msg-poll", poll_watcher, NULL);
		g_cond_signal(&poll_cond);
		g_mutex_unlock(&poll_lock);
	}
	fuse_reply_poll(req, revents);
}

static void msg_release(struct ipcfs_file *file)
{
	g_mutex_lock(&poll_lock);
	drop_poller(file);
	g_mutex_unlock(&poll_lock);
}

static int msg_setup(void)
{
	pollers = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, poller_free);
	poller_of_file = g_hash_table_new(g_direct_hash, g_direct_equal);
	quota_init(&poller_quota, POLLERS_MAX, POLLERS_PER_UID);
	/* Variant 0 is the plain file: MAX_VIEWS - 1 numbers to hand out. */
	quota_init(&view_quota, MAX_VIEWS - 1, VIEWS_PER_UID);
	return 0;
}

static void msg_teardown(void)
{
	g_mutex_lock(&poll_lock);
	poll_stop = true;
	g_cond_signal(&poll_cond);
	g_mutex_unlock(&poll_lock);
	if (poll_thread)
		g_thread_join(poll_thread);
	g_hash_table_unref(poller_of_file);
	g_hash_table_unref(pollers);
	quota_clear(&poller_quota);
	quota_clear(&view_quota);
	g_clear_pointer(&views, g_ptr_array_unref);
	g_clear_pointer(&free_variants, g_array_unref);
	g_clear_pointer(&view_index, g_hash_table_unref);
}

/* ---- Extended attributes ---- */

static int format_qnum(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%lu", obj->qnum);
	return 0;
}

static int format_qbytes(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%lu", obj->qbytes);
	return 0;
}

static int format_lspid(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%d", (int)obj->lspid);
	return 0;
}

static int format_lrpid(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%d", (int)obj->lrpid);
	return 0;
}

/* Who waits on a queue: callers blocked through ipcfs, then threads blocked in the kernel itself. */
static int format_waiting(struct caller *caller, const struct ipc_obj *obj, GString *out)
{
	waiters_format(caller, false, obj->id, blocking_format_waiting(&kind_msg, caller, obj->id, out),
		       out);
	return 0;
}

/* The kernel keeps no creator of a queue. */
static int format_creator(struct caller *caller, const struct ipc_obj *obj, GString *out)
{
	(void)obj;
	sysv_format_creator(caller, 0, 0, out);
	return 0;
}

/*
 * A leftover, as far as the kernel can tell: nobody waits on it, and the
 * last sender and the last receiver are gone.  A queue nobody ever used is
 * not called one: its creator, which the kernel does not keep, may still be
 * about to.
 */
static int format_orphan(const struct ipc_obj *obj, GString *out)
{
	bool used = obj->lspid > 0 || obj->lrpid > 0;
	bool orphan = used && sysv_process_since(obj->lspid, obj->mtime) != SYSV_ALIVE &&
		      sysv_process_since(obj->lrpid, obj->atime) != SYSV_ALIVE &&
		      blocking_count_waiting(&kind_msg, obj->id) == 0 && waiters_count(false, obj->id) == 0;

	g_string_append(out, orphan ? "1" : "0");
	return 0;
}

static const struct xattr_field msg_xattrs[] = {
	{ .name = "qnum", .format = format_qnum },
	{ .name = "qbytes", .format = format_qbytes },
	{ .name = "lspid", .format = format_lspid, .pids = true },
	{ .name = "lrpid", .format = format_lrpid, .pids = true },
	{ .name = "waiting", .format_for = format_waiting },
	{ .name = "creator", .format_for = format_creator },
	{ .name = "orphan", .format = format_orphan },
	{ .name = NULL },
};

const struct ipcfs_kind kind_msg = {
	.name = "msg",
	.dir_mode = 01777,
	.xattr_prefix = "user.ipc.",
	.xattrs = msg_xattrs,
	.sysv = true,
	.writes_wait = true,
	.setup = msg_setup,
	.teardown = msg_teardown,
	.list = msg_list,
	.format_name = sysv_format_name,
	.lookup = sysv_lookup,
	.stat = msg_stat,
	.find_key = msg_find_key,
	.parse_variant = msg_parse_variant,
	.hold_variant = msg_hold_variant,
	.drop_variant = msg_drop_variant,
	.create_key = msg_create_key,
	.create = sysv_create,
	.remove = msg_remove,
	.set_owner = msg_set_owner,
	.truncate = msg_truncate,
	.setxattr = msg_setxattr,
	.read = msg_read,
	.write = msg_write,
	.poll = msg_poll,
	.release = msg_release,
};
