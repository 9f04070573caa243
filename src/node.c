// SPDX-License-Identifier: GPL-2.0-only
/* Nodes: what a nodeid names, its attributes and entries (node.h). */
#include "node.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nodeid.h"
#include "session.h"
#include "successor.h"

G_STATIC_ASSERT(NS_BITS == NODEID_NS_BITS);

void node_setup(void)
{
	nodeid_aliases_init();
}

void node_teardown(void)
{
	nodeid_aliases_clear();
}

bool kind_in_tree(unsigned kind_index, unsigned ns)
{
	const struct ipcfs_kind *kind = ipcfs_kinds[kind_index];

	if (kind->absent && kind->absent())
		return false;
	return ns == NS_SERVED || kind->sysv;
}

struct node node_kind_dir(unsigned ns, unsigned index)
{
	const struct ipcfs_kind *kind = ipcfs_kinds[index];

	return (struct node){ .type = kind->root_file ? NODE_ROOT_FILE : NODE_KIND_DIR, .ns = ns,
			      .kind = kind, .kind_index = index };
}

struct node node_ns_dir(void)
{
	return (struct node){ .type = NODE_NS_DIR, .ns = NS_SERVED };
}

/* Trees under /ns exist only with -o all_ns. */
static bool tree_served(unsigned ns)
{
	return ns == NS_SERVED || ns_enabled();
}

bool node_decode(fuse_ino_t ino, struct node *node)
{
	unsigned local;

	memset(node, 0, sizeof(*node));
	ino = nodeid_base(ino, &node->owner);
	if (!ino)
		return false;	/* an alias the kernel already forgot */
	node->ns = nodeid_ns(ino);
	if (nodeid_is_object(ino)) {
		node->kind_index = nodeid_kind_index(ino);
		if (node->kind_index >= ipcfs_nkinds || ipcfs_kinds[node->kind_index]->root_file)
			return false;
		node->type = NODE_OBJECT;
		node->kind = ipcfs_kinds[node->kind_index];
		node->variant = nodeid_variant(ino);
		node->id = nodeid_id(ino);
		node->follow = true;
		return kind_in_tree(node->kind_index, node->ns);
	}
	local = nodeid_local(ino);
	if (local == NODEID_LOCAL_TREE_ROOT && tree_served(node->ns)) {
		node->type = NODE_TREE_ROOT;
		return true;
	}
	if (local >= NODEID_LOCAL_KIND_DIR(0) && local < NODEID_LOCAL_KIND_DIR(ipcfs_nkinds) &&
	    tree_served(node->ns)) {
		*node = node_kind_dir(node->ns, local - NODEID_LOCAL_KIND_DIR(0));
		return kind_in_tree(node->kind_index, node->ns);
	}
	if (local == NODEID_LOCAL_NS_DIR(ipcfs_nkinds) && node->ns == NS_SERVED && ns_enabled()) {
		*node = node_ns_dir();
		return true;
	}
	return false;
}

int node_enter(fuse_req_t req, const struct node *node, ns_scope *scope)
{
	if (node->ns != NS_SERVED || node->type == NODE_NS_DIR) {
		g_auto(caller_t) caller = { 0 };
		bool allowed;

		caller_from_req(&caller, req);
		allowed = perm_has_global_cap(&caller, PERM_CAP_SYS_ADMIN);
		if (!allowed)
			return reason(EACCES, "/ns: uid %u (pid %d) lacks CAP_SYS_ADMIN in the initial user namespace",
				      (unsigned)fuse_req_ctx(req)->uid, (int)fuse_req_ctx(req)->pid);
	}
	return ns_scope_enter(scope, node->ns);
}

int node_of(fuse_req_t req, fuse_ino_t ino, struct node *node, ns_scope *scope, int bad)
{
	if (!node_decode(ino, node))
		return bad;
	return node_enter(req, node, scope);
}

static const char *node_type_name(enum node_type type)
{
	switch (type) {
	case NODE_TREE_ROOT: return "a tree's root";
	case NODE_KIND_DIR: return "a kind directory";
	case NODE_NS_DIR: return "the /ns directory";
	case NODE_OBJECT: return "an object";
	case NODE_ROOT_FILE: return "a file at the root";
	}
	return "?";
}

int node_of_type(fuse_req_t req, const char *request, fuse_ino_t ino, enum node_type type,
		 int bad, int wrong, struct node *node, ns_scope *scope)
{
	int err = node_of(req, ino, node, scope, bad);

	if (err || node->type == type)
		return err;
	return reason(-wrong, "%s of nodeid %#" PRIx64 ": %s, not %s", request, (uint64_t)ino,
		      node_type_name(node->type), node_type_name(type));
}

/*
 * A nodeid whose object ipcfs itself re-created (a resize, O_TRUNC, a new
 * set's first write) names the new object (successor.h); one whose object
 * anyone else removed stays gone.  Except for a new open (node->follow
 * false): the kernel ties a passthrough backing file to the inode, and fails
 * with EIO an open of an inode that still has the old segment's backing file
 * unless the open names that same file.  So a new open by an old nodeid (a
 * reopen through /proc/self/fd/N) is ENOENT, and one by path looks the name
 * up afresh and reaches the new object's own inode.
 */
int node_object(const struct node *node, struct ipc_obj *obj)
{
	int err, id;

	if (node->type != NODE_OBJECT)
		return -EISDIR;
	err = node->kind->stat(node->id, obj);
	if ((err != -ENOENT && err != -EIDRM) || !node->follow)
		return err;
	id = successor_of(node->kind_index, ns_current_ino(), node->id);
	if (id == node->id)
		return err;
	log_debug("%s id %d: gone, re-created by ipcfs as id %d, which its inodes name now",
		  node->kind->name, node->id, id);
	return node->kind->stat(id, obj);
}

static void dir_attr(fuse_ino_t ino, mode_t mode, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | mode;
	st->st_nlink = 2;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atim = st->st_mtim = st->st_ctim = ipcfs_start_time;
}

fuse_ino_t node_dir_ino(const struct node *node)
{
	switch (node->type) {
	case NODE_KIND_DIR:
	case NODE_ROOT_FILE:
		return nodeid_dir(node->ns, NODEID_LOCAL_KIND_DIR(node->kind_index));
	case NODE_NS_DIR:
		return nodeid_dir(NS_SERVED, NODEID_LOCAL_NS_DIR(ipcfs_nkinds));
	default:
		return nodeid_dir(node->ns, NODEID_LOCAL_TREE_ROOT);
	}
}

/* /ns and /ns/<ino> are for root to enter (node_enter()); st_ino of /ns/<ino> is <ino>. */
void node_dir_attr(const struct node *node, struct stat *st)
{
	if (node->type == NODE_ROOT_FILE) {
		dir_attr(node_dir_ino(node), 0, st);
		st->st_mode = S_IFREG | node->kind->dir_mode;
		st->st_nlink = 1;
	} else if (node->type == NODE_KIND_DIR)
		dir_attr(node_dir_ino(node), node->kind->dir_mode, st);
	else if (node->type == NODE_NS_DIR)
		dir_attr(node_dir_ino(node), 0500, st);
	else if (node->ns == NS_SERVED)
		dir_attr(FUSE_ROOT_ID, 0755, st);
	else
		node_namespace_attr(ns_ino(node->ns), st);
}

void node_namespace_attr(uint64_t ns_ino, struct stat *st)
{
	dir_attr(ns_ino, 0500, st);
}

void node_object_attr(const struct ipcfs_kind *kind, unsigned variant, const struct ipc_obj *obj,
		      struct stat *st)
{
	struct ipc_obj whole = *obj;

	if (kind->complete_attr)
		kind->complete_attr(&whole);
	attr_fill(&whole, nodeid_object(kind_index_of(kind), ns_current(), variant, obj->id), st);
	/* Views (msg types) are aliases: st_size is the object's, nlink stays 1. */
}

struct fuse_entry_param node_entry(fuse_ino_t ino, const struct stat *st)
{
	struct fuse_entry_param e;
	bool dir = S_ISDIR(st->st_mode);

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr = *st;
	e.attr_timeout = dir ? NODE_DIR_TIMEOUT : NODE_ATTR_FRESH;
	e.entry_timeout = dir && nodeid_ns(ino) == NS_SERVED ? NODE_DIR_TIMEOUT : 0;
	return e;
}

fuse_ino_t node_lookup(const struct ipcfs_kind *kind, fuse_ino_t base, fuse_req_t req)
{
	fuse_ino_t ino;
	bool made;

	ns_hold(nodeid_ns(base));
	if (!kind || !kind->writes_wait)
		return base;
	ino = nodeid_alias_lookup(base, fuse_req_ctx(req)->pid, &made);
	/* The alias names the variant until the kernel forgets it. */
	if (made && nodeid_variant(base))
		kind->hold_variant(nodeid_variant(base));
	return ino;
}

void node_forget(fuse_ino_t ino, uint64_t nlookup)
{
	fuse_ino_t base = ino;

	if (nodeid_is_alias(ino)) {
		bool gone;

		base = nodeid_alias_forget(ino, nlookup, &gone);
		if (gone && nodeid_variant(base))
			node_drop_variant(ipcfs_kinds[nodeid_kind_index(base)], nodeid_variant(base));
	}
	/* Object nodeids are computed: nothing to forget but the namespace's count. */
	if (base)
		ns_put(nodeid_ns(base), nlookup);
}

void node_drop_variant(const struct ipcfs_kind *kind, unsigned variant)
{
	if (variant)
		kind->drop_variant(variant);
}
