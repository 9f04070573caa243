// SPDX-License-Identifier: GPL-2.0-only
#include "block.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define INTERRUPT_SIGNAL SIGUSR1
/* How long the interrupter waits before signalling the waiter again. */
#define INTERRUPT_RESEND_NS 200000

static GThreadPool *waiter_pool;

static void interrupt_signal_handler(int sig)
{
	(void)sig;	/* Its only job is to make a blocking system call return EINTR. */
}

static void run_call(struct blocking_call *call)
{
	/* run() frees call: keep what we need after it. */
	struct ipcfs_file *file = call->file;

	call->run(call);
	ipcfs_file_put(file);
}

static void waiter_main(gpointer data, gpointer user_data)
{
	struct blocking_call *call = data;

	(void)user_data;
	pthread_mutex_lock(&call->lock);
	call->thread = pthread_self();
	call->started = true;
	pthread_mutex_unlock(&call->lock);
	run_call(call);
}

void blocking_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = interrupt_signal_handler;
	/* SysV calls are never restarted, whatever SA_RESTART says; other calls should be. */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(INTERRUPT_SIGNAL, &sa, NULL);

	/* Unlimited: hundreds of blocked callers are normal, each needs its own thread. */
	waiter_pool = g_thread_pool_new(waiter_main, NULL, -1, FALSE, NULL);
	g_thread_pool_set_max_unused_threads(32);
}

void blocking_shutdown(void)
{
	/* Waiters blocked in the kernel end with the process; don't wait for them. */
	if (waiter_pool)
		g_thread_pool_free(waiter_pool, TRUE, FALSE);
	waiter_pool = NULL;
}

/* Called by libfuse, with the request's lock held, when INTERRUPT arrives. */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct blocking_call *call = data;
	struct timespec pause = { 0, INTERRUPT_RESEND_NS };
	bool started;

	(void)req;
	atomic_store(&call->stop_errno, EINTR);
	pthread_mutex_lock(&call->lock);
	started = call->started;
	pthread_mutex_unlock(&call->lock);
	/* Not started: the waiter will see the flag before its first system call. */
	if (!started)
		return;
	while (!atomic_load(&call->finished)) {
		pthread_kill(call->thread, INTERRUPT_SIGNAL);
		nanosleep(&pause, NULL);
	}
}

void blocking_start(struct blocking_call *call, fuse_req_t req, struct ipcfs_file *file,
		    void (*run)(struct blocking_call *call))
{
	g_autoptr(GError) error = NULL;

	call->req = req;
	call->file = ipcfs_file_hold(file);
	call->run = run;
	pthread_mutex_init(&call->lock, NULL);
	call->started = false;
	atomic_init(&call->stop_errno, 0);
	atomic_init(&call->finished, false);
	/* If the request was interrupted already, this calls on_interrupt at once. */
	fuse_req_interrupt_func(req, on_interrupt, call);
	if (g_thread_pool_push(waiter_pool, call, &error))
		return;
	/*
	 * glib queued the call all the same (running it here too would reply
	 * twice): the next free waiter thread runs it, and then it replies at
	 * once instead of waiting.
	 */
	reason(EAGAIN, "no new waiter thread (%s): the request fails when one is free", error->message);
	atomic_store(&call->stop_errno, EAGAIN);
}

bool blocking_interrupted(struct blocking_call *call)
{
	return atomic_load(&call->stop_errno) != 0;
}

int blocking_stop_errno(struct blocking_call *call)
{
	int err = atomic_load(&call->stop_errno);

	return err ? err : EINTR;
}

bool blocking_caller_dying(struct blocking_call *call)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(call->req);
	g_autofree char *status = NULL;
	g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)ctx->pid);
	static const char *const fields[] = { "\nSigPnd:", "\nShdPnd:" };

	if (ctx->pid <= 0 || !g_file_get_contents(path, &status, NULL, NULL))
		return ctx->pid > 0;	/* already gone */
	/* complete_signal() marks a dying thread group with a pending SIGKILL. */
	for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
		const char *field = strstr(status, fields[i]);

		if (field && (g_ascii_strtoull(field + strlen(fields[i]), NULL, 16) >> (SIGKILL - 1)) & 1)
			return true;
	}
	return false;
}

void blocking_finish(struct blocking_call *call)
{
	atomic_store(&call->finished, true);
	/* Takes the request's lock: waits for a running on_interrupt to return. */
	fuse_req_interrupt_func(call->req, NULL, NULL);
	pthread_mutex_destroy(&call->lock);
}
