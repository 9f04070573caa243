// SPDX-License-Identifier: GPL-2.0-only
/*
 * The built-in /chan backend: the daemon holds one ring per channel
 * (chan_ring.c, channel.ko's record layout and rules in user space).
 * -o channels=N and -o chan_size=BYTES size them; -o chan_mode= and
 * chmod/chown set their mode and owner, kept here.
 *
 * A write appends under the channel's lock and, under the same lock, takes
 * the record for every parked reader of the channel and every poll handle;
 * it answers them after dropping the lock: no thread ever waits for a record.
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
#include "chan_backend.h"
#include "chan_wait.h"
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
	struct chan_wait wait;	/* guarded by ch->lock */
	bool reader;
};

static struct channel *channels;
static unsigned nr_channels;

static struct channel *channel_of(int id)
{
	return id >= 0 && (unsigned)id < nr_channels ? &channels[id] : NULL;
}

static int builtin_setup(void)
{
	time_t now = time(NULL);
	uint64_t size = 4096;

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

static void builtin_teardown(void)
{
	for (unsigned i = 0; i < nr_channels; i++) {
		chan_ring_free(&channels[i].ring);
		g_mutex_clear(&channels[i].lock);
	}
	g_clear_pointer(&channels, g_free);
}

/* ---- Attributes ---- */

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

static int builtin_list(GArray *objs)
{
	for (unsigned i = 0; i < nr_channels; i++) {
		struct ipc_obj obj;

		channel_obj((int)i, &obj);
		g_array_append_val(objs, obj);
	}
	return 0;
}

static int builtin_stat(int id, struct ipc_obj *obj)
{
	if (!channel_of(id))
		return -ENOENT;
	channel_obj(id, obj);
	return 0;
}

static int builtin_set_owner(int id, mode_t mode, uid_t uid, gid_t gid)
{
	struct channel *ch = channel_of(id);

	g_mutex_lock(&ch->lock);
	ch->mode = mode & 0777;
	ch->uid = uid;
	ch->gid = gid;
	ch->ctime = time(NULL);
	g_mutex_unlock(&ch->lock);
	return 0;
}

static int builtin_counters(int id, struct chan_counters *out)
{
	struct channel *ch = channel_of(id);

	g_mutex_lock(&ch->lock);
	out->records = ch->ring.records;
	out->bytes = ch->ring.bytes;
	out->readers = ch->readers;
	/* As channel.ko counts them: told or not, of open readers and closed ones. */
	out->dropped = ch->ring.dropped;
	for (GList *l = ch->files; l; l = l->next) {
		struct chan_file *cf = l->data;

		if (cf->reader)
			out->dropped += chan_ring_pending_loss(&ch->ring, &cf->cur);
	}
	g_mutex_unlock(&ch->lock);
	return 0;
}

/* ---- Open files ---- */

static int builtin_open(struct ipcfs_file *file)
{
	struct channel *ch = channel_of(file->obj.id);
	struct chan_file *cf = g_new0(struct chan_file, 1);

	cf->ch = ch;
	chan_wait_init(&cf->wait, &ch->lock, file);
	cf->reader = (file->flags & O_ACCMODE) != O_WRONLY;
	g_mutex_lock(&ch->lock);
	chan_ring_cursor_init(&ch->ring, &cf->cur);
	ch->files = g_list_prepend(ch->files, cf);
	ch->readers += cf->reader;
	g_mutex_unlock(&ch->lock);
	file->priv = cf;
	return 0;
}

static void builtin_release(struct ipcfs_file *file)
{
	struct chan_file *cf = file->priv;
	struct channel *ch = cf->ch;

	g_mutex_lock(&ch->lock);
	ch->files = g_list_remove(ch->files, cf);
	ch->readers -= cf->reader;
	if (cf->reader)
		chan_ring_settle_losses(&ch->ring, &cf->cur);
	chan_wait_clear(&cf->wait);
	g_mutex_unlock(&ch->lock);
	g_free(cf);
}

/* Read cf's next record, of at most size bytes, into a new *buf: n or -errno. Under ch->lock. */
static ssize_t read_record(void *src, size_t size, char **buf)
{
	struct chan_file *cf = src;
	struct channel *ch = cf->ch;
	size_t most = MIN(size, chan_ring_max_record(&ch->ring));	/* no record is longer */
	ssize_t n;

	*buf = g_malloc(most);
	n = chan_ring_read(&ch->ring, &cf->cur, *buf, most);
	if (n >= 0)
		ch->atime = time(NULL);
	return n;
}

static void rewind_reader(void *src)
{
	struct chan_file *cf = src;

	chan_ring_seek(&cf->ch->ring, &cf->cur, SEEK_SET);
}

static const struct chan_source ring_source = { .read_record = read_record, .rewind = rewind_reader };

static void builtin_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
			 bool nonblock)
{
	struct chan_file *cf = file->priv;

	chan_wait_read(&cf->wait, &ring_source, cf, req, size, off, nonblock);
}

static void builtin_write(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size)
{
	struct chan_file *cf = file->priv;
	struct channel *ch = cf->ch;
	g_autoptr(GArray) wakes = g_array_new(FALSE, FALSE, sizeof(struct chan_reply));
	int err;

	g_mutex_lock(&ch->lock);
	err = chan_ring_append(&ch->ring, buf, size);
	if (err) {
		g_mutex_unlock(&ch->lock);
		reply_error(req, reason(-err, "write chan %d: %zu bytes is more than a record may hold (%" G_GUINT64_FORMAT ")",
					    file->obj.id, size, chan_ring_max_record(&ch->ring)));
		return;
	}
	ch->mtime = time(NULL);
	/* Take the record for every parked reader, and every poll handle ... */
	for (GList *l = ch->files; l; l = l->next) {
		struct chan_file *other = l->data;
		struct chan_reply r = { 0 };

		chan_wait_take_wakes(&other->wait, &ring_source, other, &r);
		if (r.req || r.ph)
			g_array_append_val(wakes, r);
	}
	g_mutex_unlock(&ch->lock);
	/* ... and wake them without the lock. */
	for (guint i = 0; i < wakes->len; i++)
		chan_reply_send(&g_array_index(wakes, struct chan_reply, i));
	fuse_reply_write(req, size);
}

static void builtin_poll(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph)
{
	struct chan_file *cf = file->priv;
	struct channel *ch = cf->ch;
	unsigned events;

	g_mutex_lock(&ch->lock);
	events = chan_ring_poll(&ch->ring, &cf->cur);
	chan_wait_keep_poll(&cf->wait, ph);
	g_mutex_unlock(&ch->lock);
	fuse_reply_poll(req, events);
}

static void builtin_seek_end(struct ipcfs_file *file)
{
	struct chan_file *cf = file->priv;

	g_mutex_lock(&cf->ch->lock);
	chan_ring_seek(&cf->ch->ring, &cf->cur, SEEK_END);
	cf->wait.offset = 0;
	g_mutex_unlock(&cf->ch->lock);
}

const struct chan_backend chan_builtin = {
	.name = "built-in",
	.setup = builtin_setup,
	.teardown = builtin_teardown,
	.list = builtin_list,
	.stat = builtin_stat,
	.set_owner = builtin_set_owner,
	.counters = builtin_counters,
	.open = builtin_open,
	.release = builtin_release,
	.read = builtin_read,
	.write = builtin_write,
	.poll = builtin_poll,
	.seek_end = builtin_seek_end,
};
