/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reads of /chan that wait, for both backends (chan_backend.h): a read that
 * finds no record is parked until one comes, without a thread; an INTERRUPT
 * takes it back and replies EINTR.  A backend says how to read a record from
 * its source (struct chan_source); this file owns the sequence around it:
 * interrupts, rewinds, parking, poll handles, and replying without the lock.
 */
#pragma once

#include <stdint.h>

#include "kind.h"

/*
 * Reading state every open /chan file keeps, guarded by its backend's lock:
 * where the kernel thinks the file is, the read parked until a record comes,
 * and the poll handle to notify.  A parked read costs no thread; an INTERRUPT
 * takes it back and replies EINTR.  A parked read holds a reference to its
 * file (file.h).
 */
struct chan_wait {
	GMutex *lock;
	struct ipcfs_file *file;	/* the open file this is part of */
	uint64_t offset;
	fuse_req_t parked;
	size_t parked_size;
	/*
	 * A read interrupted before it parked.  libfuse marks such a request
	 * (fuse_req_interrupted()); over io_uring block.c's watcher calls the
	 * interrupt callback once and marks nothing, so it is noted here.
	 */
	fuse_req_t interrupted_early;
	struct fuse_pollhandle *ph;
};

/*
 * What a backend decided under its lock and sends after dropping it: a reply
 * to a read and/or a poll notification.  No lock is held across a reply.
 */
struct chan_reply {
	fuse_req_t req;			/* the read to answer, or NULL */
	struct ipcfs_file *file;	/* req's file, held until the reply is sent */
	char *buf;			/* owned */
	ssize_t n;			/* bytes in buf, or -errno */
	struct fuse_pollhandle *ph;	/* to notify, or NULL */
};

/* Where a backend's records come from; each is called with the wait's lock held. */
struct chan_source {
	/* The next record for this reader, of at most size bytes: its length, or -errno (-EAGAIN: none yet). */
	ssize_t (*read_record)(void *src, size_t size, char **buf);
	/* Back to the oldest record (a read at offset 0 after data: SEEK_SET 0). */
	void (*rewind)(void *src);
	/* A read was parked: watch for the next record (optional). */
	void (*parked)(void *src);
};

/* lock is the backend's lock that guards w; file the open file w belongs to. */
void chan_wait_init(struct chan_wait *w, GMutex *lock, struct ipcfs_file *file);
/* At release. */
void chan_wait_clear(struct chan_wait *w);

/*
 * A read request: takes w's lock, reads through s from src, and answers, or
 * parks req until chan_wait_take_wakes() answers it.
 */
void chan_wait_read(struct chan_wait *w, const struct chan_source *s, void *src, fuse_req_t req,
		    size_t size, off_t off, bool nonblock);
/*
 * Under the lock, when a record may have come: a parked read gets it (r
 * holds the reply; with none yet it stays parked), and the kept poll handle
 * moves into r.  Returns whether a read is still parked.
 */
bool chan_wait_take_wakes(struct chan_wait *w, const struct chan_source *s, void *src,
			  struct chan_reply *r);
/* Under the lock: keep ph (a poll that waits), replacing the one kept. */
void chan_wait_keep_poll(struct chan_wait *w, struct fuse_pollhandle *ph);
/* After the lock is dropped: send what r holds (nothing if it is empty), and empty it. */
void chan_reply_send(struct chan_reply *r);
