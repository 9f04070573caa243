// SPDX-License-Identifier: GPL-2.0-only
#include "quota.h"

static const char in_all[] = "the most the daemon holds in all";
static const char for_uid[] = "the most one uid may hold";

void quota_init(struct quota *q, unsigned max, unsigned per_uid_max)
{
	g_mutex_init(&q->lock);
	q->per_uid = g_hash_table_new(g_direct_hash, g_direct_equal);
	q->used = 0;
	q->max = max;
	q->per_uid_max = per_uid_max;
}

void quota_clear(struct quota *q)
{
	g_clear_pointer(&q->per_uid, g_hash_table_unref);
	g_mutex_clear(&q->lock);
}

const char *quota_take_n(struct quota *q, uid_t uid, unsigned units)
{
	const char *refusal = NULL;
	guint n;

	g_mutex_lock(&q->lock);
	n = GPOINTER_TO_UINT(g_hash_table_lookup(q->per_uid, GUINT_TO_POINTER(uid)));
	if (units > q->max - q->used)
		refusal = in_all;
	else if (units > q->per_uid_max - n)
		refusal = for_uid;
	if (!refusal && units) {
		g_hash_table_insert(q->per_uid, GUINT_TO_POINTER(uid), GUINT_TO_POINTER(n + units));
		q->used += units;
	}
	g_mutex_unlock(&q->lock);
	return refusal;
}

const char *quota_take(struct quota *q, uid_t uid)
{
	return quota_take_n(q, uid, 1);
}

void quota_give_n(struct quota *q, uid_t uid, unsigned units)
{
	guint n;

	if (!units)
		return;
	g_mutex_lock(&q->lock);
	n = GPOINTER_TO_UINT(g_hash_table_lookup(q->per_uid, GUINT_TO_POINTER(uid)));
	g_assert(n >= units && q->used >= units);
	if (n > units)
		g_hash_table_insert(q->per_uid, GUINT_TO_POINTER(uid), GUINT_TO_POINTER(n - units));
	else
		g_hash_table_remove(q->per_uid, GUINT_TO_POINTER(uid));
	q->used -= units;
	g_mutex_unlock(&q->lock);
}

void quota_give(struct quota *q, uid_t uid)
{
	quota_give_n(q, uid, 1);
}

bool quota_refused_in_all(const char *refusal)
{
	return refusal == in_all;
}
