/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kind table.  The tree and dispatch code (fs.c, node.c) knows nothing
 * about SysV: every directory under the root is one struct ipcfs_kind, made
 * by one module (kind_<name>.c) and listed in kinds.c; docs/design.md says
 * how to add one.
 *
 * Conventions: functions returning int give 0 (or a count) on success and
 * -errno on failure, with the reason already logged.  read/write/poll reply
 * to the request themselves, because they may finish it later from a waiter
 * thread (see block.h).  Permissions: fs.c checks, with the caller's
 * credentials under SysV rules, what the request alone decides (open's
 * access mode, truncate by path, IPC_SET and IPC_RMID rights, an xattr
 * field's read permission); a kind checks what only it can decide: a
 * truncate that re-creates the object needs IPC_RMID rights, a purge needs
 * read, raising msg qbytes needs CAP_SYS_RESOURCE.
 *
 * Open files: the rule every kind relies on is in file.h.
 *
 * A kind must set name, dir_mode, xattr_prefix, list, format_name, lookup
 * and stat; any other member may be NULL (docs/design.md says what each
 * request then answers).  A root file (/events) is the exception: it sets
 * name, dir_mode (the file's), root_file and its file operations (open,
 * read, poll, release) only.
 */
#pragma once

#include "config.h"
#include <fuse_lowlevel.h>
#include <glib.h>

#include "attr.h"
#include "file.h"
#include "ipcobj.h"
#include "perm.h"

struct ipcfs_kind {
	const char *name;	/* the directory under the root */
	mode_t dir_mode;
	const char *xattr_prefix;		/* "user.ipc." */
	const struct xattr_field *xattrs;	/* beyond attr_common_fields; NULL-terminated */
	bool sysv;		/* has the common fields id, key, cuid, cgid */
	bool writes_wait;	/* a write may block for long (see "Writers that wait" in node.h) */
	/* A file at the root of the served tree, not a directory: it has no objects. */
	bool root_file;
	/* Left out of the tree by an option (optional). */
	bool (*absent)(void);

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
	 * node.c hands each alias nodeid naming a variant one reference
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

extern const struct ipcfs_kind kind_shm, kind_sem, kind_msg, kind_chan, kind_events;

/*
 * The kind table (kinds.c): the directories of a tree, in this order.  A
 * kind's index is part of its nodeids (nodeid.h), and of successor.h's keys.
 */
extern const struct ipcfs_kind *const ipcfs_kinds[];
extern const unsigned ipcfs_nkinds;
unsigned kind_index_of(const struct ipcfs_kind *kind);

/*
 * Answer req with an error: err is -errno, as every function of the daemon
 * returns it (reason() of log.h makes one), or 0 for success.  The one place
 * the sign turns into fuse_reply_err()'s.
 */
static inline void reply_error(fuse_req_t req, int err)
{
	fuse_reply_err(req, -err);
}

/* The caller of a request, for permission decisions. */
static inline void caller_from_req(struct caller *caller, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	caller_init(caller, ctx->uid, ctx->gid, ctx->pid);
}
