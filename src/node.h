/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a nodeid names in the tree (a node), the attributes and entries the
 * kernel is given for it, and when the daemon may forget it.  The numbers
 * themselves are nodeid.h's; fs.c dispatches on nodes.
 *
 * Timeouts.  Object names have an entry timeout of 0: every path walk asks
 * again, so names are always live.  Entries of a listing are the exception:
 * they are cached for -o listing_cache and kept live by listed.c.  Object
 * attributes are valid for one clock tick (NODE_ATTR_FRESH): long enough
 * that the stat(2) whose path walk fetched them uses them instead of asking
 * a second time, too short to outlive it.  The root and the kind
 * directories never change, so they are cached for good.  Names under /ns
 * come and go with namespaces, and the kernel must forget them when unused
 * (so that the daemon lets go of the namespace), so every name there has an
 * entry timeout of 0 too.
 *
 * Writers that wait.  While a WRITE request is outstanding the kernel holds
 * the FUSE inode's lock, exclusively for a write that ends past i_size, and
 * every command written to /sem does (its size is nsems).  A second writer of
 * the same inode would wait for that lock in D state, unkillable, behind a
 * writer that may wait for ever.  So for kinds whose writes can wait, every
 * calling thread gets an inode of its own: lookups and readdirplus hand out an
 * alias nodeid per (object, caller thread id).  Two writers never share an
 * inode lock, and a thread cannot block in two writes at once.  st_ino stays
 * the object's, so stat(2) cannot tell.  Aliases live until the kernel
 * forgets them.  A listing hands out the object's own nodeid instead, which
 * the kernel caches (listed.h) and any thread may then reach by its path: an
 * open for writing through a nodeid that is not the caller's own alias is
 * refused with ESTALE (fs.c), which makes the kernel look the path up again
 * and open the caller's own.
 */
#pragma once

#include "kind.h"
#include "ns.h"

/* Seconds; see "Timeouts" above.  The kernel rounds NODE_ATTR_FRESH up to one jiffy. */
#define NODE_ATTR_FRESH 1e-6
#define NODE_DIR_TIMEOUT 86400.0

/* NODE_ROOT_FILE: a kind's node at the root that is a file (kind.h's root_file), not a directory. */
enum node_type { NODE_TREE_ROOT, NODE_KIND_DIR, NODE_NS_DIR, NODE_OBJECT, NODE_ROOT_FILE };

struct node {
	enum node_type type;
	unsigned ns;			/* the IPC namespace it is in (ns.h) */
	const struct ipcfs_kind *kind;	/* of kind directories and objects */
	unsigned kind_index;
	unsigned variant;
	int id;
	pid_t owner;			/* the thread an alias nodeid was made for; 0 for others */
	bool follow;			/* objects: follow a re-creation by ipcfs (node_object) */
};

void node_setup(void);
void node_teardown(void);

/* /ns/<ino> trees hold the SysV kinds only: channels and /events belong to the served tree. */
bool kind_in_tree(unsigned kind_index, unsigned ns);
/* The node of kind directory (or root file) index of tree ns, and of /ns. */
struct node node_kind_dir(unsigned ns, unsigned index);
struct node node_ns_dir(void);

/* What ino names, false if nothing (an unknown nodeid, or a tree that is not served). */
bool node_decode(fuse_ino_t ino, struct node *node);
/*
 * Enter the namespace of a node for the rest of the request: a node under
 * /ns needs a caller with CAP_SYS_ADMIN in the initial user namespace, since
 * /ns crosses the boundaries of containers.  0, or -errno (logged).
 */
int node_enter(fuse_req_t req, const struct node *node, ns_scope *scope);
/* node_decode() and node_enter(): 0, or the errno to reply with (bad is for an unknown nodeid). */
int node_of(fuse_req_t req, fuse_ino_t ino, struct node *node, ns_scope *scope, int bad);
/*
 * node_of() for a request that acts on one type of node only (REQUEST names it
 * in the log): a node of another type is the errno WRONG, with its reason logged.
 */
int node_of_type(fuse_req_t req, const char *request, fuse_ino_t ino, enum node_type type,
		 int bad, int wrong, struct node *node, ns_scope *scope);

/*
 * The live attributes of a node's object (-EISDIR for a directory).  A
 * nodeid whose object ipcfs itself re-created follows it (node.c says when).
 */
int node_object(const struct node *node, struct ipc_obj *obj);

/* The nodeid of a node that is no object (not an alias: these have none). */
fuse_ino_t node_dir_ino(const struct node *node);
/* Its attributes: a directory's, or a root file's (empty, read-only, cached for good). */
void node_dir_attr(const struct node *node, struct stat *st);
/* The attributes of /ns/<ino> as /ns lists it. */
void node_namespace_attr(uint64_t ns_ino, struct stat *st);
/* The attributes of an object of the namespace this thread acts in; st_ino its own nodeid. */
void node_object_attr(const struct ipcfs_kind *kind, unsigned variant, const struct ipc_obj *obj,
		      struct stat *st);
/* The entry for an object or a directory, with the timeouts described above. */
struct fuse_entry_param node_entry(fuse_ino_t ino, const struct stat *st);

/*
 * The nodeid a lookup (or readdirplus entry) of base replies with: the
 * caller thread's alias for an object of a kind whose writes wait, else base;
 * counts one lookup, which node_forget() gives back.  kind NULL: a directory.
 */
fuse_ino_t node_lookup(const struct ipcfs_kind *kind, fuse_ino_t base, fuse_req_t req);
/* FORGET, or a reply with an entry the kernel never took. */
void node_forget(fuse_ino_t ino, uint64_t nlookup);

/* Drop the reference to a variant that a kind's lookup or create gave (0: none). */
void node_drop_variant(const struct ipcfs_kind *kind, unsigned variant);
