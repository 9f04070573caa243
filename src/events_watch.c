// SPDX-License-Identifier: GPL-2.0-only
/*
 * The listing watcher's source of /events (events.h), where eBPF cannot be
 * loaded: every EVENTS_WATCH_TICK_MS it lists the served namespace's objects
 * and tells what changed since the last round.  A new object is a create
 * (its creator is the segment's cpid; sets and queues record none), a gone
 * one a remove, a changed mode or owner a set; who removed or changed it is
 * not known ("pid": null).  Objects made and removed within one round are
 * not seen, nor are attaches and detaches.
 */
#include "events.h"

#include <string.h>

#include "kind.h"
#include "log.h"
#include "ns.h"
#include "sysv.h"

#define EVENTS_WATCH_TICK_MS 20

static const struct ipcfs_kind *const watched_kinds[] = { &kind_shm, &kind_sem, &kind_msg };

static GMutex lock;
static GCond wake;
static bool stopping;
static GThread *watcher;
/* Per kind: id -> struct ipc_obj as the last round saw it. */
static GHashTable *seen[G_N_ELEMENTS(watched_kinds)];

static void emit(enum event_op op, const struct ipcfs_kind *kind, const struct ipc_obj *obj,
		 bool creator_known)
{
	struct ipc_event e = {
		.time_us = g_get_real_time(), .op = op, .kind = kind->name,
		.key_known = true, .key = obj->key, .id = obj->id,
	};

	if (creator_known) {
		e.pid = obj->cpid;
		e.uid_known = true;
		e.uid = obj->cuid;
		if (e.pid > 0) {
			g_autofree char *comm = sysv_comm_of(e.pid, e.pid);

			if (comm)
				g_strlcpy(e.comm, comm, sizeof(e.comm));
		}
	}
	events_emit(&e);
}

static GHashTable *list_kind(const struct ipcfs_kind *kind)
{
	g_autoptr(GArray) objs = g_array_new(FALSE, FALSE, sizeof(struct ipc_obj));
	GHashTable *now = g_hash_table_new_full(g_int_hash, g_int_equal, NULL, g_free);

	if (kind->list(objs) < 0)
		return now;
	for (guint i = 0; i < objs->len; i++) {
		struct ipc_obj *obj = g_memdup2(&g_array_index(objs, struct ipc_obj, i), sizeof(*obj));

		g_hash_table_insert(now, &obj->id, obj);
	}
	return now;
}

/* One round for kind k: emit what differs from the last, and keep what is now. */
static void diff_kind(unsigned k, bool tell)
{
	const struct ipcfs_kind *kind = watched_kinds[k];
	GHashTable *now = list_kind(kind);
	GHashTableIter it;
	gpointer value;

	if (tell && seen[k]) {
		g_hash_table_iter_init(&it, seen[k]);
		while (g_hash_table_iter_next(&it, NULL, &value)) {
			struct ipc_obj *was = value, *is = g_hash_table_lookup(now, &was->id);

			if (!is || !ipc_obj_same(was, is))
				emit(EVENT_REMOVE, kind, was, false);
		}
		g_hash_table_iter_init(&it, now);
		while (g_hash_table_iter_next(&it, NULL, &value)) {
			struct ipc_obj *is = value, *was = g_hash_table_lookup(seen[k], &is->id);

			if (!was || !ipc_obj_same(was, is))
				emit(EVENT_CREATE, kind, is, true);
			else if ((was->mode & 0777) != (is->mode & 0777) || was->uid != is->uid ||
				 was->gid != is->gid)
				emit(EVENT_SET, kind, is, false);
		}
	}
	if (seen[k])
		g_hash_table_unref(seen[k]);
	seen[k] = now;
}

static gpointer watch(gpointer data)
{
	(void)data;
	g_mutex_lock(&lock);
	while (!stopping) {
		gint64 started = g_get_monotonic_time(), next;

		g_mutex_unlock(&lock);
		for (unsigned k = 0; k < G_N_ELEMENTS(watched_kinds); k++)
			diff_kind(k, true);
		g_mutex_lock(&lock);
		/* At most half a core: a round that took long (many objects) waits as long again. */
		next = g_get_monotonic_time() +
		       MAX(EVENTS_WATCH_TICK_MS * G_TIME_SPAN_MILLISECOND, g_get_monotonic_time() - started);
		while (!stopping && g_get_monotonic_time() < next)
			g_cond_wait_until(&wake, &lock, next);
	}
	g_mutex_unlock(&lock);
	return NULL;
}

/* The first round is taken before the open returns: what exists then is no event. */
static int watch_start(void)
{
	for (unsigned k = 0; k < G_N_ELEMENTS(watched_kinds); k++)
		diff_kind(k, false);
	stopping = false;
	watcher = ns_thread_new("events-watch", watch, NULL);
	log_debug("events: the listing watcher started (a round every %d ms)", EVENTS_WATCH_TICK_MS);
	return 0;
}

static void watch_stop(void)
{
	g_mutex_lock(&lock);
	stopping = true;
	g_cond_signal(&wake);
	g_mutex_unlock(&lock);
	g_thread_join(watcher);
	watcher = NULL;
	for (unsigned k = 0; k < G_N_ELEMENTS(watched_kinds); k++) {
		g_clear_pointer(&seen[k], g_hash_table_unref);
	}
	log_debug("events: the listing watcher stopped (nobody reads /events)");
}

const struct events_source events_watch_source = {
	.start = watch_start,
	.stop = watch_stop,
};
