// SPDX-License-Identifier: GPL-2.0-only
/*
 * /chan/<n>: broadcast channels, built in (this file) with channel.ko's
 * semantics: one write is one record, every open file is a reader that gets
 * every record written after it opened, overrun readers get EPIPE once.
 * The ring itself is chan_ring.c.
 *
 * A read with nothing to return does not occupy a thread: the request is
 * parked on its file, and the write that brings a record replies to it.  An
 * INTERRUPT takes a parked request back and replies EINTR, so hundreds of
 * blocked readers cost memory only.
 *
 * Seeking: FUSE handles SEEK_SET and SEEK_END in the kernel and never
 * forwards them.  A read at offset 0 after the file has returned data is a
 * rewind (SEEK_SET 0); SEEK_END makes the kernel ask for the attributes with
 * the file handle, which ends up in chan_seek_end().  See docs/chan.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chan_ring.h"
#include "kind.h"
#include "log.h"
#include "options.h"

struct channel {
	GMutex lock;
	struct chan_ring ring;
	GList *files;		/* struct chan_file: readers, parked or not */
	unsigned readers;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	time_t atime, mtime, ctime;
};

struct chan_file {
	struct channel *ch;
	struct chan_cursor cur;
	uint64_t offset;		/* where the kernel thinks this file is */
	fuse_req_t parked;		/* a blocked read, or NULL */
	size_t parked_size;
	struct fuse_pollhandle *ph;	/* the last poll(2) that waits */
	bool reader;
};

static struct channel *channels;
static unsigned nr_channels;

static struct channel *channel_of(int id)
{
	return id >= 0 && (unsigned)id < nr_channels ? &channels[id] : NULL;
}

static int chan_setup(void)
{
	time_t now = time(NULL);
	uint64_t size = 4096;

	if (ipcfs_options.chan == CHAN_KERNEL) {
		fprintf(stderr, "ipcfs: chan=kernel: the kernel backend is not available in this build; use chan=builtin\n");
		return -ENODEV;
	}
	if (ipcfs_options.channels < 1 || ipcfs_options.channels > 256) {
		fprintf(stderr, "ipcfs: channels=%u: expected 1 to 256\n", ipcfs_options.channels);
		return -EINVAL;
	}
	if (ipcfs_options.chan_size < 4096 || ipcfs_options.chan_size > (256u << 20)) {
		fprintf(stderr, "ipcfs: chan_size=%zu: expected 4096 to 268435456 bytes\n",
			ipcfs_options.chan_size);
		return -EINVAL;
	}
	while (size < ipcfs_options.chan_size)
		size <<= 1;
	nr_channels = ipcfs_options.channels;
	channels = g_new0(struct channel, nr_channels);
	for (unsigned i = 0; i < nr_channels; i++) {
		g_mutex_init(&channels[i].lock);
		chan_ring_init(&channels[i].ring, size);
		channels[i].mode = ipcfs_options.chan_mode & 0777;
		channels[i].uid = getuid();
		channels[i].gid = getgid();
		channels[i].atime = channels[i].mtime = channels[i].ctime = now;
	}
	return 0;
}

static void chan_teardown(void)
{
	for (unsigned i = 0; i < nr_channels; i++) {
		chan_ring_free(&channels[i].ring);
		g_mutex_clear(&channels[i].lock);
	}
	g_clear_pointer(&channels, g_free);
}

/* ---- Naming and attributes ---- */

static void channel_obj(int id, struct ipc_obj *obj)
{
	struct channel *ch = &channels[id];

	memset(obj, 0, sizeof(*obj));
	obj->id = id;
	g_mutex_lock(&ch->lock);
	obj->mode = ch->mode;
	obj->uid = obj->cuid = ch->uid;
	obj->gid = obj->cgid = ch->gid;
	obj->atime = ch->atime;
	obj->mtime = ch->mtime;
	obj->ctime = ch->ctime;
	g_mutex_unlock(&ch->lock);
}

static int chan_list(GArray *objs)
{
	for (unsigned i = 0; i < nr_channels; i++) {
		struct ipc_obj obj;

		channel_obj((int)i, &obj);
		g_array_append_val(objs, obj);
	}
	return 0;
}

static void chan_format_name(const struct ipc_obj *obj, char *out, size_t size)
{
	g_snprintf(out, size, "%d", obj->id);
}

static int chan_stat(int id, struct ipc_obj *obj)
{
	if (!channel_of(id))
		return -ENOENT;
	channel_obj(id, obj);
	return 0;
}

static int chan_lookup(const struct ipcfs_kind *kind, const char *name, struct ipc_obj *obj,
		       unsigned *variant)
{
	guint64 n;

	(void)kind;
	*variant = 0;
	if (!g_ascii_string_to_unsigned(name, 10, 0, G_MAXINT, &n, NULL) ||
	    (name[0] == '0' && name[1]))
		return -ENOENT;
	return chan_stat((int)n, obj);
}

static int chan_set_owner(const struct ipc_obj *obj, mode_t mode, uid_t uid, gid_t gid)
{
	struct channel *ch = channel_of(obj->id);

	g_mutex_lock(&ch->lock);
	ch->mode = mode & 0777;
	ch->uid = uid;
	ch->gid = gid;
	ch->ctime = time(NULL);
	g_mutex_unlock(&ch->lock);
	return 0;
}

static int chan_truncate(struct caller *caller, struct ipc_obj *obj, off_t size,
			 struct ipcfs_file *file)
{
	(void)caller; (void)size; (void)file;
	return reason(EINVAL, "truncate chan %d: a channel has no size", obj->id);
}

static int format_counter(const struct ipc_obj *obj, GString *out, size_t which)
{
	struct channel *ch = channel_of(obj->id);
	uint64_t values[4];

	g_mutex_lock(&ch->lock);
	values[0] = ch->ring.records;
	values[1] = ch->ring.bytes;
	values[2] = ch->readers;
	values[3] = ch->ring.dropped;
	g_mutex_unlock(&ch->lock);
	g_string_append_printf(out, "%" G_GUINT64_FORMAT, values[which]);
	return 0;
}

static int format_records(const struct ipc_obj *obj, GString *out) { return format_counter(obj, out, 0); }
static int format_bytes(const struct ipc_obj *obj, GString *out) { return format_counter(obj, out, 1); }
static int format_readers(const struct ipc_obj *obj, GString *out) { return format_counter(obj, out, 2); }
static int format_dropped(const struct ipc_obj *obj, GString *out) { return format_counter(obj, out, 3); }

static const struct xattr_field chan_xattrs[] = {
	{ "records", format_records, 0 },
	{ "bytes", format_bytes, 0 },
	{ "readers", format_readers, 0 },
	{ "dropped", format_dropped, 0 },
	{ NULL, NULL, 0 },
};

/* ---- Open files ---- */

static int chan_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi)
{
	struct channel *ch = channel_of(file->obj.id);
	struct chan_file *cf = g_new0(struct chan_file, 1);

	(void)req;
	cf->ch = ch;
	cf->reader = (fi->flags & O_ACCMODE) != O_WRONLY;
	g_mutex_lock(&ch->lock);
	chan_ring_cursor_init(&ch->ring, &cf->cur);
	ch->files = g_list_prepend(ch->files, cf);
	ch->readers += cf->reader;
	g_mutex_unlock(&ch->lock);
	file->priv = cf;
	return 0;
}

static void chan_release(struct ipcfs_file *file)
{
	struct chan_file *cf = file->priv;
	struct channel *ch = cf->ch;

	g_mutex_lock(&ch->lock);
	ch->files = g_list_remove(ch->files, cf);
	ch->readers -= cf->reader;
	g_mutex_unlock(&ch->lock);
	if (cf->ph)
		fuse_pollhandle_destroy(cf->ph);
	g_free(cf);
}

/* Reply to req with what cur has: true if replied, false if nothing yet. Under ch->lock. */
static bool try_reply_read(struct chan_file *cf, fuse_req_t req, size_t size)
{
	struct channel *ch = cf->ch;
	size_t most = MIN(size, chan_ring_max_record(&ch->ring));	/* no record is longer */
	g_autofree char *buf = g_malloc(most);
	ssize_t n = chan_ring_read(&ch->ring, &cf->cur, buf, most);

	if (n == -EAGAIN)
		return false;
	if (n < 0) {
		log_debug("read chan: overrun; %" G_GUINT64_FORMAT " records lost in all", cf->cur.lost);
		fuse_reply_err(req, EPIPE);
		return true;
	}
	cf->offset += (uint64_t)n;
	ch->atime = time(NULL);
	fuse_reply_buf(req, buf, (size_t)n);
	return true;
}

static void chan_interrupted(fuse_req_t req, void *data)
{
	struct chan_file *cf = data;
	bool mine;

	g_mutex_lock(&cf->ch->lock);
	mine = cf->parked == req;
	if (mine)
		cf->parked = NULL;
	g_mutex_unlock(&cf->ch->lock);
	if (mine)
		fuse_reply_err(req, EINTR);
}

static void chan_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off)
{
	struct chan_file *cf = file->priv;
	struct channel *ch = cf->ch;

	fuse_req_interrupt_func(req, chan_interrupted, cf);
	g_mutex_lock(&ch->lock);
	if (off == 0 && cf->offset != 0) {
		chan_ring_seek(&ch->ring, &cf->cur, SEEK_SET);
		log_debug("read chan %d at offset 0: rewound to the oldest record", file->obj.id);
	}
	cf->offset = (uint64_t)off;
	if (try_reply_read(cf, req, size))
		goto out;
	if (file->flags & O_NONBLOCK) {
		fuse_reply_err(req, EAGAIN);
	} else if (fuse_req_interrupted(req) || cf->parked) {
		fuse_reply_err(req, EINTR);
	} else {
		cf->parked = req;
		cf->parked_size = size;
	}
out:
	g_mutex_unlock(&ch->lock);
}

static void chan_write(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size,
		       off_t off)
{
	struct chan_file *cf = file->priv;
	struct channel *ch = cf->ch;
	int err;

	(void)off;
	g_mutex_lock(&ch->lock);
	err = chan_ring_append(&ch->ring, buf, size);
	if (err) {
		g_mutex_unlock(&ch->lock);
		fuse_reply_err(req, -reason(-err, "write chan %d: %zu bytes is more than a record may hold (%" G_GUINT64_FORMAT ")",
					    file->obj.id, size, chan_ring_max_record(&ch->ring)));
		return;
	}
	ch->mtime = time(NULL);
	/* Wake every parked reader and every poller. */
	for (GList *l = ch->files; l; l = l->next) {
		struct chan_file *other = l->data;

		if (other->parked && try_reply_read(other, other->parked, other->parked_size))
			other->parked = NULL;
		if (other->ph) {
			fuse_lowlevel_notify_poll(other->ph);
			fuse_pollhandle_destroy(other->ph);
			other->ph = NULL;
		}
	}
	g_mutex_unlock(&ch->lock);
	fuse_reply_write(req, size);
}

static void chan_poll(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph)
{
	struct chan_file *cf = file->priv;
	struct channel *ch = cf->ch;
	unsigned events;

	g_mutex_lock(&ch->lock);
	events = chan_ring_poll(&ch->ring, &cf->cur);
	if (ph) {
		if (cf->ph)
			fuse_pollhandle_destroy(cf->ph);
		cf->ph = ph;
	}
	g_mutex_unlock(&ch->lock);
	fuse_reply_poll(req, events);
}

/* lseek(fd, 0, SEEK_END), seen as a GETATTR with this file's handle (see the top). */
static off_t chan_seek_end(struct ipcfs_file *file, off_t off, int whence)
{
	struct chan_file *cf = file->priv;

	if (whence != SEEK_END || off != 0)
		return -EINVAL;
	g_mutex_lock(&cf->ch->lock);
	chan_ring_seek(&cf->ch->ring, &cf->cur, SEEK_END);
	cf->offset = 0;
	g_mutex_unlock(&cf->ch->lock);
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
