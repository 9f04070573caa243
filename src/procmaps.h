/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reading /proc/<pid>/maps for System V segments.  A process's maps is
 * untrusted text (any file it maps may be named "/SYSV..."), and may hold
 * tens of thousands of lines: the parser is linear in its length and never
 * reads past it.  Pure: no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Find the first mapping of SysV segment id in maps (len bytes, not
 * necessarily NUL-terminated): a line "START-END PERMS OFFSET DEV INODE
 * /SYSV<8 hex digits>..." whose INODE is id (the kernel gives a segment's
 * shmem file the segment's id as its inode number).  Sets *start and *end.
 */
bool procmaps_find_segment(const char *maps, size_t len, int id, unsigned long *start,
			   unsigned long *end);

/* Call fn for every mapping of a SysV segment in maps, with the segment's id; linear. */
void procmaps_each_segment(const char *maps, size_t len, void (*fn)(int id, void *data), void *data);
