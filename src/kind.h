/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kind table.  The tree and dispatch code (fs.c) knows nothing about
 * SysV: every directory under the root is one struct ipcfs_kind, and adding a
 * kind means adding one file that fills this table.
 *
 * Conventions: functions returning int give 0 (or a count) on success and
 * -errno on failure, with the reason already logged.  read/write/poll reply
 * to the request themselves, because they may finish it later from a waiter
 * thread (see block.h).  Permission checks are done by fs.c before any of
 * these run, with the caller's credentials.
 *
 * Lifetime of open files (the rule every kind relies on; docs/design.md).
 * The moment a fuse_reply_* returns, the caller may close the file and
 * RELEASE may run on another worker thread.  So fs.c owns file lifetimes:
 *
 *  - a struct ipcfs_file is reference-counted; the open holds one reference,
 *    and fs.c holds one more around every request callback that is given
 *    the file, so the file (and its priv) stays valid until the callback
 *    returns, even after it has replied;
 *  - a kind that replies later, outside the callback, holds its own
 *    reference from the moment it defers until after it has replied
 *    (block.c does this for waiter threads, chan_wait for parked reads);
 *  - release() runs once, when the last reference goes: after RELEASE and
 *    after every reply;
 *  - no lock of a file is held across a fuse_reply_*: decide under the
 *    lock, unlock, then reply;
 *  - a request with an interrupt callback (blocking_watch_interrupt() of
 *    block.h) is detached from it (blocking_unwatch_interrupt()) before it
 *    is replied to, never while holding a lock the callback takes.
 */
#pragma once

#include "config.h"
#include <fuse_lowlevel.h>
#include <glib.h>

#include "attr.h"
#include "ipcobj.h"
#include "perm.h"

struct ipcfs_kind;

/* One open file description. */
struct ipcfs_file {
	const struct ipcfs_kind *kind;
	gatomicrefcount refs;	/* see "Lifetime of open files" above */
	bool released;		/* the open's reference is gone (RELEASE, or fs_teardown) */
	GMutex obj_lock;	/* guards obj.id once the file is shared */
	/*
	 * The object as it was at open.  A resize re-creates it under a new id
	 * and rebinds the file: kinds whose resize does (sem, shm) read the id
	 * with ipcfs_file_id() and change it with ipcfs_file_rebind() only.
	 */
	struct ipc_obj obj;
	unsigned variant;	/* kind-specific view of the object; 0 is the plain file */
	unsigned ns;		/* the IPC namespace it was opened in (ns.h): its requests run there */
	int flags;		/* open(2) flags; O_NONBLOCK comes with each request */
	bool created;		/* this open made the object (O_CREAT of a name that was free) */
	uid_t opener;		/* the uid that opened it */
	pid_t opener_pid;	/* and the process (0: outside our pid namespace) */
	unsigned poll_events;	/* what the last poll(2) on this file waits for */
	void *priv;		/* the kind's own state */
};

struct ipcfs_kind {
	const char *name;	/* the directory under the root */
	mode_t dir_mode;
	const char *xattr_prefix;		/* "user.ipc." */
	const struct xattr_field *xattrs;	/* beyond attr_common_fields; NULL-terminated */
	bool sysv;		/* has the common fields id, key, cuid, cgid */
	bool writes_wait;	/* a write may block for long (see "Writers that wait" in fs.c) */

	/* Before mounting (may refuse the mount), at FUSE init, and at exit. */
	int (*setup)(void);
	void (*init)(struct fuse_conn_info *conn);
	void (*teardown)(void);
	/* The daemon lets go of the IPC namespace ns_id (ns.h): drop what is kept of it. */
	void (*let_go_ns)(uint64_t ns_id);

	/* Listing and naming. */
	int (*list)(GArray *objs);	/* append every object as struct ipc_obj */
	void (*format_name)(const struct ipc_obj *obj, char *out, size_t size);
	/* asker: the uid a view the name makes is counted to (parse_variant). */
	int (*lookup)(const struct ipcfs_kind *kind, const char *name, uid_t asker,
		      struct ipc_obj *obj, unsigned *variant);
	int (*stat)(int id, struct ipc_obj *obj);	/* live attributes; -ENOENT once gone */
	/* Fill in what stat leaves out because only a reply needs it (st_blocks); optional. */
	void (*complete_attr)(struct ipc_obj *obj);

	/* Used by the shared SysV naming code (sysv.c). */
	int (*find_key)(key_t key, int *id);
	/*
	 * A variant (a view named by "@suffix") with a reference for the caller.
	 * fs.c hands each alias nodeid naming a variant one reference
	 * (hold_variant) and drops it when the kernel forgets the nodeid, and
	 * drops parse_variant's own once the lookup is answered.  Only kinds whose
	 * writes wait get alias nodeids, so only they may have variants.  A kind
	 * bounds the variants one asker may have made (-ENOSPC beyond).
	 */
	int (*parse_variant)(const char *suffix, uid_t asker, unsigned *variant);
	void (*hold_variant)(unsigned variant);
	void (*drop_variant)(unsigned variant);
	int (*create_key)(struct caller *caller, key_t key, mode_t mode, struct ipc_obj *obj);

	/* Changes to the object. */
	int (*create)(const struct ipcfs_kind *kind, struct caller *caller, const char *name,
		      mode_t mode, struct ipc_obj *obj, unsigned *variant);
	int (*remove)(const struct ipc_obj *obj);
	int (*set_owner)(const struct ipc_obj *obj, mode_t mode, uid_t uid, gid_t gid);
	int (*truncate)(struct caller *caller, struct ipc_obj *obj, off_t size,
			struct ipcfs_file *file);
	int (*setxattr)(struct caller *caller, const struct ipc_obj *obj, const char *field,
			const char *value, size_t size);

	/*
	 * Open files.  nonblock is O_NONBLOCK as the file description has it at
	 * this request (fcntl(F_SETFL) may change it after the open).
	 */
	int (*open)(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi);
	void (*read)(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
		     bool nonblock);
	void (*write)(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size,
		      off_t off, bool nonblock);
	void (*poll)(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph);
	/* close(2) of a descriptor (FLUSH); replies itself.  Optional. */
	void (*flush)(fuse_req_t req, struct ipcfs_file *file);
	off_t (*lseek)(struct ipcfs_file *file, off_t off, int whence);
	/*
	 * The length of what a read from offset 0 gives now, or -errno: lseek
	 * SEEK_DATA and SEEK_HOLE answer as for a regular file with no hole
	 * (cp, tar and rsync probe them).  Optional: kinds without it (queues,
	 * channels: streams) answer ESPIPE.
	 */
	int64_t (*data_size)(struct ipcfs_file *file);
	void (*release)(struct ipcfs_file *file);
};

extern const struct ipcfs_kind kind_shm, kind_sem, kind_msg, kind_chan;

/* Keep file alive past the request callback (a deferred reply); returns file. */
struct ipcfs_file *ipcfs_file_hold(struct ipcfs_file *file);
/* Drop a reference; the last one runs kind->release() and frees the file. */
void ipcfs_file_put(struct ipcfs_file *file);
/* The id of the object the file is bound to now. */
int ipcfs_file_id(struct ipcfs_file *file);
/*
 * The live attributes of the object the file is bound to, re-checked to be
 * that object (ipc_obj_same): -EIDRM, logged, if it is gone, or if its id
 * now names another object.
 */
int ipcfs_file_object(struct ipcfs_file *file, struct ipc_obj *obj);
/* The same check for an object that was seen as was: now is its live attributes. */
int ipcfs_object_recheck(const struct ipcfs_kind *kind, const struct ipc_obj *was,
			 struct ipc_obj *now);
/* Bind the file to obj, which replaced its object (a resize). */
void ipcfs_file_rebind(struct ipcfs_file *file, const struct ipc_obj *obj);

/*
 * The opener pid of every open file of kind, in the namespace this thread
 * acts in, for which pick(file, data) is true, appended to pids; pick runs
 * with the file valid (not yet released).
 */
void ipcfs_openers(const struct ipcfs_kind *kind, bool (*pick)(struct ipcfs_file *file, void *data),
		   void *data, GArray *pids);

/* The caller of a request, for permission decisions. */
void caller_from_req(struct caller *caller, fuse_req_t req);
