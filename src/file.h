/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The lifetime of open files: the rule every kind relies on (docs/design.md).
 * The moment a fuse_reply_* returns, the caller may close the file and
 * RELEASE may run on another worker thread.  So file.c owns file lifetimes,
 * and fs.c keeps them:
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
 *
 * Every file lives in a table until it is freed, so that a file whose
 * RELEASE never comes (the daemon stopped, or the connection torn down,
 * while it was open) is released at exit, and its kind still cleans up: a
 * /sem file's undo record is applied, as exit(2) would.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ipcobj.h"
#include "perm.h"

struct ipcfs_kind;

/* One open file description. */
struct ipcfs_file {
	const struct ipcfs_kind *kind;
	unsigned kind_index;	/* its place in the kind table (kind.h) */
	gatomicrefcount refs;	/* see the rule above */
	bool released;		/* the open's reference is gone (RELEASE, or at exit) */
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

/* For fs.c: a new open of obj by opener, not yet in the table (the kind's open comes next). */
struct ipcfs_file *ipcfs_file_new(const struct ipcfs_kind *kind, unsigned kind_index,
				  const struct ipc_obj *obj, unsigned variant, int flags, bool created,
				  const struct caller *opener);
/* A new file the kind's open refused: freed, as if it never was. */
void ipcfs_file_discard(struct ipcfs_file *file);
/* A new file the kind opened: in the table, holding its namespace, until its last reference. */
void ipcfs_file_publish(struct ipcfs_file *file);
/* Drop the open's reference: RELEASE, or an open the caller never saw. */
void ipcfs_file_release_open(struct ipcfs_file *file);

void ipcfs_files_setup(void);
/* At exit: release every file whose RELEASE never came. */
void ipcfs_files_teardown(void);
