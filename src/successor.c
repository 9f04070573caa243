// SPDX-License-Identifier: GPL-2.0-only
/* Objects ipcfs re-created under a new id: see successor.h. */
#include "successor.h"

#include <glib.h>

struct successor_key {
	uint64_t ns;
	unsigned kind;
	int id;
};

struct successor {
	struct successor_key from;	/* the hash table's key */
	int to;
	GList *age;			/* its link in oldest_first */
};

static GMutex lock;
static GHashTable *successors;	/* struct successor_key -> struct successor */
static GQueue oldest_first = G_QUEUE_INIT;
static gint count;		/* read without the lock: most requests find the table empty */

static guint key_hash(gconstpointer p)
{
	const struct successor_key *k = p;

	return g_int64_hash(&k->ns) ^ (k->kind * 0x9e3779b9u) ^ (guint)k->id;
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
	const struct successor_key *x = a, *y = b;

	return x->ns == y->ns && x->kind == y->kind && x->id == y->id;
}

static void drop(struct successor *s)
{
	g_queue_delete_link(&oldest_first, s->age);
	g_hash_table_remove(successors, &s->from);	/* frees s */
	g_atomic_int_add(&count, -1);
}

void successor_note(unsigned kind, uint64_t ns, int old_id, int new_id)
{
	struct successor_key key = { .ns = ns, .kind = kind, .id = old_id };
	struct successor *s;

	if (old_id == new_id)
		return;
	g_mutex_lock(&lock);
	if (!successors)
		successors = g_hash_table_new_full(key_hash, key_equal, NULL, g_free);
	s = g_hash_table_lookup(successors, &key);
	if (s)
		drop(s);
	/* The new id names a live object now: any older entry from it is stale. */
	key.id = new_id;
	s = g_hash_table_lookup(successors, &key);
	if (s)
		drop(s);
	if (g_hash_table_size(successors) >= SUCCESSOR_MAX)
		drop(g_queue_peek_head(&oldest_first));
	s = g_new0(struct successor, 1);
	s->from = (struct successor_key){ .ns = ns, .kind = kind, .id = old_id };
	s->to = new_id;
	g_queue_push_tail(&oldest_first, s);
	s->age = g_queue_peek_tail_link(&oldest_first);
	g_hash_table_insert(successors, &s->from, s);
	g_atomic_int_add(&count, 1);
	g_mutex_unlock(&lock);
}

int successor_of(unsigned kind, uint64_t ns, int id)
{
	struct successor_key key = { .ns = ns, .kind = kind, .id = id };
	struct successor *first = NULL, *s;
	int newest = id;

	if (g_atomic_int_get(&count) == 0)
		return id;
	g_mutex_lock(&lock);
	/* Each entry was noted after the one it follows, so a chain has no loop longer than the table. */
	for (unsigned hops = 0; hops < SUCCESSOR_MAX; hops++) {
		s = successors ? g_hash_table_lookup(successors, &key) : NULL;
		if (!s)
			break;
		if (!first)
			first = s;
		newest = key.id = s->to;
		if (newest == id)
			break;
	}
	/* Shorten the chain: the next look-up from id takes one step. */
	if (first)
		first->to = newest;
	g_mutex_unlock(&lock);
	return newest;
}

void successor_forget_ns(uint64_t ns)
{
	GList *l, *next;

	g_mutex_lock(&lock);
	for (l = oldest_first.head; l; l = next) {
		struct successor *s = l->data;

		next = l->next;
		if (s->from.ns == ns)
			drop(s);
	}
	g_mutex_unlock(&lock);
}

unsigned successor_count(void)
{
	return (unsigned)g_atomic_int_get(&count);
}
