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
