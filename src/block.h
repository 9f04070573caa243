/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Requests that wait: semop, msgsnd/msgrcv.
 *
 * FUSE worker threads never block.  A kind first tries an operation without
 * waiting; only if it would block does it hand the request to a waiter thread
 * from a shared pool, which makes the blocking call.  The worker returns to
 * the session loop at once, so other requests, and the INTERRUPT for this one,
 * are still read.
 *
 * An INTERRUPT sets the call's flag and signals its waiter thread until the
 * thread notices: the SysV calls then fail with EINTR, having done nothing, and
 * the kind replies EINTR.  The signal is repeated because it may land just
 * before the thread enters the system call.
 *
 * Waiting is bounded: at most max_waiters calls wait at once, and at most a
 * quarter of them for one uid, so one user cannot take every thread.  A call
 * beyond the bound, or one for which no thread can be started, does not wait:
 * it is marked stopped and run at once, and its blocking loop ends before
 * waiting, replying blocking_stop_errno() (EAGAIN).  At exit every waiter is
 * interrupted and waited for, so that none is cut off between taking a
 * message and replying.
 *
 * The call holds a reference to its file from blocking_start() until run()
 * has returned, so run() may use the file after replying (kind.h, "Lifetime
 * of open files").
 */
#pragma once

#include <stdbool.h>

#include "kind.h"

struct waiter;

struct blocking_call {
	fuse_req_t req;
	struct ipcfs_file *file;	/* held until run() returns */
	/* Runs in a waiter thread; must call blocking_finish() before replying. */
	void (*run)(struct blocking_call *call);
	struct waiter *waiter;		/* private to block.c */
};

/* max_waiters: the bound described above (-o max_waiters). */
void blocking_init(unsigned max_waiters);
void blocking_shutdown(void);

/* Hand req, a request on file, to a waiter thread, which will call run(call). */
void blocking_start(struct blocking_call *call, fuse_req_t req, struct ipcfs_file *file,
		    void (*run)(struct blocking_call *call));

/* Check before each (re)try of the blocking system call. */
bool blocking_interrupted(struct blocking_call *call);
/* Why the call stopped: EINTR (interrupted, or exiting) or EAGAIN (not allowed to wait). */
int blocking_stop_errno(struct blocking_call *call);

/*
 * Is the caller being killed?  A fatal signal (SIGKILL, or a signal whose
 * default action kills) makes the kernel wait for our reply and then discard
 * it: anything the reply would carry is lost unless the kind puts it back.
 */
bool blocking_caller_dying(struct blocking_call *call);

/*
 * user.ipc.waiting: the callers waiting through this mount on kind's object
 * id, as sysv_format_processes() shows them to caller.
 */
/* How many callers wait through this mount on kind's object id, whoever may see them. */
unsigned blocking_count_waiting(const struct ipcfs_kind *kind, int id);
unsigned blocking_format_waiting(const struct ipcfs_kind *kind, struct caller *caller, int id,
				 GString *out);

/*
 * fuse_req_interrupt_func(req, func, data), and also for requests whose
 * INTERRUPT libfuse drops (those that came over io_uring): for them func is
 * called, once, when the caller has a signal pending.  Every request that
 * waits registers its interrupt through here.
 */
void blocking_watch_interrupt(fuse_req_t req, fuse_interrupt_func_t func, void *data);
/* Undo it before replying to req; waits for a running func to return. */
void blocking_unwatch_interrupt(fuse_req_t req);
/*
 * Before a watched request waits: NULL if it may, or why not (a request
 * that came over io_uring holds a ring entry while it waits, and the rings
 * must keep entries free).  Given back by blocking_unwatch_interrupt().
 */
const char *blocking_ring_refusal(fuse_req_t req);

/* Detach interrupt handling; call once, before replying to call->req. */
void blocking_finish(struct blocking_call *call);
