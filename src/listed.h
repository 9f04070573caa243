/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Names a listing handed out with attributes that the kernel may keep.
 *
 * `ls -l` reads a directory with READDIRPLUS and then stats every name.  If
 * the entries it got had a timeout of 0, each stat would cost a LOOKUP round
 * trip; so the entries of object directories that READDIRPLUS hands out are
 * valid for -o listing_cache seconds (1 by default).  To keep them live, a
 * watcher thread runs while any of them may still be cached: every
 * LISTED_TICK_MS (or, when a round takes longer, as long again as the round
 * took: at most half a core) it lists those directories again and makes the kernel drop
 * (fuse_lowlevel_notify_inval_entry and _inval_inode) each name whose object
 * is gone, replaced, or shows other attributes.  A LOOKUP keeps its timeout
 * of 0: a path that no listing preceded is always looked up afresh.
 */
#pragma once

#include "kind.h"

#define LISTED_TICK_MS 5

/* seconds: -o listing_cache; 0 turns the cache (and the watcher) off. */
void listed_setup(double seconds);
void listed_shutdown(void);

/* The entry and attribute timeout of an object entry in a listing (0 if off). */
double listed_timeout(void);

/*
 * READDIRPLUS handed out name in directory parent (of kind, in namespace ns)
 * as nodeid, with obj's attributes: watch it until its timeout has passed.
 */
void listed_add(fuse_ino_t parent, unsigned ns, const struct ipcfs_kind *kind, const char *name,
		fuse_ino_t nodeid, const struct ipc_obj *obj);

/* Objects that differ in what stat(2) shows, or are another object. */
bool listed_changed(const struct ipc_obj *was, const struct ipc_obj *now);
