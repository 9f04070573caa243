/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Bounds on what callers may make the daemon hold (waiting threads, open
 * directories, device descriptors, kept text): at most max in all, and at most
 * per_uid_max for one uid, so that one user cannot take everything.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

struct quota {
	GMutex lock;
	GHashTable *per_uid;	/* uid -> units held */
	unsigned used, max, per_uid_max;
};

void quota_init(struct quota *q, unsigned max, unsigned per_uid_max);
void quota_clear(struct quota *q);

/* Take one unit for uid: NULL, or why not ("...in all", "...for this uid"). */
const char *quota_take(struct quota *q, uid_t uid);
/* Give back a unit that quota_take() gave uid. */
void quota_give(struct quota *q, uid_t uid);
/* The same for units at once (all or none; 0 always succeeds). */
const char *quota_take_n(struct quota *q, uid_t uid, unsigned units);
void quota_give_n(struct quota *q, uid_t uid, unsigned units);
/* Did the last refusal concern the total (true) or one uid (false)? */
bool quota_refused_in_all(const char *refusal);
