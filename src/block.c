// SPDX-License-Identifier: GPL-2.0-only
#include "block.h"

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ns.h"
#include "options.h"
#include "perm.h"
#include "quota.h"
#include "sysv.h"

#define INTERRUPT_SIGNAL SIGUSR1
/* How long the interrupter waits before signalling the waiter again. */
#define INTERRUPT_RESEND_NS 200000
/* How often the signal watcher looks at the callers of io_uring requests (see below). */
#define SIGNAL_WATCH_US 20000
/* How long it goes on ticking with nothing to watch before it sleeps until something waits. */
#define SIGNAL_WATCH_LINGER_US 1000000

/*
 * The interrupt state of one call.  It outlives the call (run() frees the
 * call): the pool's queue, the table of waiting calls and the running
 * waiter each hold a reference.
 */
struct waiter {
	struct blocking_call *call;
	gatomicrefcount refs;
	uid_t uid;
	pthread_mutex_t lock;	/* guards thread and started */
	pthread_t thread;
	bool started;
	atomic_int stop_errno;	/* EINTR once interrupted; EAGAIN if it may not wait */
	atomic_bool finished;	/* blocking_finish() ran: no more signals */
	atomic_bool claimed;	/* run() was started, by a waiter thread or at once */
	bool admitted;		/* counted in waiting (set before it can run) */
};

static GThreadPool *waiter_pool;
static struct quota waiters;		/* the bound on calls that wait at once */
static GMutex waiting_lock;
static GHashTable *waiting;		/* struct waiter * set, the calls that may wait */
static bool shutting_down;

/*
 * libfuse 3.18 never hands the INTERRUPT of a request that came over io_uring
 * to the filesystem (fuse_lowlevel.c: "for now no support for interrupts
 * with io-uring"): the kernel sends it on /dev/fuse, and libfuse drops it.
 * For those requests the daemon watches the caller itself.  The kernel sends
 * INTERRUPT when the waiting thread has a signal pending that it does not
 * block, which /proc/<tid>/status shows, so every SIGNAL_WATCH_US one thread
 * reads it for each such request and calls its interrupt function, once, as
 * libfuse would.  A request is first looked at in the round after it began
 * to wait, so a wait costs its thread no wake-up of the watcher: the watcher
 * ticks on by itself, and only after SIGNAL_WATCH_LINGER_US with nothing to
 * watch does it park until a request waits again (a sem hand-off over
 * io_uring waits and ends thousands of times a second, and woke it 44,000
 * times a second when each wait did).
 */
struct watched_req {
	fuse_req_t req;
	fuse_interrupt_func_t func;
	void *data;
	pid_t pid;
	guint64 serial;		/* tells a new request at a reused address from the old one */
	bool holds_ring_entry;	/* counted in ring_waiting */
	bool delivering;	/* func is running: unwatching waits */
};

static GMutex watch_lock;		/* the table, ring_waiting and watch_stop */
static GCond watch_cond;
static GHashTable *watched;		/* fuse_req_t -> struct watched_req */
static GThread *signal_watcher;
static bool watch_stop;
static bool watcher_parked;		/* waiting, untimed, for a request to watch */
static guint64 watch_serial;

/*
 * A request that came over io_uring holds its ring entry until it is
 * answered, and the kernel queues every other request of that CPU's ring
 * behind a full one.  So at most q_depth - 1 such requests may wait at once
 * (wherever they are, one ring keeps an entry free); beyond that a wait is
 * refused as beyond max_waiters.
 */
static unsigned ring_waiting;		/* under watch_lock */
static unsigned ring_wait_max;		/* set by blocking_init() */

static unsigned ring_wait_limit(void)
{
	const char *env = getenv("FUSE_URING_QUEUE_DEPTH");	/* libfuse reads it too */
	unsigned depth = ipcfs_options.io_uring_q_depth ? ipcfs_options.io_uring_q_depth :
			 env ? (unsigned)atoi(env) : 8;		/* libfuse 3.18's default */

	return depth > 0 ? depth - 1 : 0;
}

/* Remove req's entry; call with watch_lock held. */
static void unwatch_locked(fuse_req_t req)
{
	struct watched_req *e = g_hash_table_lookup(watched, req);

	if (e && e->holds_ring_entry)
		ring_waiting--;
	g_hash_table_remove(watched, req);
}

static void interrupt_signal_handler(int sig)
{
	(void)sig;	/* Its only job is to make a blocking system call return EINTR. */
}

static void waiter_unref(struct waiter *w)
{
	if (g_atomic_ref_count_dec(&w->refs)) {
		pthread_mutex_destroy(&w->lock);
		g_free(w);
	}
}

/* Count a call that may wait out again: it is done waiting, and about to reply. */
static void forget_waiting(struct waiter *w)
{
	if (!w->admitted)
		return;
	g_mutex_lock(&waiting_lock);
	g_hash_table_remove(waiting, w);
	g_mutex_unlock(&waiting_lock);
	quota_give(&waiters, w->uid);
	waiter_unref(w);	/* the table's reference */
}

/* Run the call once (the first caller wins), in its file's namespace, then drop what it held. */
static void run_once(struct waiter *w, bool in_waiter_thread)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct blocking_call *call = w->call;
	struct ipcfs_file *file;

	if (atomic_exchange(&w->claimed, true))
		return;
	/* The file holds its namespace: entering fails only for want of memory. */
	if (ns_scope_enter(&scope, call->file->ns) != 0)
		atomic_store(&w->stop_errno, EAGAIN);
	if (in_waiter_thread) {
		pthread_mutex_lock(&w->lock);
		w->thread = pthread_self();
		w->started = true;
		pthread_mutex_unlock(&w->lock);
	}
	/* run() frees call: keep what we need after it. */
	file = call->file;
	call->run(call);
	ipcfs_file_put(file);
}

static void waiter_main(gpointer data, gpointer user_data)
{
	struct waiter *w = data;

	(void)user_data;
	run_once(w, true);
	waiter_unref(w);	/* the queue's reference */
}

void blocking_init(unsigned max_waiters)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = interrupt_signal_handler;
	/* SysV calls are never restarted, whatever SA_RESTART says; other calls should be. */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(INTERRUPT_SIGNAL, &sa, NULL);

	ring_wait_max = ring_wait_limit();
	max_waiters = MAX(max_waiters, 1u);
	quota_init(&waiters, max_waiters, MAX(max_waiters / 4, 1u));
	waiting = g_hash_table_new(g_direct_hash, g_direct_equal);
	watched = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	/* A thread per waiting call: never more than may wait. */
	waiter_pool = g_thread_pool_new(waiter_main, NULL, (gint)max_waiters, FALSE, NULL);
	g_thread_pool_set_max_unused_threads(32);
}

/* Signal w's thread until it is past blocking_finish(); a call not started yet needs none. */
static void interrupt_waiter(struct waiter *w, int why)
{
	struct timespec pause = { 0, INTERRUPT_RESEND_NS };

	atomic_store(&w->stop_errno, why);
	for (;;) {
		bool started;

		pthread_mutex_lock(&w->lock);
		started = w->started;
		pthread_mutex_unlock(&w->lock);
		/* Not started: the waiter will see the flag before its first system call. */
		if (!started || atomic_load(&w->finished))
			return;
		pthread_kill(w->thread, INTERRUPT_SIGNAL);
		nanosleep(&pause, NULL);
	}
}

void blocking_shutdown(void)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new();
	GHashTableIter iter;
	gpointer w;

	if (!waiter_pool)
		return;
	g_mutex_lock(&waiting_lock);
	shutting_down = true;
	g_hash_table_iter_init(&iter, waiting);
	while (g_hash_table_iter_next(&iter, &w, NULL)) {
		g_atomic_ref_count_inc(&((struct waiter *)w)->refs);
		g_ptr_array_add(all, w);
	}
	g_mutex_unlock(&waiting_lock);
	g_mutex_lock(&watch_lock);
	watch_stop = true;
	g_cond_broadcast(&watch_cond);
	g_mutex_unlock(&watch_lock);
	if (signal_watcher)
		g_thread_join(g_steal_pointer(&signal_watcher));
	if (all->len)
		log_debug("exit: interrupting %u waiting calls", all->len);
	for (guint i = 0; i < all->len; i++) {
		interrupt_waiter(g_ptr_array_index(all, i), EINTR);
		waiter_unref(g_ptr_array_index(all, i));
	}
	/* Every call replies (a reply the connection no longer takes is the kind's to undo). */
	g_thread_pool_free(waiter_pool, FALSE, TRUE);
	waiter_pool = NULL;
	g_clear_pointer(&waiting, g_hash_table_unref);
	g_clear_pointer(&watched, g_hash_table_unref);
	quota_clear(&waiters);
}

/* The text of /proc/<pid>/status, or NULL if the caller is gone. */
static char *caller_status(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
	char *status = NULL;

	return g_file_get_contents(path, &status, NULL, NULL) ? status : NULL;
}

static bool caller_signalled(pid_t pid)
{
	g_autofree char *status = caller_status(pid);

	/* A caller that is gone has nobody to answer. */
	return !status || caller_status_signalled(status);
}

/*
 * Interrupt the watched request found signalled, unless it was unwatched
 * meanwhile.  func runs without watch_lock (it takes its own locks, which
 * may be held around blocking_ring_refusal()), so unwatching waits for it
 * on watch_cond instead.
 */
static void deliver_interrupt(const struct watched_req *seen)
{
	struct watched_req *now;

	g_mutex_lock(&watch_lock);
	now = g_hash_table_lookup(watched, seen->req);
	if (!now || now->serial != seen->serial || now->delivering) {
		g_mutex_unlock(&watch_lock);
		return;
	}
	now->delivering = true;
	g_mutex_unlock(&watch_lock);
	log_debug("io_uring: pid %d has a signal pending: its request is interrupted here (libfuse drops INTERRUPT over io_uring)",
		  (int)seen->pid);
	/* The func may reply, and so free the request: from here on it is only a key. */
	seen->func(seen->req, seen->data);
	g_mutex_lock(&watch_lock);
	now = g_hash_table_lookup(watched, seen->req);
	if (now && now->serial == seen->serial)
		unwatch_locked(seen->req);
	g_cond_broadcast(&watch_cond);
	g_mutex_unlock(&watch_lock);
}

static gpointer watch_signals(gpointer data)
{
	g_autoptr(GArray) round = g_array_new(FALSE, FALSE, sizeof(struct watched_req));
	gint64 idle_since = 0;	/* when the table was first seen empty; 0 while it is not */

	(void)data;
	g_mutex_lock(&watch_lock);
	while (!watch_stop) {
		gint64 next = g_get_monotonic_time() + SIGNAL_WATCH_US;
		GHashTableIter iter;
		gpointer value;

		while (!watch_stop && g_cond_wait_until(&watch_cond, &watch_lock, next))
			;
		if (g_hash_table_size(watched) == 0) {
			if (!idle_since)
				idle_since = next;
			if (next - idle_since < SIGNAL_WATCH_LINGER_US)
				continue;
			log_debug("io_uring: no request has waited for %d ms: the signal watcher sleeps until one does",
				  SIGNAL_WATCH_LINGER_US / 1000);
			watcher_parked = true;
			while (!watch_stop && g_hash_table_size(watched) == 0)
				g_cond_wait(&watch_cond, &watch_lock);
			watcher_parked = false;
			idle_since = 0;
			continue;	/* the new request is looked at in the next round */
		}
		idle_since = 0;
		g_hash_table_iter_init(&iter, watched);
		while (g_hash_table_iter_next(&iter, NULL, &value))
			g_array_append_val(round, *(struct watched_req *)value);
		g_mutex_unlock(&watch_lock);
		/* /proc is read without the lock: watching and unwatching never wait for it. */
		for (guint i = 0; i < round->len; i++)
			if (caller_signalled(g_array_index(round, struct watched_req, i).pid))
				deliver_interrupt(&g_array_index(round, struct watched_req, i));
		g_array_set_size(round, 0);
		g_mutex_lock(&watch_lock);
	}
	g_mutex_unlock(&watch_lock);
	return NULL;
}

static bool interrupt_dropped_by_libfuse(fuse_req_t req)
{
#if HAVE_FUSE_IO_URING
	return fuse_req_is_uring(req);
#else
	(void)req;
	return false;
#endif
}

void blocking_watch_interrupt(fuse_req_t req, fuse_interrupt_func_t func, void *data)
{
	struct watched_req *e;

	/* If the request was interrupted already, this calls func at once. */
	fuse_req_interrupt_func(req, func, data);
	if (!interrupt_dropped_by_libfuse(req) || fuse_req_ctx(req)->pid <= 0)
		return;
	e = g_new(struct watched_req, 1);
	*e = (struct watched_req){ .req = req, .func = func, .data = data,
				   .pid = fuse_req_ctx(req)->pid };
	g_mutex_lock(&watch_lock);
	if (!watch_stop) {
		e->serial = ++watch_serial;
		unwatch_locked(req);	/* an answered request's entry, at a reused address */
		g_hash_table_insert(watched, req, g_steal_pointer(&e));
		if (!signal_watcher)
			signal_watcher = ns_thread_new("ipcfs-signals", watch_signals, NULL);
		else if (watcher_parked)
			g_cond_broadcast(&watch_cond);
	}
	g_mutex_unlock(&watch_lock);
	g_free(e);
}

void blocking_unwatch_interrupt(fuse_req_t req)
{
	if (interrupt_dropped_by_libfuse(req)) {
		/* Waits for a running func (deliver_interrupt()). */
		struct watched_req *e;

		g_mutex_lock(&watch_lock);
		while ((e = g_hash_table_lookup(watched, req)) && e->delivering)
			g_cond_wait(&watch_cond, &watch_lock);
		unwatch_locked(req);
		g_mutex_unlock(&watch_lock);
	}
	/* Takes the request's lock: waits for a running func to return. */
	fuse_req_interrupt_func(req, NULL, NULL);
}

const char *blocking_ring_refusal(fuse_req_t req)
{
	const char *refusal = NULL;
	struct watched_req *e;

	if (!interrupt_dropped_by_libfuse(req))
		return NULL;
	g_mutex_lock(&watch_lock);
	e = g_hash_table_lookup(watched, req);
	if (e && !e->holds_ring_entry) {
		if (ring_waiting >= ring_wait_max) {
			refusal = "io_uring: io_uring_q_depth - 1 requests already wait, each holding its ring entry";
		} else {
			e->holds_ring_entry = true;
			ring_waiting++;
		}
	}
	g_mutex_unlock(&watch_lock);
	return refusal;
}

/* Called by libfuse, with the request's lock held, when INTERRUPT arrives. */
static void on_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	interrupt_waiter(data, EINTR);
}

/* Count the call in, or say why it may not wait. */
static const char *admit(struct waiter *w)
{
	const char *refusal = NULL;

	g_mutex_lock(&waiting_lock);
	if (shutting_down)
		refusal = "the daemon is exiting";
	else
		refusal = quota_take(&waiters, w->uid);
	if (!refusal) {
		g_hash_table_add(waiting, w);
		g_atomic_ref_count_inc(&w->refs);	/* the table's, dropped by forget_waiting() */
		w->admitted = true;
	}
	g_mutex_unlock(&waiting_lock);
	return refusal;
}

void blocking_start(struct blocking_call *call, fuse_req_t req, struct ipcfs_file *file,
		    void (*run)(struct blocking_call *call))
{
	g_autoptr(GError) error = NULL;
	struct waiter *w = g_new0(struct waiter, 1);
	const char *refusal;

	call->req = req;
	call->file = ipcfs_file_hold(file);
	call->run = run;
	call->waiter = w;
	w->call = call;
	w->uid = fuse_req_ctx(req)->uid;
	g_atomic_ref_count_init(&w->refs);	/* blocking_start's own, dropped at the end */
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->stop_errno, 0);
	atomic_init(&w->finished, false);
	atomic_init(&w->claimed, false);
	blocking_watch_interrupt(req, on_interrupt, w);

	refusal = blocking_ring_refusal(req);
	if (refusal)
		reason(EAGAIN, "uid %u may not wait now (%s): the request fails at once",
		       (unsigned)w->uid, refusal);
	else if ((refusal = admit(w)))
		reason(EAGAIN, "uid %u may not wait now (max_waiters: %s): the request fails at once",
		       (unsigned)w->uid, refusal);
	if (refusal) {
		atomic_store(&w->stop_errno, EAGAIN);
		run_once(w, false);
		waiter_unref(w);
		return;
	}
	g_atomic_ref_count_inc(&w->refs);	/* the queue's, dropped by waiter_main() */
	if (!g_thread_pool_push(waiter_pool, w, &error)) {
		/*
		 * glib queued it all the same, for a thread that may never come:
		 * run it here, stopped, and let the queue find it claimed.
		 */
		reason(EAGAIN, "no new waiter thread (%s): the request fails at once", error->message);
		atomic_store(&w->stop_errno, EAGAIN);
		run_once(w, false);
	}
	waiter_unref(w);
}

bool blocking_interrupted(struct blocking_call *call)
{
	return atomic_load(&call->waiter->stop_errno) != 0;
}

int blocking_stop_errno(struct blocking_call *call)
{
	int err = atomic_load(&call->waiter->stop_errno);

	return err ? err : EINTR;
}

bool blocking_caller_dying(struct blocking_call *call)
{
	pid_t pid = fuse_req_ctx(call->req)->pid;
	g_autofree char *status = pid > 0 ? caller_status(pid) : NULL;

	if (!status)
		return pid > 0;	/* already gone */
	return caller_status_dying(status);
}

void blocking_finish(struct blocking_call *call)
{
	atomic_store(&call->waiter->finished, true);
	/* Waits for a running on_interrupt, which returns now that finished is set. */
	blocking_unwatch_interrupt(call->req);
	/* Before the reply: the caller may wait again the moment it has it. */
	forget_waiting(call->waiter);
}

/* The pids of the callers waiting through this mount on kind's object id, appended to pids. */
static void waiting_pids(const struct ipcfs_kind *kind, int id, GArray *pids)
{
	GHashTableIter iter;
	gpointer key;

	g_mutex_lock(&waiting_lock);
	if (!waiting) {
		g_mutex_unlock(&waiting_lock);
		return;
	}
	/* A call is in the table until blocking_finish(), so until then call and req are valid. */
	g_hash_table_iter_init(&iter, waiting);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		struct blocking_call *call = ((struct waiter *)key)->call;
		pid_t pid = fuse_req_ctx(call->req)->pid;

		if (call->file->kind == kind && ns_ino(call->file->ns) == ns_current_ino() &&
		    ipcfs_file_id(call->file) == id && pid > 0)
			g_array_append_val(pids, pid);
	}
	g_mutex_unlock(&waiting_lock);
}

unsigned blocking_format_waiting(const struct ipcfs_kind *kind, struct caller *caller, int id,
				 GString *out)
{
	g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(pid_t));

	waiting_pids(kind, id, pids);
	return sysv_format_processes(caller, pids, out);
}

unsigned blocking_count_waiting(const struct ipcfs_kind *kind, int id)
{
	g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(pid_t));

	waiting_pids(kind, id, pids);
	return pids->len;
}
