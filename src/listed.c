// SPDX-License-Identifier: GPL-2.0-only
/* Names a listing handed out, kept live while the kernel may cache them (listed.h). */
#include "listed.h"

#include <errno.h>
#include <string.h>

#include "session.h"
#include "log.h"
#include "ns.h"

struct listed_name {
	fuse_ino_t nodeid;
	struct ipc_obj obj;	/* as the listing showed it */
	gint64 expires;		/* g_get_monotonic_time() when the kernel stops trusting it */
};

/* The names handed out from one directory. */
struct listed_dir {
	fuse_ino_t parent;
	unsigned ns;
	const struct ipcfs_kind *kind;
	GHashTable *names;	/* name -> struct listed_name */
};

/* One name to check, copied out so that a round runs without the lock. */
struct check {
	char *name;
	struct listed_name was;
	bool stale;		/* gone, replaced or changed: the kernel is told to drop it */
};

static double cache_seconds;
static GMutex lock;
static GCond wake;
static GHashTable *dirs;	/* &parent -> struct listed_dir */
static GThread *watcher;
static bool stopping;

static void free_dir(gpointer data)
{
	struct listed_dir *d = data;

	g_hash_table_unref(d->names);
	g_free(d);
}

bool listed_changed(const struct ipc_obj *was, const struct ipc_obj *now)
{
	return !ipc_obj_same(was, now) || was->mode != now->mode || was->uid != now->uid ||
	       was->gid != now->gid || was->size != now->size || was->atime != now->atime ||
	       was->mtime != now->mtime || was->ctime != now->ctime;
}

double listed_timeout(void)
{
	return cache_seconds;
}

/*
 * The name first, then the attributes (which open files still use): between
 * the two a stat(2) of the name would find the name cached without its
 * attributes and send a GETATTR for the old object, ENOENT if it is gone,
 * though a new object may have the key.
 */
static void drop_from_kernel(const struct listed_dir *d, const struct check *c)
{
	int err = fuse_lowlevel_notify_inval_entry(ipcfs_session, d->parent, c->name,
						   strlen(c->name));

	if (err && err != -ENOENT)
		log_debug("listing: dropping %s/%s: %s", d->kind->name, c->name, strerror(-err));
	err = fuse_lowlevel_notify_inval_inode(ipcfs_session, c->was.nodeid, -1, 0);
	if (err && err != -ENOENT)
		log_debug("listing: dropping the attributes of %s/%s: %s", d->kind->name, c->name,
			  strerror(-err));
}

/*
 * Compare what the kernel may hold of d's names with the objects now, one
 * *_STAT_ANY each (cheaper than /proc/sysvipc, which prints every object of
 * the namespace); with no lock held.
 */
static void check_dir(const struct listed_dir *d, GArray *checks)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	/* A namespace the daemon let go of holds no name the kernel caches. */
	bool gone = ns_scope_enter(&scope, d->ns) != 0;

	for (guint i = 0; i < checks->len; i++) {
		struct check *c = &g_array_index(checks, struct check, i);
		struct ipc_obj now;

		c->stale = gone || d->kind->stat(c->was.obj.id, &now) != 0 ||
			   listed_changed(&c->was.obj, &now);
		if (c->stale && !gone)
			drop_from_kernel(d, c);
	}
}

static void clear_check(gpointer data)
{
	g_free(((struct check *)data)->name);
}

/* One round: every directory's names checked, the stale and the expired forgotten. */
static void round_locked(void)
{
	g_autoptr(GArray) snapshot = g_array_new(FALSE, FALSE, sizeof(struct listed_dir));
	g_autoptr(GPtrArray) all_checks = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
	GHashTableIter iter, names;
	gpointer value, name, listed;
	gint64 now = g_get_monotonic_time();

	g_hash_table_iter_init(&iter, dirs);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		struct listed_dir *d = value, copy = *d;
		GArray *checks = g_array_new(FALSE, FALSE, sizeof(struct check));

		g_array_set_clear_func(checks, clear_check);
		g_hash_table_iter_init(&names, d->names);
		while (g_hash_table_iter_next(&names, &name, &listed)) {
			const struct listed_name *n = listed;
			struct check c;

			if (n->expires <= now) {
				g_hash_table_iter_remove(&names);	/* the kernel asks again by itself */
				continue;
			}
			c = (struct check){ .name = g_strdup(name), .was = *n };
			g_array_append_val(checks, c);
		}
		copy.names = NULL;
		g_array_append_val(snapshot, copy);
		g_ptr_array_add(all_checks, checks);
	}
	g_mutex_unlock(&lock);
	for (guint i = 0; i < snapshot->len; i++)
		check_dir(&g_array_index(snapshot, struct listed_dir, i), g_ptr_array_index(all_checks, i));
	g_mutex_lock(&lock);
	for (guint i = 0; i < snapshot->len; i++) {
		fuse_ino_t parent = g_array_index(snapshot, struct listed_dir, i).parent;
		struct listed_dir *d = g_hash_table_lookup(dirs, &parent);
		GArray *checks = g_ptr_array_index(all_checks, i);

		for (guint c = 0; d && c < checks->len; c++) {
			const struct check *check = &g_array_index(checks, struct check, c);
			struct listed_name *cur = g_hash_table_lookup(d->names, check->name);

			/* Unless a listing handed the name out anew meanwhile. */
			if (check->stale && cur && cur->expires == check->was.expires)
				g_hash_table_remove(d->names, check->name);
		}
		if (d && g_hash_table_size(d->names) == 0)
			g_hash_table_remove(dirs, &parent);
	}
}

static gpointer watch(gpointer data)
{
	(void)data;
	g_mutex_lock(&lock);
	while (!stopping) {
		gint64 started, next;

		if (g_hash_table_size(dirs) == 0) {
			g_cond_wait(&wake, &lock);
			continue;
		}
		started = g_get_monotonic_time();
		round_locked();
		/* At most half a core: a round that took long (many objects) waits as long again. */
		next = g_get_monotonic_time() +
		       MAX(LISTED_TICK_MS * G_TIME_SPAN_MILLISECOND, g_get_monotonic_time() - started);
		while (!stopping && g_get_monotonic_time() < next)
			g_cond_wait_until(&wake, &lock, next);
	}
	g_mutex_unlock(&lock);
	return NULL;
}

void listed_add(fuse_ino_t parent, unsigned ns, const struct ipcfs_kind *kind, const char *name,
		fuse_ino_t nodeid, const struct ipc_obj *obj)
{
	struct listed_name *n;
	struct listed_dir *d;

	if (cache_seconds <= 0)
		return;
	n = g_new(struct listed_name, 1);
	n->nodeid = nodeid;
	n->obj = *obj;
	n->expires = g_get_monotonic_time() + (gint64)(cache_seconds * G_TIME_SPAN_SECOND);
	g_mutex_lock(&lock);
	d = g_hash_table_lookup(dirs, &parent);
	if (!d) {
		d = g_new0(struct listed_dir, 1);
		d->parent = parent;
		d->ns = ns;
		d->kind = kind;
		d->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		g_hash_table_insert(dirs, &d->parent, d);
	}
	g_hash_table_insert(d->names, g_strdup(name), n);
	if (!watcher)
		watcher = ns_thread_new("listed-watch", watch, NULL);
	g_cond_signal(&wake);	/* the watcher may be waiting for work; a round's wait ignores it */
	g_mutex_unlock(&lock);
}

void listed_setup(double seconds)
{
	cache_seconds = seconds;
	dirs = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, free_dir);
}

void listed_shutdown(void)
{
	g_mutex_lock(&lock);
	stopping = true;
	g_cond_broadcast(&wake);
	g_mutex_unlock(&lock);
	if (watcher)
		g_thread_join(watcher);
	watcher = NULL;
	g_clear_pointer(&dirs, g_hash_table_unref);
}
