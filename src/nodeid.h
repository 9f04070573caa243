/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Nodeids: the number the kernel is given for each name of the tree, and
 * what a number says.  Pure arithmetic, and the alias table; what a nodeid
 * names, and when the daemon may forget it, is node.h.
 *
 *   /                  1
 *   /<kind>            2 + kind index
 *   /ns                2 + the number of kinds (with -o all_ns)
 *   /ns/<ino>          ns << 48 | 1
 *   /ns/<ino>/<kind>   ns << 48 | (2 + kind index)
 *   <dir>/<x>          (kind index + 1) << 60 | ns << 48 | variant << 32 | (uint32_t)id
 *   an alias           1 << 63 | serial
 *
 * where ns is the index ns.c gives an IPC namespace (0 for the served one).
 * Object nodeids are computed, not allocated, so the daemon keeps no table of
 * them: an id names one object for its whole life (the kernel puts a sequence
 * number in every id), and the same object always gets the same inode.
 *
 * Aliases are the one exception: a nodeid made for one (object, thread) pair
 * (node.h says why), kept in a table until the kernel forgets it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef uint64_t nodeid_t;

#define NODEID_KINDS_MAX 7		/* an object's kind is 3 bits, 0 meaning a directory */
#define NODEID_NS_BITS 12		/* bits 48-59 */
#define NODEID_VARIANTS_MAX 0x10000u	/* 16 bits, bits 32-47 */

/* The low bits of a directory's nodeid, within its namespace's tree. */
#define NODEID_LOCAL_TREE_ROOT 1u
#define NODEID_LOCAL_KIND_DIR(index) (2u + (index))
#define NODEID_LOCAL_NS_DIR(nkinds) (2u + (nkinds))

nodeid_t nodeid_dir(unsigned ns, unsigned local);
nodeid_t nodeid_object(unsigned kind_index, unsigned ns, unsigned variant, int id);

unsigned nodeid_ns(nodeid_t ino);
bool nodeid_is_alias(nodeid_t ino);
/* Of a nodeid that is not an alias: an object's, or else (false) a directory's. */
bool nodeid_is_object(nodeid_t ino);
/* Of an object nodeid. */
unsigned nodeid_kind_index(nodeid_t ino);
unsigned nodeid_variant(nodeid_t ino);
int nodeid_id(nodeid_t ino);
/* Of a directory nodeid: its local number, 0 if the nodeid is no directory's. */
unsigned nodeid_local(nodeid_t ino);

/* The alias table, for the daemon's life. */
void nodeid_aliases_init(void);
void nodeid_aliases_clear(void);
/* The alias of base for thread tid, counting one lookup; *made says it is new. */
nodeid_t nodeid_alias_lookup(nodeid_t base, pid_t tid, bool *made);
/*
 * The nodeid ino stands for, and the thread an alias was made for (0 for a
 * nodeid that is not an alias); 0 for an alias that is unknown.
 */
nodeid_t nodeid_base(nodeid_t ino, pid_t *owner);
/*
 * Give back nlookup lookups of alias ino: its base (0 if it is unknown),
 * and *gone if they were its last, so the alias is no more.
 */
nodeid_t nodeid_alias_forget(nodeid_t ino, uint64_t nlookup, bool *gone);
