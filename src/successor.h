/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Objects that ipcfs itself re-created under a new id.  The kernel cannot
 * resize a segment or a set, so a resize, an O_TRUNC that empties a segment
 * and the first write of a new /sem file remove the object and create it
 * again.  Every inode and open file that named the old object must go on
 * naming the new one (docs/design.md, "An open file stays its object's
 * file"): ipcfs_file_rebind() notes old -> new here, and a nodeid whose id is
 * gone is looked up here before it is said to be gone.  An object that a
 * different process removed has no successor, so it stays gone.
 *
 * Keyed by kind, IPC namespace (its inode) and id.  Bounded: past
 * SUCCESSOR_MAX entries the oldest is forgotten (its inodes then see the
 * object as gone, as before it was noted).  Thread-safe; no I/O.
 */
#pragma once

#include <stdint.h>

#define SUCCESSOR_MAX 4096

/* old_id of kind in namespace ns was re-created as new_id. */
void successor_note(unsigned kind, uint64_t ns, int old_id, int new_id);
/* The newest successor of id (following every re-creation), or id itself if it has none. */
int successor_of(unsigned kind, uint64_t ns, int id);
/* Forget every entry of namespace ns (the daemon let go of it). */
void successor_forget_ns(uint64_t ns);
/* How many entries are kept (for tests). */
unsigned successor_count(void);
