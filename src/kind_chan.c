// SPDX-License-Identifier: GPL-2.0-only
/*
 * /chan/<n>: broadcast channels with channel.ko's semantics: one write is one
 * record, every open file is a reader that gets every record written after it
 * opened, overrun readers get EPIPE once.
 *
 * This file is the kind: it picks the backend at setup (-o chan=), names the
 * files, refuses truncate and serves user.chan.*.  The records live in
 * chan_builtin.c (the daemon's own rings) or chan_kernel.c (/dev/channelN);
 * both park reads that wait with chan_wait.c.
 *
 * Seeking: FUSE handles SEEK_SET and SEEK_END in the kernel and never
 * forwards them.  A read at offset 0 after the file has returned data is a
 * rewind (SEEK_SET 0); SEEK_END makes the kernel ask for the attributes with
 * the file handle, which ends up in chan_seek_end().  See docs/chan.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chan_backend.h"
#include "kind.h"
#include "log.h"
#include "options.h"

#define KERNEL_PROBE "/dev/channel0"

static const struct chan_backend *backend;

static int chan_setup(void)
{
	switch (ipcfs_options.chan) {
	case CHAN_KERNEL:
		if (access(KERNEL_PROBE, F_OK) != 0) {
			fprintf(stderr, "ipcfs: chan=kernel: %s: %s; load channel.ko (modprobe channel) or use chan=builtin\n",
				KERNEL_PROBE, strerror(errno));
			return -ENODEV;
		}
		backend = &chan_kernel;
		break;
	case CHAN_AUTO:
		backend = access(KERNEL_PROBE, F_OK) == 0 ? &chan_kernel : &chan_builtin;
		break;
	case CHAN_BUILTIN:
		backend = &chan_builtin;
		break;
	}
	log_debug("chan: %s backend", backend->name);
	return backend->setup();
}

static void chan_teardown(void)
{
	if (backend)
		backend->teardown();
}

/* ---- Naming and attributes ---- */

static int chan_list(GArray *objs)
{
	return backend->list(objs);
}

static void chan_format_name(const struct ipc_obj *obj, char *out, size_t size)
{
	g_snprintf(out, size, "%d", obj->id);
}

static int chan_stat(int id, struct ipc_obj *obj)
{
	return backend->stat(id, obj);
}

static int chan_lookup(const struct ipcfs_kind *kind, const char *name, uid_t asker,
		       struct ipc_obj *obj, unsigned *variant)
{
	guint64 n;

	(void)kind;
	(void)asker;
	*variant = 0;
	if (!g_ascii_string_to_unsigned(name, 10, 0, G_MAXINT, &n, NULL) ||
	    (name[0] == '0' && name[1]))
		return -ENOENT;
	return backend->stat((int)n, obj);
}

static int chan_set_owner(const struct ipc_obj *obj, mode_t mode, uid_t uid, gid_t gid)
{
	return backend->set_owner(obj->id, mode, uid, gid);
}

static int chan_truncate(struct caller *caller, struct ipc_obj *obj, off_t size,
			 struct ipcfs_file *file)
{
	(void)caller; (void)size; (void)file;
	return reason(EINVAL, "truncate chan %d: a channel has no size", obj->id);
}

static int format_counter(const struct ipc_obj *obj, GString *out, size_t offset)
{
	struct chan_counters counters;
	int err = backend->counters(obj->id, &counters);

	if (err)
		return err;
	g_string_append_printf(out, "%" G_GUINT64_FORMAT,
			       *(const uint64_t *)((const char *)&counters + offset));
	return 0;
}

#define COUNTER(field) \
	static int format_##field(const struct ipc_obj *obj, GString *out) \
	{ return format_counter(obj, out, offsetof(struct chan_counters, field)); }
COUNTER(records)
COUNTER(bytes)
COUNTER(readers)
COUNTER(dropped)

static const struct xattr_field chan_xattrs[] = {
	{ .name = "records", .format = format_records },
	{ .name = "bytes", .format = format_bytes },
	{ .name = "readers", .format = format_readers },
	{ .name = "dropped", .format = format_dropped },
	{ .name = NULL },
};

/* ---- Open files ---- */

static int chan_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi)
{
	(void)req; (void)fi;
	return backend->open(file);
}

static void chan_release(struct ipcfs_file *file)
{
	backend->release(file);
}

static void chan_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
		      bool nonblock)
{
	backend->read(req, file, size, off, nonblock);
}

static void chan_write(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size,
		       off_t off, bool nonblock)
{
	(void)off;
	(void)nonblock;	/* a channel write never waits */
	backend->write(req, file, buf, size);
}

static void chan_poll(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph)
{
	backend->poll(req, file, ph);
}

/* lseek(fd, 0, SEEK_END), seen as a GETATTR with this file's handle (see the top). */
static off_t chan_seek_end(struct ipcfs_file *file, off_t off, int whence)
{
	if (whence != SEEK_END || off != 0)
		return -EINVAL;
	backend->seek_end(file);
	return 0;
}

const struct ipcfs_kind kind_chan = {
	.name = "chan",
	.dir_mode = 0755,
	.xattr_prefix = "user.chan.",
	.xattrs = chan_xattrs,
	.writes_wait = false,
	.setup = chan_setup,
	.teardown = chan_teardown,
	.list = chan_list,
	.format_name = chan_format_name,
	.lookup = chan_lookup,
	.stat = chan_stat,
	.set_owner = chan_set_owner,
	.truncate = chan_truncate,
	.open = chan_open,
	.read = chan_read,
	.write = chan_write,
	.poll = chan_poll,
	.lseek = chan_seek_end,
	.release = chan_release,
};
