// SPDX-License-Identifier: GPL-2.0-only
/* Reads of /chan that wait (chan_wait.h). */
#include "chan_wait.h"

#include <errno.h>
#include <string.h>

#include "block.h"
#include "log.h"

void chan_wait_init(struct chan_wait *w, GMutex *lock, struct ipcfs_file *file)
{
	memset(w, 0, sizeof(*w));
	w->lock = lock;
	w->file = file;
}

/*
 * libfuse calls this with the request's own lock held.  w is still valid:
 * whoever answers req detaches this callback before replying, and holds the
 * file until then.
 */
static void chan_wait_interrupted(fuse_req_t req, void *data)
{
	struct chan_wait *w = data;
	bool mine;

	g_mutex_lock(w->lock);
	mine = w->parked == req;
	if (mine)
		w->parked = NULL;
	else
		w->interrupted_early = req;
	g_mutex_unlock(w->lock);
	if (mine) {
		reply_error(req, -EINTR);
		ipcfs_file_put(w->file);	/* the parked read's reference */
	}
}

/* Before taking the lock: route an INTERRUPT of req to w. */
static void chan_wait_watch(struct chan_wait *w, fuse_req_t req)
{
	g_mutex_lock(w->lock);
	w->interrupted_early = NULL;	/* an earlier read's, whose address req may reuse */
	g_mutex_unlock(w->lock);
	blocking_watch_interrupt(req, chan_wait_interrupted, w);
}

/* Under the lock: does a read at off mean a rewind (SEEK_SET 0)?  Records off either way. */
static bool chan_wait_rewinds(struct chan_wait *w, off_t off)
{
	bool rewind = off == 0 && w->offset != 0;

	w->offset = (uint64_t)off;
	return rewind;
}

static void fill_reply(struct chan_wait *w, fuse_req_t req, char *buf, ssize_t n,
		       struct chan_reply *r)
{
	if (n > 0)
		w->offset += (uint64_t)n;
	r->req = req;
	r->buf = buf;
	r->n = n;
}

/*
 * Under the lock, for a read req: the backend read n bytes into buf (or got
 * -errno).  Fills r and returns true; with nothing to read (-EAGAIN) it parks
 * req, or fills r with EAGAIN (nonblock) or EINTR, and returns whether r
 * holds a reply.  Takes buf either way.
 */
static bool chan_wait_settle(struct chan_wait *w, fuse_req_t req, size_t size, bool nonblock,
		      char *buf, ssize_t n, struct chan_reply *r)
{
	if (n != -EAGAIN) {
		fill_reply(w, req, buf, n, r);
		r->file = ipcfs_file_hold(w->file);
		return true;
	}
	g_free(buf);
	if (!nonblock && !fuse_req_interrupted(req) && w->interrupted_early != req && !w->parked) {
		const char *refusal = blocking_ring_refusal(req);

		if (refusal) {
			n = reason(EAGAIN, "read chan: may not wait (%s)", refusal);
			fill_reply(w, req, NULL, n, r);
			r->file = ipcfs_file_hold(w->file);
			return true;
		}
		w->parked = req;
		w->parked_size = size;
		ipcfs_file_hold(w->file);	/* dropped by whoever answers it */
		return false;
	}
	/* One read per file at a time can wait; a second concurrent one is refused. */
	fill_reply(w, req, NULL, nonblock ? -EAGAIN : -EINTR, r);
	r->file = ipcfs_file_hold(w->file);
	return true;
}

/*
 * Under the lock, with w->parked set: the backend read n bytes into buf (or
 * -errno) for it.  Unless n is -EAGAIN (it stays parked), moves the parked
 * read into r.  Takes buf either way.
 */
static void chan_wait_answer_parked(struct chan_wait *w, char *buf, ssize_t n, struct chan_reply *r)
{
	if (n == -EAGAIN) {
		g_free(buf);
		return;
	}
	fill_reply(w, w->parked, buf, n, r);
	r->file = w->file;	/* the parked read's reference moves into r */
	w->parked = NULL;
}

void chan_wait_keep_poll(struct chan_wait *w, struct fuse_pollhandle *ph)
{
	if (!ph)
		return;
	if (w->ph)
		fuse_pollhandle_destroy(w->ph);
	w->ph = ph;
}

/* Under the lock: move the poll handle kept into r. */
static void chan_wait_take_poll(struct chan_wait *w, struct chan_reply *r)
{
	r->ph = w->ph;
	w->ph = NULL;
}

static const char *read_refusal(ssize_t n)
{
	switch (n) {
	case -EPIPE:
		return "overrun: records were lost (EPIPE)";
	case -EAGAIN:
		return "no record yet, and the file is O_NONBLOCK (EAGAIN)";
	case -EINTR:
		return "interrupted, or another read of this file already waits (EINTR)";
	default:
		return strerror((int)-n);
	}
}

void chan_reply_send(struct chan_reply *r)
{
	if (r->ph) {
		fuse_lowlevel_notify_poll(r->ph);
		fuse_pollhandle_destroy(r->ph);
	}
	if (r->req) {
		/* Waits for a running chan_wait_interrupted(), which then finds nothing parked. */
		blocking_unwatch_interrupt(r->req);
		if (r->n < 0) {
			log_debug("read chan: %s", read_refusal(r->n));
			reply_error(r->req, (int)r->n);
		} else {
			fuse_reply_buf(r->req, r->buf, (size_t)r->n);
		}
		g_free(r->buf);
		ipcfs_file_put(r->file);
	}
	memset(r, 0, sizeof(*r));
}

void chan_wait_clear(struct chan_wait *w)
{
	if (w->ph)
		fuse_pollhandle_destroy(w->ph);
	w->ph = NULL;
}


void chan_wait_read(struct chan_wait *w, const struct chan_source *s, void *src, fuse_req_t req,
		    size_t size, off_t off, bool nonblock)
{
	struct chan_reply r = { 0 };
	char *buf;
	ssize_t n;

	chan_wait_watch(w, req);
	g_mutex_lock(w->lock);
	if (chan_wait_rewinds(w, off)) {
		s->rewind(src);
		log_debug("read chan %d at offset 0: rewound to the oldest record", w->file->obj.id);
	}
	n = s->read_record(src, size, &buf);
	if (!chan_wait_settle(w, req, size, nonblock, buf, n, &r) && s->parked)
		s->parked(src);
	g_mutex_unlock(w->lock);
	chan_reply_send(&r);
}

bool chan_wait_take_wakes(struct chan_wait *w, const struct chan_source *s, void *src,
			  struct chan_reply *r)
{
	if (w->parked) {
		char *buf;
		ssize_t n = s->read_record(src, w->parked_size, &buf);

		chan_wait_answer_parked(w, buf, n, r);
	}
	chan_wait_take_poll(w, r);
	return w->parked != NULL;
}
