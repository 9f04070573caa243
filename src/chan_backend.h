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
	void (*read)(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off);
	void (*write)(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size);
	void (*poll)(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph);
	void (*seek_end)(struct ipcfs_file *file);
};

extern const struct chan_backend chan_builtin, chan_kernel;

/*
 * Reading state every open /chan file keeps, guarded by its backend's lock:
 * where the kernel thinks the file is, the read parked until a record comes,
 * and the poll handle to notify.  A parked read costs no thread; an INTERRUPT
 * takes it back and replies EINTR.
 */
struct chan_wait {
	GMutex *lock;
	uint64_t offset;
	fuse_req_t parked;
	size_t parked_size;
	struct fuse_pollhandle *ph;
};

/* Before taking the lock: route an INTERRUPT of req to w. */
void chan_wait_watch(struct chan_wait *w, fuse_req_t req);
/* Under the lock: does a read at off mean a rewind (SEEK_SET 0)?  Records off either way. */
bool chan_wait_rewinds(struct chan_wait *w, off_t off);
/*
 * Under the lock: reply to req with n bytes of buf, or the error -n; false,
 * replying nothing, when n is -EAGAIN (no record yet).
 */
bool chan_wait_reply(struct chan_wait *w, fuse_req_t req, const void *buf, ssize_t n);
/* Under the lock, when there is no record: EAGAIN, EINTR, or park req. */
void chan_wait_park(struct chan_wait *w, fuse_req_t req, size_t size, bool nonblock);
/* Under the lock: keep ph (a poll that waits), or notify and drop the one kept. */
void chan_wait_keep_poll(struct chan_wait *w, struct fuse_pollhandle *ph);
void chan_wait_notify_poll(struct chan_wait *w);
/* At release. */
void chan_wait_clear(struct chan_wait *w);
