// SPDX-License-Identifier: GPL-2.0-only
/* Names under /ns, and letting go of a namespace (ns_names.h). */
#include "ns_names.h"

#include <inttypes.h>
#include <string.h>

#include "kind.h"
#include "log.h"
#include "ns.h"
#include "session.h"
#include "successor.h"

/*
 * Per namespace, as "<parent nodeid>/<name>".  Bounded: a name beyond is not
 * remembered, and only memory pressure on the kernel's cache drops it.
 */
#define REMEMBERED_NAMES_MAX 4096
static GMutex remembered_lock;
static GHashTable *remembered[NS_MAX];

void ns_names_remember(unsigned ns, fuse_ino_t parent, const char *name)
{
	if (ns == NS_SERVED)
		return;
	g_mutex_lock(&remembered_lock);
	if (!remembered[ns])
		remembered[ns] = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (g_hash_table_size(remembered[ns]) < REMEMBERED_NAMES_MAX)
		g_hash_table_add(remembered[ns], g_strdup_printf("%" PRIu64 "/%s", (uint64_t)parent, name));
	g_mutex_unlock(&remembered_lock);
}

static void forget_names(unsigned ns)
{
	g_mutex_lock(&remembered_lock);
	g_clear_pointer(&remembered[ns], g_hash_table_unref);
	g_mutex_unlock(&remembered_lock);
}

/*
 * The daemon lets go of index ns (ns.h): the kinds drop what they keep in its
 * namespace, unless that is the served one, which index 0 holds for good.
 */
static void let_go_ns(unsigned ns)
{
	forget_names(ns);
	if (ns_ino(ns) == ns_ino(NS_SERVED))
		return;
	for (unsigned i = 0; i < ipcfs_nkinds; i++)
		if (ipcfs_kinds[i]->let_go_ns)
			ipcfs_kinds[i]->let_go_ns(ns_ino(ns));
	successor_forget_ns(ns_ino(ns));
}

/* Drop "<parent nodeid>/<name>" from the kernel's cache: false if it may still be there. */
static bool drop_cached_name(const char *remembered_name)
{
	char *name;
	fuse_ino_t parent = g_ascii_strtoull(remembered_name, &name, 10);
	int err = fuse_lowlevel_notify_inval_entry(ipcfs_session, parent, name + 1, strlen(name + 1));

	/* 0: unhashed, it goes with its last use; -ENOENT: gone already. */
	if (err && err != -ENOENT)
		log_debug("ns: cannot drop %s from the kernel's cache: %s", remembered_name, strerror(-err));
	return err == 0 || err == -ENOENT;
}

/*
 * The last process of namespace ns is gone (ns.h): tell the kernel to drop
 * every name it may hold under /ns/<ino>, so that, once each is unused, it
 * forgets their nodeids and the daemon lets go of the namespace.  A name
 * looked up later (relative to a directory still in use) is dropped when
 * ns.c asks again.
 */
static void vanish_ns(unsigned ns)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer name;

	g_mutex_lock(&remembered_lock);
	if (remembered[ns]) {
		g_hash_table_iter_init(&iter, remembered[ns]);
		while (g_hash_table_iter_next(&iter, &name, NULL))
			g_ptr_array_add(names, g_strdup(name));
	}
	g_mutex_unlock(&remembered_lock);
	for (guint i = 0; i < names->len; i++) {
		if (!drop_cached_name(g_ptr_array_index(names, i)))
			continue;
		g_mutex_lock(&remembered_lock);
		if (remembered[ns])
			g_hash_table_remove(remembered[ns], g_ptr_array_index(names, i));
		g_mutex_unlock(&remembered_lock);
	}
}

void ns_names_setup(void)
{
	ns_on_let_go(let_go_ns);
	ns_on_vanish(vanish_ns);
}
