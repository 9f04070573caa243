// SPDX-License-Identifier: GPL-2.0-only
/* Nodeid arithmetic and the alias table (nodeid.h). */
#include "nodeid.h"

#include <glib.h>

#define KIND_SHIFT 60
#define NS_SHIFT 48
#define VARIANT_SHIFT 32
#define ALIAS_BIT (1ull << 63)
#define LOCAL_MASK ((1ull << NS_SHIFT) - 1)

G_STATIC_ASSERT(KIND_SHIFT - NS_SHIFT == NODEID_NS_BITS);
G_STATIC_ASSERT(NS_SHIFT - VARIANT_SHIFT == 16 && NODEID_VARIANTS_MAX == 1u << 16);

nodeid_t nodeid_dir(unsigned ns, unsigned local)
{
	return (nodeid_t)ns << NS_SHIFT | local;
}

nodeid_t nodeid_object(unsigned kind_index, unsigned ns, unsigned variant, int id)
{
	return ((nodeid_t)(kind_index + 1) << KIND_SHIFT) | (nodeid_t)ns << NS_SHIFT |
	       ((nodeid_t)(variant & (NODEID_VARIANTS_MAX - 1)) << VARIANT_SHIFT) | (uint32_t)id;
}

unsigned nodeid_ns(nodeid_t ino)
{
	return (unsigned)(ino >> NS_SHIFT) & ((1u << NODEID_NS_BITS) - 1);
}

bool nodeid_is_alias(nodeid_t ino)
{
	return ino & ALIAS_BIT;
}

bool nodeid_is_object(nodeid_t ino)
{
	return !nodeid_is_alias(ino) && (ino >> KIND_SHIFT) != 0;
}

unsigned nodeid_kind_index(nodeid_t ino)
{
	return ((unsigned)(ino >> KIND_SHIFT) & NODEID_KINDS_MAX) - 1;
}

unsigned nodeid_variant(nodeid_t ino)
{
	return (unsigned)(ino >> VARIANT_SHIFT) & (NODEID_VARIANTS_MAX - 1);
}

int nodeid_id(nodeid_t ino)
{
	return (int)(uint32_t)ino;
}

unsigned nodeid_local(nodeid_t ino)
{
	return ino >> KIND_SHIFT ? 0 : (unsigned)(ino & LOCAL_MASK);
}

/* ---- Aliases ---- */

struct alias {
	nodeid_t ino;
	nodeid_t base;
	pid_t tid;
	uint64_t nlookup;
};

static GMutex alias_lock;
static GHashTable *aliases;		/* alias nodeid -> struct alias */
static GHashTable *alias_by_caller;	/* (base, tid) -> the same struct alias */
static uint64_t next_alias = 1;

static guint caller_key_hash(gconstpointer key)
{
	const struct alias *a = key;

	return g_int64_hash(&a->base) ^ (guint)a->tid;
}

static gboolean caller_key_equal(gconstpointer x, gconstpointer y)
{
	const struct alias *a = x, *b = y;

	return a->base == b->base && a->tid == b->tid;
}

void nodeid_aliases_init(void)
{
	aliases = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
	alias_by_caller = g_hash_table_new(caller_key_hash, caller_key_equal);
}

void nodeid_aliases_clear(void)
{
	g_clear_pointer(&alias_by_caller, g_hash_table_unref);
	g_clear_pointer(&aliases, g_hash_table_unref);
}

nodeid_t nodeid_alias_lookup(nodeid_t base, pid_t tid, bool *made)
{
	struct alias key = { .base = base, .tid = tid }, *a;
	nodeid_t ino;

	g_mutex_lock(&alias_lock);
	a = g_hash_table_lookup(alias_by_caller, &key);
	*made = !a;
	if (!a) {
		a = g_memdup2(&key, sizeof(key));
		a->ino = ALIAS_BIT | next_alias++;
		g_hash_table_insert(aliases, &a->ino, a);
		g_hash_table_insert(alias_by_caller, a, a);
	}
	a->nlookup++;
	ino = a->ino;
	g_mutex_unlock(&alias_lock);
	return ino;
}

nodeid_t nodeid_base(nodeid_t ino, pid_t *owner)
{
	struct alias *a;

	*owner = 0;
	if (!nodeid_is_alias(ino))
		return ino;
	g_mutex_lock(&alias_lock);
	a = g_hash_table_lookup(aliases, &ino);
	ino = a ? a->base : 0;
	*owner = a ? a->tid : 0;
	g_mutex_unlock(&alias_lock);
	return ino;
}

nodeid_t nodeid_alias_forget(nodeid_t ino, uint64_t nlookup, bool *gone)
{
	struct alias *a;
	nodeid_t base;

	g_mutex_lock(&alias_lock);
	a = g_hash_table_lookup(aliases, &ino);
	base = a ? a->base : 0;
	*gone = a && (a->nlookup -= MIN(nlookup, a->nlookup)) == 0;
	if (*gone) {
		g_hash_table_remove(alias_by_caller, a);
		g_hash_table_remove(aliases, &ino);	/* frees a */
	}
	g_mutex_unlock(&alias_lock);
	return base;
}
