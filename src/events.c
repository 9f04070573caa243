// SPDX-License-Identifier: GPL-2.0-only
/* /events: the ring, its readers, and their files (events.h). */
#include "events.h"

#include <errno.h>
#include <poll.h>

#include "chan_wait.h"
#include "kind.h"
#include "log.h"
#include "quota.h"

static GMutex lock;		/* guards everything below, and every reader's chan_wait */
static struct ipc_event ring[EVENTS_KEPT];
static uint64_t next_seq;	/* the sequence number the next event gets; ring[seq % EVENTS_KEPT] */
static GList *readers;
static const struct events_source *source;	/* NULL: events=off */
static bool source_running;
static bool shut_down;	/* events_shutdown() ran: the source never starts again */
static unsigned source_users;	/* opens that joined the source and have not left (source_lock) */
static GMutex source_lock;	/* serialises starting and stopping the source (never under lock) */
/* Threads started to stop the source off its own thread (source_leave()); events_shutdown() waits for them. */
static unsigned stoppers;
static GCond stoppers_done;
/* This thread is the source's, answering parked reads (events_emit()). */
static __thread bool on_source_thread;
static struct quota open_readers;

struct events_reader {
	struct chan_wait wait;
	uint64_t seq;		/* the next event this reader reads */
	struct caller caller;	/* the opener, to decide which pids it may see */
};

/* ---- Reading (with lock held) ---- */

/* The oldest event still kept. */
static uint64_t oldest_seq(void)
{
	return next_seq > EVENTS_KEPT ? next_seq - EVENTS_KEPT : 0;
}

/* chan_source.read_record: as many whole lines as fit in size. */
static ssize_t read_lines(void *src, size_t size, char **buf)
{
	struct events_reader *r = src;
	g_autoptr(GString) out = g_string_new(NULL);
	uint64_t oldest = oldest_seq();

	*buf = NULL;
	if (r->seq < oldest) {
		events_format_lost(oldest - r->seq, out);
		if (out->len > size)
			return reason(EINVAL, "read events: %zu bytes do not hold a line", size);
		log_debug("read events: a reader fell %" G_GUINT64_FORMAT " events behind and lost them",
			  oldest - r->seq);
		r->seq = oldest;
	}
	for (; r->seq < next_seq; r->seq++) {
		const struct ipc_event *e = &ring[r->seq % EVENTS_KEPT];
		size_t had = out->len;

		if (e->op == EVENT_LOST)
			events_format_lost(e->lost, out);
		else
			/* As /proc would show it to the reader: null outside its pid namespace. */
			events_format_line(e, perm_pid_as_seen_by(&r->caller, e->pid), out);
		if (out->len > size) {
			g_string_truncate(out, had);
			break;
		}
	}
	if (out->len == 0)
		return r->seq < next_seq ? reason(EINVAL, "read events: %zu bytes do not hold a line", size)
					 : -EAGAIN;
	*buf = g_memdup2(out->str, out->len);
	return (ssize_t)out->len;
}

/* Reading from the start again is reading on: each open sees events from its open on. */
static void no_rewind(void *src)
{
	(void)src;
}

static const struct chan_source reader_source = {
	.read_record = read_lines,
	.rewind = no_rewind,
};

void events_emit(const struct ipc_event *event)
{
	g_autoptr(GArray) wakes = g_array_new(FALSE, FALSE, sizeof(struct chan_reply));

	g_mutex_lock(&lock);
	ring[next_seq % EVENTS_KEPT] = *event;
	next_seq++;
	for (GList *l = readers; l; l = l->next) {
		struct events_reader *r = l->data;
		struct chan_reply reply = { 0 };

		chan_wait_take_wakes(&r->wait, &reader_source, r, &reply);
		if (reply.req || reply.ph)
			g_array_append_val(wakes, reply);
	}
	g_mutex_unlock(&lock);
	/*
	 * The reply to a parked read drops its file's reference after sending;
	 * when that reader's RELEASE came first, its release (and so maybe the
	 * last source_leave()) runs here, on the source's own thread.
	 */
	on_source_thread = true;
	for (guint i = 0; i < wakes->len; i++)
		chan_reply_send(&g_array_index(wakes, struct chan_reply, i));
	on_source_thread = false;
}

/* ---- The source, running while anyone reads ---- */

/* An open that will read: the first starts the source. */
static int source_join(void)
{
	int err = 0;

	g_mutex_lock(&source_lock);
	if (shut_down)
		err = reason(ESHUTDOWN, "open events: the daemon is stopping");
	else if (!source_running) {
		err = source->start();
		source_running = err == 0;
	}
	if (!err)
		source_users++;
	g_mutex_unlock(&source_lock);
	return err;
}

/* The source stopped from another thread than its own, which cannot join itself. */
static gpointer stop_elsewhere(gpointer data)
{
	(void)data;
	g_mutex_lock(&source_lock);
	if (source_users == 0 && source_running) {
		source->stop();
		source_running = false;
	}
	stoppers--;
	g_cond_broadcast(&stoppers_done);
	g_mutex_unlock(&source_lock);
	return NULL;
}

/* A reader gone (or an open that failed after joining): the last stops the source. */
static void source_leave(void)
{
	g_mutex_lock(&source_lock);
	if (--source_users == 0 && source_running) {
		if (on_source_thread) {
			stoppers++;
			g_thread_unref(g_thread_new("events-stop", stop_elsewhere, NULL));
		} else {
			source->stop();
			source_running = false;
		}
	}
	g_mutex_unlock(&source_lock);
}

/* ---- The file ---- */

int events_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct events_reader *r;
	const char *refusal;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return reason(EACCES, "open events for writing: it is read-only");
	refusal = quota_take(&open_readers, ctx->uid);
	if (refusal)
		return reason(quota_refused_in_all(refusal) ? ENFILE : EMFILE,
			      "open events by uid %u: %u readers are %s", (unsigned)ctx->uid,
			      quota_refused_in_all(refusal) ? EVENTS_READERS_MAX : EVENTS_READERS_PER_UID,
			      refusal);
	err = source_join();
	if (err) {
		quota_give(&open_readers, ctx->uid);
		return err;
	}
	r = g_new0(struct events_reader, 1);
	caller_init(&r->caller, ctx->uid, ctx->gid, ctx->pid);
	caller_load_details(&r->caller);
	chan_wait_init(&r->wait, &lock, file);
	file->priv = r;
	/*
	 * Seekable, though a seek changes nothing a read returns (no history is
	 * kept): /events is a regular file, and GNU head, having printed its
	 * lines, seeks back over what it read past them and complains if a
	 * regular file refuses.
	 */
	g_mutex_lock(&lock);
	r->seq = next_seq;
	readers = g_list_prepend(readers, r);
	g_mutex_unlock(&lock);
	return 0;
}

void events_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
			bool nonblock)
{
	struct events_reader *r = file->priv;

	chan_wait_read(&r->wait, &reader_source, r, req, size, off, nonblock);
}

void events_poll(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph)
{
	struct events_reader *r = file->priv;
	unsigned revents;

	g_mutex_lock(&lock);
	revents = r->seq < next_seq ? POLLIN | POLLRDNORM : 0;
	chan_wait_keep_poll(&r->wait, ph);
	g_mutex_unlock(&lock);
	fuse_reply_poll(req, revents);
}

void events_release(struct ipcfs_file *file)
{
	struct events_reader *r = file->priv;

	if (!r)
		return;
	g_mutex_lock(&lock);
	readers = g_list_remove(readers, r);
	chan_wait_clear(&r->wait);
	g_mutex_unlock(&lock);
	quota_give(&open_readers, file->opener);
	caller_clear(&r->caller);
	g_free(r);
	source_leave();
}

void events_use(const struct events_source *src)
{
	quota_init(&open_readers, EVENTS_READERS_MAX, EVENTS_READERS_PER_UID);
	source = src;
}

bool events_in_use(void)
{
	return source != NULL;
}

void events_shutdown(void)
{
	g_mutex_lock(&source_lock);
	while (stoppers)
		g_cond_wait(&stoppers_done, &source_lock);
	if (source_running)
		source->stop();
	source_running = false;
	shut_down = true;
	g_mutex_unlock(&source_lock);
}

void events_end(void)
{
	events_shutdown();
	if (source && source->unload)
		source->unload();
	if (source)
		quota_clear(&open_readers);
	source = NULL;
}
