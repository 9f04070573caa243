/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The two homes of /chan records, behind kind_chan.c: the daemon's own rings
 * (chan_builtin.c) or channel.ko's /dev/channelN (chan_kernel.c).  kind_chan.c
 * owns naming, truncate, the xattrs and the seek rules' entry points; a backend
 * owns the records, the attributes and the waiting.  Both follow the module's
 * semantics (kmod/README.md); both infer seeks from reads as docs/chan.md says.
 */
#pragma once

#include <stdint.h>

#include "kind.h"

/* What user.chan.* shows. */
struct chan_counters {
	uint64_t records, bytes, readers, dropped;
};

struct chan_backend {
	const char *name;
	int (*setup)(void);		/* may refuse the mount, saying why on stderr */
	void (*teardown)(void);
	int (*list)(GArray *objs);
	int (*stat)(int id, struct ipc_obj *obj);
	int (*set_owner)(int id, mode_t mode, uid_t uid, gid_t gid);
	int (*counters)(int id, struct chan_counters *out);

	/* As in struct ipcfs_kind; read and poll reply themselves, possibly later. */
	int (*open)(struct ipcfs_file *file);
	void (*release)(struct ipcfs_file *file);
	void (*read)(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
		     bool nonblock);
	void (*write)(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size);
	void (*poll)(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph);
	void (*seek_end)(struct ipcfs_file *file);
};

extern const struct chan_backend chan_builtin, chan_kernel;

/*
 * Reading state every open /chan file keeps, guarded by its backend's lock:
 * where the kernel thinks the file is, the read parked until a record comes,
 * and the poll handle to notify.  A parked read costs no thread; an INTERRUPT
 * takes it back and replies EINTR.  A parked read holds a reference to its
 * file (kind.h, "Lifetime of open files").
 */
struct chan_wait {
	GMutex *lock;
	struct ipcfs_file *file;	/* the open file this is part of */
	uint64_t offset;
	fuse_req_t parked;
	size_t parked_size;
	/*
	 * A read interrupted before it parked.  libfuse marks such a request
	 * (fuse_req_interrupted()); over io_uring block.c's watcher calls the
	 * interrupt callback once and marks nothing, so it is noted here.
	 */
	fuse_req_t interrupted_early;
	struct fuse_pollhandle *ph;
};

/*
 * What a backend decided under its lock and sends after dropping it: a reply
 * to a read and/or a poll notification.  No lock is held across a reply.
 */
struct chan_reply {
	fuse_req_t req;			/* the read to answer, or NULL */
	struct ipcfs_file *file;	/* req's file, held until the reply is sent */
	char *buf;			/* owned */
	ssize_t n;			/* bytes in buf, or -errno */
	struct fuse_pollhandle *ph;	/* to notify, or NULL */
};

void chan_wait_init(struct chan_wait *w, GMutex *lock, struct ipcfs_file *file);
/* Before taking the lock: route an INTERRUPT of req to w. */
void chan_wait_watch(struct chan_wait *w, fuse_req_t req);
/* Under the lock: does a read at off mean a rewind (SEEK_SET 0)?  Records off either way. */
bool chan_wait_rewinds(struct chan_wait *w, off_t off);
/*
 * Under the lock, for a read req: the backend read n bytes into buf (or got
 * -errno).  Fills r and returns true; with nothing to read (-EAGAIN) it parks
 * req, or fills r with EAGAIN (nonblock) or EINTR, and returns whether r
 * holds a reply.  Takes buf either way.
 */
bool chan_wait_settle(struct chan_wait *w, fuse_req_t req, size_t size, bool nonblock,
		      char *buf, ssize_t n, struct chan_reply *r);
/*
 * Under the lock, with w->parked set: the backend read n bytes into buf (or
 * -errno) for it.  Unless n is -EAGAIN (it stays parked), moves the parked
 * read into r.  Takes buf either way.
 */
void chan_wait_answer_parked(struct chan_wait *w, char *buf, ssize_t n, struct chan_reply *r);
/* Under the lock: keep ph (a poll that waits), or move the one kept into r. */
void chan_wait_keep_poll(struct chan_wait *w, struct fuse_pollhandle *ph);
void chan_wait_take_poll(struct chan_wait *w, struct chan_reply *r);
/* After the lock is dropped: send what r holds (nothing if it is empty), and empty it. */
void chan_reply_send(struct chan_reply *r);
/* At release. */
void chan_wait_clear(struct chan_wait *w);
