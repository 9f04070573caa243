// SPDX-License-Identifier: GPL-2.0-only
/*
 * The tree and the dispatch of FUSE requests to the kinds.
 *
 *   /                  nodeid 1
 *   /<kind>            nodeid 2 + kind index
 *   /ns                nodeid 2 + NKINDS (with -o all_ns)
 *   /ns/<ino>          nodeid ns << 48 | 1
 *   /ns/<ino>/<kind>   nodeid ns << 48 | (2 + kind index)
 *   <dir>/<x>          nodeid (kind index + 1) << 60 | ns << 48 | variant << 32 | (uint32_t)id
 *
 * where ns is the index ns.c gives an IPC namespace (0 for the served one, the
 * top-level tree) and every request runs in the namespace of its nodeid.
 * Object nodeids are computed, not allocated, so the daemon keeps no table of
 * them: an id names one object for its whole life (the kernel puts a sequence
 * number in every id), and the same object always gets the same inode.  The
 * one exception, alias nodeids for writers that wait, is explained below.
 *
 * Timeouts.  Object names have an entry timeout of 0: every path walk asks
 * again, so names are always live.  Entries of a listing are the exception:
 * they are cached for -o listing_cache and kept live by listed.c.  Object
 * attributes are valid for one clock tick (ATTR_FRESH): long enough that the
 * stat(2) whose path walk fetched them uses them instead of asking a second
 * time, too short to outlive it.  The root and the kind directories never
 * change, so they are cached for good.
 * Names under /ns come and go with namespaces, and the kernel must forget
 * them when unused (so that the daemon lets go of the namespace), so every
 * name there has an entry timeout of 0 too.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "listed.h"
#include "log.h"
#include "ns.h"
#include "options.h"
#include "quota.h"
#include "successor.h"

#define ROOT_INO FUSE_ROOT_ID
#define KIND_SHIFT 60
#define NS_SHIFT 48
#define VARIANT_SHIFT 32
#define VARIANT_MASK 0xffffu
#define LOCAL_MASK ((1ull << NS_SHIFT) - 1)
#define NS_OF(ino) ((unsigned)((ino) >> NS_SHIFT) & (NS_MAX - 1))

static const struct ipcfs_kind *const kinds[] = { &kind_shm, &kind_sem, &kind_msg, &kind_chan };
#define NKINDS G_N_ELEMENTS(kinds)
/* The low bits of a directory's nodeid (see the top). */
#define LOCAL_TREE_ROOT 1
#define LOCAL_KIND_DIR(index) (2 + (index))
#define LOCAL_NS_DIR (2 + NKINDS)
#define NS_DIR_INO ((fuse_ino_t)LOCAL_NS_DIR)

/*
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
 * refused with ESTALE, which makes the kernel look the path up again and open
 * the caller's own.
 */
#define ALIAS_BIT (1ull << 63)

/* Seconds; see "Timeouts" at the top.  The kernel rounds ATTR_FRESH up to one jiffy. */
#define ATTR_FRESH 1e-6
#define DIR_TIMEOUT 86400.0

struct alias {
	fuse_ino_t ino;
	fuse_ino_t base;
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

enum node_type { NODE_TREE_ROOT, NODE_KIND_DIR, NODE_NS_DIR, NODE_OBJECT };

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

/* /ns/<ino> trees hold the SysV kinds only: channels belong to no namespace. */
static bool kind_in_tree(unsigned kind_index, unsigned ns)
{
	return ns == NS_SERVED || kinds[kind_index]->sysv;
}

static fuse_ino_t dir_ino(unsigned ns, unsigned local)
{
	return (fuse_ino_t)ns << NS_SHIFT | local;
}

static fuse_ino_t kind_dir_ino(unsigned ns, unsigned index)
{
	return dir_ino(ns, LOCAL_KIND_DIR(index));
}

static unsigned kind_index_of(const struct ipcfs_kind *kind)
{
	for (unsigned i = 0; i < NKINDS; i++)
		if (kinds[i] == kind)
			return i;
	g_assert_not_reached();
}

/* An object of the namespace this thread acts in. */
static fuse_ino_t object_ino(const struct ipcfs_kind *kind, unsigned variant, int id)
{
	return ((fuse_ino_t)(kind_index_of(kind) + 1) << KIND_SHIFT) |
	       (fuse_ino_t)ns_current() << NS_SHIFT |
	       ((fuse_ino_t)(variant & VARIANT_MASK) << VARIANT_SHIFT) | (uint32_t)id;
}

static unsigned ino_variant(fuse_ino_t ino)
{
	return (unsigned)(ino >> VARIANT_SHIFT) & VARIANT_MASK;
}

static const struct ipcfs_kind *ino_kind(fuse_ino_t ino)
{
	unsigned kind_index = (unsigned)(ino >> KIND_SHIFT) & 7;

	return kind_index >= 1 && kind_index <= NKINDS ? kinds[kind_index - 1] : NULL;
}

/* Drop the reference to a variant that a kind's lookup or create gave. */
static void drop_variant(const struct ipcfs_kind *kind, unsigned variant)
{
	if (variant)
		kind->drop_variant(variant);
}

/* The nodeid an alias stands for, and the thread it was made for (0 for other nodeids). */
static fuse_ino_t base_ino(fuse_ino_t ino, pid_t *owner)
{
	struct alias *a;

	*owner = 0;
	if (!(ino & ALIAS_BIT))
		return ino;
	g_mutex_lock(&alias_lock);
	a = g_hash_table_lookup(aliases, &ino);
	ino = a ? a->base : 0;
	*owner = a ? a->tid : 0;
	g_mutex_unlock(&alias_lock);
	return ino;
}

/*
 * The nodeid a lookup (or readdirplus entry) of this object or directory
 * replies with; counts one lookup, which the kernel's FORGET gives back.
 */
static fuse_ino_t lookup_ino(const struct ipcfs_kind *kind, fuse_ino_t base, fuse_req_t req)
{
	struct alias key = { .base = base, .tid = fuse_req_ctx(req)->pid }, *a;
	fuse_ino_t ino;

	ns_hold(NS_OF(base));
	if (!kind || !kind->writes_wait)
		return base;
	g_mutex_lock(&alias_lock);
	a = g_hash_table_lookup(alias_by_caller, &key);
	if (!a) {
		a = g_memdup2(&key, sizeof(key));
		a->ino = ALIAS_BIT | next_alias++;
		g_hash_table_insert(aliases, &a->ino, a);
		g_hash_table_insert(alias_by_caller, a, a);
		/* The alias names the variant until the kernel forgets it. */
		if (ino_variant(base))
			kind->hold_variant(ino_variant(base));
	}
	a->nlookup++;
	ino = a->ino;
	g_mutex_unlock(&alias_lock);
	return ino;
}

static void forget_ino(fuse_ino_t ino, uint64_t nlookup)
{
	struct alias *a;
	fuse_ino_t base = ino;

	if (ino & ALIAS_BIT) {
		g_mutex_lock(&alias_lock);
		a = g_hash_table_lookup(aliases, &ino);
		base = a ? a->base : 0;
		if (a && (a->nlookup -= MIN(nlookup, a->nlookup)) == 0) {
			g_hash_table_remove(alias_by_caller, a);
			g_hash_table_remove(aliases, &ino);	/* frees a */
			if (ino_variant(base))
				drop_variant(ino_kind(base), ino_variant(base));
		}
		g_mutex_unlock(&alias_lock);
	}
	/* Object nodeids are computed: nothing to forget but the namespace's count. */
	if (base)
		ns_put(NS_OF(base), nlookup);
}

static bool decode_ino(fuse_ino_t ino, struct node *node)
{
	unsigned local;

	memset(node, 0, sizeof(*node));
	ino = base_ino(ino, &node->owner);
	node->ns = NS_OF(ino);
	node->kind = ino_kind(ino);
	if (node->kind) {
		node->type = NODE_OBJECT;
		node->kind_index = kind_index_of(node->kind);
		node->variant = ino_variant(ino);
		node->id = (int)(uint32_t)ino;
		node->follow = true;
		return kind_in_tree(node->kind_index, node->ns);
	}
	if (ino >> KIND_SHIFT)
		return false;
	local = (unsigned)(ino & LOCAL_MASK);
	if (local == LOCAL_TREE_ROOT && (node->ns == NS_SERVED || ns_enabled())) {
		node->type = NODE_TREE_ROOT;
		return true;
	}
	if (local >= LOCAL_KIND_DIR(0) && local < LOCAL_KIND_DIR(NKINDS) &&
	    (node->ns == NS_SERVED || ns_enabled())) {
		node->type = NODE_KIND_DIR;
		node->kind_index = local - LOCAL_KIND_DIR(0);
		node->kind = kinds[node->kind_index];
		return kind_in_tree(node->kind_index, node->ns);
	}
	if (local == LOCAL_NS_DIR && node->ns == NS_SERVED && ns_enabled()) {
		node->type = NODE_NS_DIR;
		return true;
	}
	return false;
}

/*
 * Enter the namespace of a node for the rest of the request: a node under
 * /ns needs a caller with CAP_SYS_ADMIN in the initial user namespace, since
 * /ns crosses the boundaries of containers.  0, or -errno (logged).
 */
static int enter_node(fuse_req_t req, const struct node *node, ns_scope *scope)
{
	if (node->ns != NS_SERVED || node->type == NODE_NS_DIR) {
		struct caller caller;
		bool allowed;

		caller_from_req(&caller, req);
		allowed = perm_has_global_cap(&caller, PERM_CAP_SYS_ADMIN);
		caller_clear(&caller);
		if (!allowed)
			return reason(EACCES, "/ns: uid %u (pid %d) lacks CAP_SYS_ADMIN in the initial user namespace",
				      (unsigned)fuse_req_ctx(req)->uid, (int)fuse_req_ctx(req)->pid);
	}
	return ns_scope_enter(scope, node->ns);
}

/* decode_ino() and enter_node(): 0, or the errno to reply with (bad is for an unknown nodeid). */
static int node_of(fuse_req_t req, fuse_ino_t ino, struct node *node, ns_scope *scope, int bad)
{
	if (!decode_ino(ino, node))
		return bad;
	return enter_node(req, node, scope);
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

static fuse_ino_t node_dir_ino(const struct node *node)
{
	switch (node->type) {
	case NODE_KIND_DIR:
		return kind_dir_ino(node->ns, node->kind_index);
	case NODE_NS_DIR:
		return NS_DIR_INO;
	default:
		return dir_ino(node->ns, LOCAL_TREE_ROOT);
	}
}

/* /ns and /ns/<ino> are for root to enter (enter_node()); st_ino of /ns/<ino> is <ino>. */
static void node_dir_attr(const struct node *node, struct stat *st)
{
	if (node->type == NODE_KIND_DIR)
		dir_attr(node_dir_ino(node), node->kind->dir_mode, st);
	else if (node->type == NODE_NS_DIR)
		dir_attr(NS_DIR_INO, 0500, st);
	else if (node->ns == NS_SERVED)
		dir_attr(ROOT_INO, 0755, st);
	else
		dir_attr(ns_ino(node->ns), 0500, st);
}

static void object_attr(const struct ipcfs_kind *kind, unsigned variant,
			const struct ipc_obj *obj, struct stat *st)
{
	struct ipc_obj whole = *obj;

	if (kind->complete_attr)
		kind->complete_attr(&whole);
	attr_fill(&whole, object_ino(kind, variant, obj->id), st);
	/* Views (msg types) are aliases: st_size is the object's, nlink stays 1. */
}

/* The entry for an object or a directory, with the timeouts described at the top. */
static struct fuse_entry_param entry_param(fuse_ino_t ino, const struct stat *st)
{
	struct fuse_entry_param e;
	bool dir = S_ISDIR(st->st_mode);

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr = *st;
	e.attr_timeout = dir ? DIR_TIMEOUT : ATTR_FRESH;
	e.entry_timeout = dir && NS_OF(ino) == NS_SERVED ? DIR_TIMEOUT : 0;
	return e;
}

/* Reply with an entry that lookup_ino() counted; a reply the kernel never took counts nothing. */
static void reply_entry(fuse_req_t req, fuse_ino_t ino, const struct stat *st)
{
	struct fuse_entry_param e = entry_param(ino, st);

	if (fuse_reply_entry(req, &e) != 0)
		forget_ino(ino, 1);
}

static void reply_dir_entry(fuse_req_t req, const struct node *dir)
{
	struct stat st;

	node_dir_attr(dir, &st);
	reply_entry(req, lookup_ino(NULL, node_dir_ino(dir), req), &st);
}

static void reply_err(fuse_req_t req, int negative_errno)
{
	fuse_reply_err(req, -negative_errno);
}

void caller_from_req(struct caller *caller, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	caller_init(caller, ctx->uid, ctx->gid, ctx->pid);
}

/* The live object behind an inode, or -ENOENT if it is gone. */
/*
 * The live attributes of a node's object.  A nodeid whose object ipcfs itself
 * re-created (a resize, O_TRUNC, a new set's first write) names the new object
 * (successor.h); one whose object anyone else removed stays gone.  Except for
 * a new open (node->follow false): the kernel ties a passthrough backing file
 * to the inode, and fails with EIO an open of an inode that still has the old
 * segment's backing file unless the open names that same file.  So a new open
 * by an old nodeid (a reopen through /proc/self/fd/N) is ENOENT, and one by
 * path looks the name up afresh and reaches the new object's own inode.
 */
static int node_object(const struct node *node, struct ipc_obj *obj)
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

/*
 * Names under /ns that the kernel may hold in its cache, per namespace, as
 * "<parent nodeid>/<name>".  The kernel keeps unused FUSE names whatever
 * their timeout (only virtiofs deletes them at once), and every name it holds
 * keeps the daemon holding the namespace, so when a namespace vanishes each
 * name is dropped with a notification (vanish_ns).  Bounded: a name beyond is
 * not remembered, and only memory pressure on the kernel's cache drops it.
 */
#define REMEMBERED_NAMES_MAX 4096
static GMutex remembered_lock;
static GHashTable *remembered[NS_MAX];

static void remember_name(unsigned ns, fuse_ino_t parent, const char *name)
{
	if (ns == NS_SERVED)
		return;
	g_mutex_lock(&remembered_lock);
	if (!remembered[ns])
		remembered[ns] = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (g_hash_table_size(remembered[ns]) < REMEMBERED_NAMES_MAX)
		g_hash_table_add(remembered[ns], g_strdup_printf("%" PRIu64 "/%s", (uint64_t)parent, name));
	g_mutex_unlock(&remembered_lock);
}

static void forget_names(unsigned ns)
{
	g_mutex_lock(&remembered_lock);
	g_clear_pointer(&remembered[ns], g_hash_table_unref);
	g_mutex_unlock(&remembered_lock);
}

/* "<ino>" under /ns: the namespace's tree, if a process is still in it. */
static void lookup_namespace(fuse_req_t req, const char *name)
{
	struct node tree = { .type = NODE_TREE_ROOT };
	char *end;
	guint64 ino;
	int err;

	if (!g_ascii_isdigit(*name))
		return reply_err(req, -ENOENT);
	ino = g_ascii_strtoull(name, &end, 10);
	if (*end || ino == 0)
		return reply_err(req, -ENOENT);
	err = ns_find(ino, &tree.ns);
	if (err)
		return reply_err(req, err);
	remember_name(tree.ns, NS_DIR_INO, name);
	reply_dir_entry(req, &tree);
	ns_put(tree.ns, 1);	/* ns_find()'s hold: the entry holds it now, if the kernel took it */
}

static void ipcfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node dir;
	struct ipc_obj obj;
	unsigned variant = 0;
	struct stat st;
	int err;

	err = node_of(req, parent, &dir, &scope, -ENOTDIR);
	if (err)
		return reply_err(req, err);
	switch (dir.type) {
	case NODE_OBJECT:
		return reply_err(req, -ENOTDIR);
	case NODE_NS_DIR:
		return lookup_namespace(req, name);
	case NODE_TREE_ROOT:
		for (unsigned i = 0; i < NKINDS; i++) {
			if (kind_in_tree(i, dir.ns) && strcmp(name, kinds[i]->name) == 0) {
				struct node child = { .type = NODE_KIND_DIR, .ns = dir.ns,
						      .kind = kinds[i], .kind_index = i };

				remember_name(dir.ns, parent, name);
				return reply_dir_entry(req, &child);
			}
		}
		if (dir.ns == NS_SERVED && ns_enabled() && strcmp(name, "ns") == 0) {
			struct node child = { .type = NODE_NS_DIR };

			return reply_dir_entry(req, &child);
		}
		return reply_err(req, -ENOENT);
	case NODE_KIND_DIR:
		break;
	}
	err = dir.kind->lookup(dir.kind, name, fuse_req_ctx(req)->uid, &obj, &variant);
	if (err)
		return reply_err(req, err == -EINVAL ? -ENOENT : err);
	object_attr(dir.kind, variant, &obj, &st);
	remember_name(dir.ns, parent, name);
	reply_entry(req, lookup_ino(dir.kind, st.st_ino, req), &st);
	drop_variant(dir.kind, variant);
}

static struct ipcfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct ipcfs_file *)(uintptr_t)fi->fh;
}

/* ---- Lifetime of open files (kind.h) ----
 *
 * Every file lives in open_files until it is freed.  A file whose RELEASE
 * never comes (the daemon stopped, or the connection torn down, while it was
 * open) is released at teardown, so its kind still cleans up: a /sem file's
 * undo record is applied, as exit(2) would.
 */

static GMutex open_files_lock;
static GHashTable *open_files;	/* struct ipcfs_file * set */

struct ipcfs_file *ipcfs_file_hold(struct ipcfs_file *file)
{
	g_atomic_ref_count_inc(&file->refs);
	return file;
}

/* The kind's release, in the file's namespace (an undo record is applied there). */
static void release_in_ns(struct ipcfs_file *file)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;

	if (ns_scope_enter(&scope, file->ns) != 0)
		log_debug("release of a %s file: cannot enter its IPC namespace; releasing it where this thread is",
			  file->kind->name);
	file->kind->release(file);
}

void ipcfs_file_put(struct ipcfs_file *file)
{
	unsigned ns = file->ns;

	if (!g_atomic_ref_count_dec(&file->refs))
		return;
	g_mutex_lock(&open_files_lock);
	g_hash_table_remove(open_files, file);
	g_mutex_unlock(&open_files_lock);
	if (file->kind->release)
		release_in_ns(file);
	g_mutex_clear(&file->obj_lock);
	g_free(file);
	ns_put(ns, 1);	/* the open's hold on its namespace */
}

int ipcfs_file_id(struct ipcfs_file *file)
{
	int id;

	g_mutex_lock(&file->obj_lock);
	id = file->obj.id;
	g_mutex_unlock(&file->obj_lock);
	return id;
}

int ipcfs_object_recheck(const struct ipcfs_kind *kind, const struct ipc_obj *was,
			 struct ipc_obj *now)
{
	if (kind->stat(was->id, now) != 0)
		return reason(EIDRM, "%s id %d: the object is gone", kind->name, was->id);
	if (!ipc_obj_same(was, now))
		return reason(EIDRM, "%s id %d: the object is gone; its id names another object now (key 0x%08x, creator %u)",
			      kind->name, was->id, (unsigned)now->key, (unsigned)now->cuid);
	return 0;
}

int ipcfs_file_object(struct ipcfs_file *file, struct ipc_obj *obj)
{
	struct ipc_obj bound;

	g_mutex_lock(&file->obj_lock);
	bound = file->obj;
	g_mutex_unlock(&file->obj_lock);
	return ipcfs_object_recheck(file->kind, &bound, obj);
}

void ipcfs_file_rebind(struct ipcfs_file *file, const struct ipc_obj *obj)
{
	int old_id;

	g_mutex_lock(&file->obj_lock);
	old_id = file->obj.id;
	file->obj = *obj;
	g_mutex_unlock(&file->obj_lock);
	/* Every inode that named the old object names this one (successor.h). */
	successor_note(kind_index_of(file->kind), ns_ino(file->ns), old_id, obj->id);
}

void ipcfs_openers(const struct ipcfs_kind *kind, bool (*pick)(struct ipcfs_file *file, void *data),
		   void *data, GArray *pids)
{
	GHashTableIter iter;
	gpointer key;

	g_mutex_lock(&open_files_lock);
	/* A file leaves the table before its release runs: every one here is whole. */
	g_hash_table_iter_init(&iter, open_files);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		struct ipcfs_file *file = key;

		if (file->kind == kind && ns_ino(file->ns) == ns_current_ino() &&
		    file->opener_pid > 0 && pick(file, data))
			g_array_append_val(pids, file->opener_pid);
	}
	g_mutex_unlock(&open_files_lock);
}

/* Drop the open's reference: RELEASE, or an open the caller never saw. */
static void release_open(struct ipcfs_file *file)
{
	g_mutex_lock(&open_files_lock);
	file->released = true;
	g_mutex_unlock(&open_files_lock);
	ipcfs_file_put(file);
}

/* At teardown: release every file whose RELEASE never came. */
static void release_unreleased(void)
{
	g_autoptr(GPtrArray) pending = g_ptr_array_new();
	GHashTableIter iter;
	gpointer file;

	g_mutex_lock(&open_files_lock);
	g_hash_table_iter_init(&iter, open_files);
	while (g_hash_table_iter_next(&iter, &file, NULL))
		if (!((struct ipcfs_file *)file)->released)
			g_ptr_array_add(pending, file);
	g_mutex_unlock(&open_files_lock);
	if (pending->len)
		log_debug("exit: %u open files got no RELEASE; releasing them now", pending->len);
	for (guint i = 0; i < pending->len; i++)
		release_open(g_ptr_array_index(pending, i));
}

/* The file of a request, held for the callback: put it when the callback returns. */
static struct ipcfs_file *request_file(struct fuse_file_info *fi)
{
	return ipcfs_file_hold(file_of(fi));
}

static void ipcfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	struct stat st;
	int err;

	if (!decode_ino(ino, &node))
		return reply_err(req, -ENOENT);
	/* Anyone may stat /ns itself (`ls -l` of the root does); only entering it is for root. */
	err = node.type == NODE_NS_DIR ? 0 : enter_node(req, &node, &scope);
	if (err)
		return reply_err(req, err);
	/*
	 * The kernel sends the file handle with GETATTR only for lseek(SEEK_END),
	 * which FUSE otherwise never forwards: kinds with positions of their own
	 * (/chan) move to their end here.
	 */
	if (fi && node.type == NODE_OBJECT && node.kind->lseek) {
		struct ipcfs_file *file = request_file(fi);
		off_t moved = node.kind->lseek(file, 0, SEEK_END);

		ipcfs_file_put(file);

		if (moved < 0)
			return reply_err(req, (int)moved);
	}
	if (node.type != NODE_OBJECT) {
		node_dir_attr(&node, &st);
		fuse_reply_attr(req, &st, DIR_TIMEOUT);
		return;
	}
	err = node_object(&node, &obj);
	if (err)
		return reply_err(req, err);
	object_attr(node.kind, node.variant, &obj, &st);
	fuse_reply_attr(req, &st, ATTR_FRESH);
}

static void ipcfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	struct caller caller;
	struct stat st;
	int err;

	err = node_of(req, ino, &node, &scope, -ENOENT);
	if (err)
		return reply_err(req, err);
	if (node.type != NODE_OBJECT)
		return reply_err(req, -EPERM);
	/* Through an open file (ftruncate): that file's object, never a newer one with its id. */
	if (fi && node.kind->sysv) {
		struct ipcfs_file *file = request_file(fi);

		err = ipcfs_file_object(file, &obj);
		ipcfs_file_put(file);
	} else {
		err = node_object(&node, &obj);
	}
	if (err)
		return reply_err(req, err);

	caller_from_req(&caller, req);
	/* Check everything before changing anything. */
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07777 & ~0777u)) {
			err = reason(EINVAL, "chmod %s: mode %o has bits outside 0777",
				     node.kind->name, attr->st_mode & 07777);
			goto out;
		}
		if (!perm_may_control(&caller, &obj)) {
			err = reason(EPERM, "IPC_SET of %s id %d: uid %u is neither owner nor creator",
				     node.kind->name, obj.id, (unsigned)caller.uid);
			goto out;
		}
		if (!node.kind->set_owner) {
			err = reason(EPERM, "%s: mode and owner cannot change", node.kind->name);
			goto out;
		}
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!node.kind->truncate) {
			err = reason(EINVAL, "truncate %s: not supported", node.kind->name);
			goto out;
		}
		/* An open file was permission-checked at open, like ftruncate(2). */
		if (!fi && !perm_may_access(&caller, &obj, PERM_WRITE)) {
			err = reason(EACCES, "truncate %s id %d: no write permission",
				     node.kind->name, obj.id);
			goto out;
		}
	}

	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		mode_t mode = to_set & FUSE_SET_ATTR_MODE ? attr->st_mode & 0777 : obj.mode & 0777;
		uid_t uid = to_set & FUSE_SET_ATTR_UID ? attr->st_uid : obj.uid;
		gid_t gid = to_set & FUSE_SET_ATTR_GID ? attr->st_gid : obj.gid;

		err = node.kind->set_owner(&obj, mode, uid, gid);
		if (err)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct ipcfs_file *file = fi ? request_file(fi) : NULL;

		err = node.kind->truncate(&caller, &obj, attr->st_size, file);
		if (file)
			ipcfs_file_put(file);
		if (err)
			goto out;
	}
	/* Times belong to the kernel object: touch(1) must work, but changes nothing. */

	err = node.kind->stat(obj.id, &obj);
	if (err)
		goto out;
	object_attr(node.kind, node.variant, &obj, &st);
	fuse_reply_attr(req, &st, ATTR_FRESH);
	caller_clear(&caller);
	return;
out:
	caller_clear(&caller);
	reply_err(req, err);
}

/* ---- Directories ---- */

struct dir_handle {
	struct node dir;
	/*
	 * Taken at opendir: struct node (a tree's root), uint64_t namespace
	 * inodes (/ns) or struct ipc_obj (a kind's directory).
	 */
	GArray *entries;
	uid_t uid;			/* who opened it, for the bounds below */
};

/*
 * Each open directory holds a copy of its listing (up to the kernel's
 * limit of objects), so open directories are bounded, per uid and in all,
 * as open files are by RLIMIT_NOFILE: beyond, EMFILE and ENFILE.
 */
#define DIRS_PER_UID 64
#define DIRS_MAX 1024
static struct quota open_dirs;

static void free_dir_handle(struct dir_handle *dh)
{
	quota_give(&open_dirs, dh->uid);
	g_array_unref(dh->entries);
	ns_put(dh->dir.ns, 1);
	g_free(dh);
}

/* The directories in a tree's root: its kinds, and /ns in the served one. */
static GArray *tree_children(unsigned ns)
{
	GArray *children = g_array_new(FALSE, TRUE, sizeof(struct node));

	for (unsigned i = 0; i < NKINDS; i++) {
		struct node child = { .type = NODE_KIND_DIR, .ns = ns, .kind = kinds[i],
				      .kind_index = i };

		if (kind_in_tree(i, ns))
			g_array_append_val(children, child);
	}
	if (ns == NS_SERVED && ns_enabled()) {
		struct node child = { .type = NODE_NS_DIR };

		g_array_append_val(children, child);
	}
	return children;
}

static int list_dir(struct dir_handle *dh)
{
	switch (dh->dir.type) {
	case NODE_TREE_ROOT:
		dh->entries = tree_children(dh->dir.ns);
		return 0;
	case NODE_NS_DIR:
		dh->entries = g_array_new(FALSE, FALSE, sizeof(uint64_t));
		ns_list(dh->entries);
		return 0;
	default:
		dh->entries = g_array_new(FALSE, FALSE, sizeof(struct ipc_obj));
		return dh->dir.kind->list(dh->entries);
	}
}

static void ipcfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct dir_handle *dh;
	const char *refusal;
	int err;

	err = node_of(req, ino, &node, &scope, -ENOENT);
	if (err)
		return reply_err(req, err);
	if (node.type == NODE_OBJECT)
		return reply_err(req, -ENOTDIR);
	refusal = quota_take(&open_dirs, fuse_req_ctx(req)->uid);
	if (refusal)
		return reply_err(req, reason(quota_refused_in_all(refusal) ? ENFILE : EMFILE,
					     "opendir by uid %u: %d open directories are %s",
					     (unsigned)fuse_req_ctx(req)->uid,
					     quota_refused_in_all(refusal) ? DIRS_MAX : DIRS_PER_UID,
					     refusal));
	dh = g_new0(struct dir_handle, 1);
	dh->uid = fuse_req_ctx(req)->uid;
	dh->dir = node;
	ns_hold(node.ns);
	err = list_dir(dh);
	if (err) {
		free_dir_handle(dh);
		return reply_err(req, err);
	}
	fi->fh = (uintptr_t)dh;
	fi->cache_readdir = 0;
	/* -ENOENT: the caller was interrupted meanwhile; no RELEASEDIR will come. */
	if (fuse_reply_open(req, fi) == -ENOENT)
		free_dir_handle(dh);
}

/* The directory that holds dir. */
static struct node parent_of(const struct node *dir)
{
	struct node parent = { .type = NODE_TREE_ROOT, .ns = dir->ns };

	if (dir->type == NODE_TREE_ROOT && dir->ns != NS_SERVED)
		parent = (struct node){ .type = NODE_NS_DIR };
	else if (dir->type == NODE_NS_DIR)
		parent.ns = NS_SERVED;
	return parent;
}

/*
 * Entry i of a directory: 0 ".", 1 "..", then what opendir listed.  *nodeid
 * is what a readdirplus entry carries: 0 for none (".", "..", and the
 * namespaces, which a listing must not make the daemon hold).
 */
static bool dir_entry(struct dir_handle *dh, size_t i, char *name, size_t size, struct stat *st,
		      fuse_ino_t *nodeid, const struct ipc_obj **obj)
{
	*nodeid = 0;
	*obj = NULL;
	if (i < 2) {
		struct node parent = parent_of(&dh->dir);

		g_strlcpy(name, i == 0 ? "." : "..", size);
		node_dir_attr(i == 0 ? &dh->dir : &parent, st);
		return true;
	}
	i -= 2;
	if (i >= dh->entries->len)
		return false;
	switch (dh->dir.type) {
	case NODE_TREE_ROOT: {
		const struct node *child = &g_array_index(dh->entries, struct node, i);

		g_strlcpy(name, child->type == NODE_NS_DIR ? "ns" : child->kind->name, size);
		node_dir_attr(child, st);
		*nodeid = node_dir_ino(child);
		return true;
	}
	case NODE_NS_DIR: {
		uint64_t ino = g_array_index(dh->entries, uint64_t, i);

		g_snprintf(name, size, "%" PRIu64, ino);
		dir_attr(ino, 0500, st);
		return true;
	}
	default:
		*obj = &g_array_index(dh->entries, struct ipc_obj, i);
		dh->dir.kind->format_name(*obj, name, size);
		object_attr(dh->dir.kind, 0, *obj, st);
		*nodeid = st->st_ino;
		return true;
	}
}

static void readdir_common(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
			   bool plus)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	g_autofree char *buf = g_malloc(size);
	g_autoptr(GArray) counted = g_array_new(FALSE, FALSE, sizeof(fuse_ino_t));
	const struct ipcfs_kind *kind = dh->dir.type == NODE_KIND_DIR ? dh->dir.kind : NULL;
	size_t used = 0;
	char name[64];
	struct stat st;
	fuse_ino_t nodeid;
	const struct ipc_obj *obj;
	int err;

	err = ns_scope_enter(&scope, dh->dir.ns);
	if (err)
		return reply_err(req, err);
	for (size_t i = (size_t)off; dir_entry(dh, i, name, sizeof(name), &st, &nodeid, &obj); i++) {
		size_t len;

		if (plus) {
			struct fuse_entry_param e = { .attr = st };

			/* Only an entry that fits counts as a lookup. */
			len = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
			if (len > size - used)
				break;
			/*
			 * The object's own nodeid, not an alias: the same for every
			 * listing, so the kernel keeps its inode from one `ls` to the
			 * next.  Writers that wait do not open it (ipcfs_open()).
			 */
			if (nodeid) {
				remember_name(dh->dir.ns, node_dir_ino(&dh->dir), name);
				e = entry_param(lookup_ino(NULL, nodeid, req), &st);
				g_array_append_val(counted, e.ino);
			}
			/* The stat(2) that follows a listing uses what it carried (listed.h). */
			if (obj && listed_timeout() > 0) {
				e.entry_timeout = e.attr_timeout = listed_timeout();
				listed_add(node_dir_ino(&dh->dir), dh->dir.ns, kind, name, e.ino, obj);
			}
			fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)i + 1);
		} else {
			len = fuse_add_direntry(req, buf + used, size - used, name, &st,
						(off_t)i + 1);
		}
		if (len > size - used)
			break;
		used += len;
	}
	/* Entries the kernel never got are no lookups. */
	if (fuse_reply_buf(req, buf, used) != 0)
		for (guint i = 0; i < counted->len; i++)
			forget_ino(g_array_index(counted, fuse_ino_t, i), 1);
}

static void ipcfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, false);
}

static void ipcfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, true);
}

static void ipcfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	free_dir_handle(dh);
	fuse_reply_err(req, 0);
}

/* ---- Files ---- */

static int access_wanted(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		return PERM_READ;
	case O_WRONLY:
		return PERM_WRITE;
	default:
		return PERM_READ | PERM_WRITE;
	}
}

/* Permission check and kind open; on success fi->fh is the new ipcfs_file. */
static int open_object(fuse_req_t req, struct caller *caller, const struct ipcfs_kind *kind, unsigned variant,
		       const struct ipc_obj *obj, struct fuse_file_info *fi, bool created)
{
	struct ipcfs_file *file;
	int err;

	if (!created && !perm_may_access(caller, obj, access_wanted(fi->flags)))
		return reason(EACCES, "open %s id %d: mode %03o denies uid %u", kind->name, obj->id,
			      obj->mode & 0777, (unsigned)caller->uid);
	file = g_new0(struct ipcfs_file, 1);
	file->kind = kind;
	g_atomic_ref_count_init(&file->refs);	/* the open's reference */
	g_mutex_init(&file->obj_lock);
	file->obj = *obj;
	file->variant = variant;
	file->flags = fi->flags;
	file->created = created;
	file->opener = caller->uid;
	file->opener_pid = caller->pid;
	file->ns = ns_current();
	/* Every read and write reaches the daemon: no page cache can go stale. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	err = kind->open ? kind->open(req, file, fi) : 0;
	if (err) {
		g_mutex_clear(&file->obj_lock);
		g_free(file);
		return err;
	}
	fi->fh = (uintptr_t)file;
	ns_hold(file->ns);	/* until the file is freed (ipcfs_file_put) */
	g_mutex_lock(&open_files_lock);
	g_hash_table_add(open_files, file);
	g_mutex_unlock(&open_files_lock);
	return 0;
}

static void ipcfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	struct caller caller;
	int err;

	err = node_of(req, ino, &node, &scope, -ENOENT);
	if (err)
		return reply_err(req, err);
	if (node.type != NODE_OBJECT)
		return reply_err(req, -EISDIR);
	/*
	 * Writers that wait need an inode of their own: a listing's nodeid
	 * (which the kernel caches), or an alias made for another thread, is
	 * refused with ESTALE, after which the kernel looks the path up again
	 * (LOOKUP_REVAL) and opens the caller's own alias.
	 */
	if (node.kind->writes_wait && (fi->flags & O_ACCMODE) != O_RDONLY &&
	    node.owner != fuse_req_ctx(req)->pid)
		return reply_err(req, reason(ESTALE, "open %s for writing: nodeid %#" PRIx64 " is another thread's; looking up again",
					     node.kind->name, (uint64_t)ino));
	node.follow = false;	/* see node_object() */
	err = node_object(&node, &obj);
	if (err)
		return reply_err(req, err);
	caller_from_req(&caller, req);
	err = open_object(req, &caller, node.kind, node.variant, &obj, fi, false);
	caller_clear(&caller);
	if (err)
		return reply_err(req, err);
	/* -ENOENT: the caller was interrupted meanwhile and will never see the file. */
	if (fuse_reply_open(req, fi) == -ENOENT)
		release_open(file_of(fi));
}

/*
 * The object a new name under a kind directory stands for, made if it does
 * not exist (open(O_CREAT), mknod): 0 with obj and variant, or -errno
 * (logged).  exclusive: an existing object is EEXIST.  *created says whether
 * this call made it.  With dir's namespace entered.
 */
static int make_object(const struct node *dir, struct caller *caller, const char *name,
		       mode_t mode, bool exclusive, struct ipc_obj *obj, unsigned *variant,
		       bool *created)
{
	int err;

	*created = false;
	if (dir->type == NODE_OBJECT)
		return -ENOTDIR;
	if (dir->type != NODE_KIND_DIR)
		return -EPERM;
	err = dir->kind->lookup(dir->kind, name, caller->uid, obj, variant);
	if (err == 0 && exclusive)
		return reason(EEXIST, "create %s/%s: exists, and O_EXCL or mknod says it must not",
			      dir->kind->name, name);
	if (err != -ENOENT && err != -EINVAL)
		return err;
	if (!dir->kind->create)
		return reason(EPERM, "create %s/%s: this kind has a fixed set of files", dir->kind->name,
			      name);
	err = dir->kind->create(dir->kind, caller, name, mode, obj, variant);
	*created = err == 0;
	return err;
}

/*
 * open(O_CREAT) (fi) and mknod (fi NULL): the object a new name stands for,
 * made if it is not there, opened for fi; 0 with the entry in *e (its lookup
 * counted), or -errno.
 */
static int create_entry(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			bool exclusive, struct fuse_file_info *fi, struct fuse_entry_param *e)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node dir;
	struct ipc_obj obj;
	struct caller caller;
	struct stat st;
	unsigned variant = 0;
	bool created;
	int err;

	err = node_of(req, parent, &dir, &scope, -ENOTDIR);
	if (err)
		return err;
	caller_from_req(&caller, req);
	err = make_object(&dir, &caller, name, mode, exclusive, &obj, &variant, &created);
	if (!err && fi)
		err = open_object(req, &caller, dir.kind, variant, &obj, fi, created);
	caller_clear(&caller);
	if (!err) {
		object_attr(dir.kind, variant, &obj, &st);
		remember_name(dir.ns, parent, name);
		*e = entry_param(lookup_ino(dir.kind, st.st_ino, req), &st);
	}
	if (dir.type == NODE_KIND_DIR)
		drop_variant(dir.kind, variant);
	return err;
}

static void ipcfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int err = create_entry(req, parent, name, mode, fi->flags & O_EXCL, fi, &e);

	if (err)
		return reply_err(req, err);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		forget_ino(e.ino, 1);
		release_open(file_of(fi));
	}
}

/*
 * mknod of a regular file is a create without an open (GNU tar --xattrs
 * extracts files so, to set their attributes first); other types are no
 * IPC object.
 */
static void ipcfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			dev_t rdev)
{
	struct fuse_entry_param e;
	int err;

	(void)rdev;
	if (!S_ISREG(mode))
		return reply_err(req, reason(EPERM, "mknod %s: only regular files are IPC objects", name));
	err = create_entry(req, parent, name, mode & 07777, true, NULL, &e);
	if (err)
		return reply_err(req, err);
	if (fuse_reply_entry(req, &e) != 0)
		forget_ino(e.ino, 1);
}


static void ipcfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct ipcfs_file *file = request_file(fi);
	int err = ns_scope_enter(&scope, file->ns);

	(void)ino;
	/* The kernel sends the file's flags as they are now, with every read and write. */
	if (err)
		reply_err(req, err);
	else
		file->kind->read(req, file, size, off, fi->flags & O_NONBLOCK);
	ipcfs_file_put(file);
}

static void ipcfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct ipcfs_file *file = request_file(fi);
	int err = ns_scope_enter(&scope, file->ns);

	(void)ino;
	if (err)
		reply_err(req, err);
	else
		file->kind->write(req, file, buf, size, off, fi->flags & O_NONBLOCK);
	ipcfs_file_put(file);
}

static void ipcfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct ipcfs_file *file;

	(void)ino;
	if (!file_of(fi)->kind->flush) {
		fuse_reply_err(req, 0);
		return;
	}
	file = request_file(fi);
	if (ns_scope_enter(&scope, file->ns) == 0)
		file->kind->flush(req, file);
	else
		fuse_reply_err(req, EIO);
	ipcfs_file_put(file);
}

static void ipcfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	/* Writes went straight to the kernel object: there is nothing to sync. */
	fuse_reply_err(req, 0);
}

static void ipcfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	/* Frees now, or when the last request still using the file has replied. */
	release_open(file_of(fi));
	fuse_reply_err(req, 0);
}

static void ipcfs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		       struct fuse_pollhandle *ph)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct ipcfs_file *file;
	int err;

	(void)ino;
	if (!file_of(fi)->kind->poll) {
		/* Like a regular file: always ready. */
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
		return;
	}
	file = request_file(fi);
	file->poll_events = fi->poll_events;
	err = ns_scope_enter(&scope, file->ns);
	if (err) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		reply_err(req, err);
	} else {
		file->kind->poll(req, file, ph);
	}
	ipcfs_file_put(file);
}

/* SEEK_DATA and SEEK_HOLE of a file whose data_size bytes are all data: as ext4 or tmpfs answer. */
static off_t seek_in_data(struct ipcfs_file *file, off_t off, int whence)
{
	int64_t size = file->kind->data_size(file);

	if (size < 0)
		return (off_t)size;
	if (off < 0 || off >= size)
		return reason(ENXIO, "lseek %s to %lld: at or past the end (%lld bytes)",
			      whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE", (long long)off,
			      (long long)size);
	return whence == SEEK_DATA ? off : (off_t)size;
}

static void ipcfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct ipcfs_file *file = request_file(fi);
	off_t result = ns_scope_enter(&scope, file->ns);

	(void)ino;
	if (result)
		;
	else if ((whence == SEEK_DATA || whence == SEEK_HOLE) && file->kind->data_size)
		result = seek_in_data(file, off, whence);
	else if (whence != SEEK_DATA && whence != SEEK_HOLE && file->kind->lseek)
		result = file->kind->lseek(file, off, whence);
	else
		result = reason(ESPIPE, "lseek of a %s file: a stream, with no data or holes to seek",
				file->kind->name);
	ipcfs_file_put(file);
	if (result < 0)
		return reply_err(req, (int)result);
	fuse_reply_lseek(req, result);
}

/* ---- Names that change ---- */

static void ipcfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node dir;
	struct ipc_obj obj;
	struct caller caller;
	unsigned variant;
	int err;

	err = node_of(req, parent, &dir, &scope, -EPERM);
	if (err)
		return reply_err(req, err);
	if (dir.type != NODE_KIND_DIR)
		return reply_err(req, -EPERM);
	err = dir.kind->lookup(dir.kind, name, fuse_req_ctx(req)->uid, &obj, &variant);
	if (err)
		return reply_err(req, err == -EINVAL ? -ENOENT : err);
	drop_variant(dir.kind, variant);	/* the object is what goes, whatever view named it */
	if (!dir.kind->remove)
		return reply_err(req, reason(EPERM, "rm %s/%s: cannot be removed", dir.kind->name,
					     name));
	caller_from_req(&caller, req);
	if (!perm_may_control(&caller, &obj))
		err = reason(EPERM, "IPC_RMID of %s id %d: uid %u is neither owner nor creator",
			     dir.kind->name, obj.id, (unsigned)caller.uid);
	else
		err = dir.kind->remove(&obj);
	caller_clear(&caller);
	reply_err(req, err);
}

static void refuse_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)mode;
	reply_err(req, reason(EPERM, "mkdir %s: the tree is fixed", name));
}

static void refuse_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	reply_err(req, reason(EPERM, "rmdir %s: the tree is fixed", name));
}

static void refuse_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent;
	reply_err(req, reason(EPERM, "symlink %s: IPC objects have no links", name));
}

static void refuse_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent; (void)newparent; (void)flags;
	reply_err(req, reason(EPERM, "rename %s to %s: a key cannot change", name, newname));
}

static void refuse_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent;
	reply_err(req, reason(EPERM, "link %s: IPC objects have no links", newname));
}

/* ---- Extended attributes ---- */

/* The field name after the kind's prefix, or NULL if name is not ours. */
static const char *xattr_field_name(const struct ipcfs_kind *kind, const char *name)
{
	size_t len = strlen(kind->xattr_prefix);

	return strncmp(name, kind->xattr_prefix, len) == 0 ? name + len : NULL;
}

static const struct xattr_field *find_xattr(const struct ipcfs_kind *kind, const char *field)
{
	const struct xattr_field *f = NULL;

	if (kind->sysv)
		f = attr_find_field(attr_common_fields, field);
	return f ? f : attr_find_field(kind->xattrs, field);
}

static void reply_xattr_value(fuse_req_t req, size_t size, const GString *value)
{
	if (size == 0)
		fuse_reply_xattr(req, value->len);
	else if (value->len > size)
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, value->str, value->len);
}

/* user.ns.* of /ns/<ino>. */
static void namespace_getxattr(fuse_req_t req, const struct node *node, const char *name,
			       size_t size)
{
	g_autoptr(GString) value = g_string_new(NULL);
	struct caller caller;
	int err;

	caller_from_req(&caller, req);
	err = ns_format_xattr(&caller, node->ns, name, value);
	caller_clear(&caller);
	if (err)
		return reply_err(req, err);
	reply_xattr_value(req, size, value);
}

static void ipcfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	const struct xattr_field *field;
	const char *field_name;
	g_autoptr(GString) value = NULL;
	struct caller caller;
	int err;

	/*
	 * Only user.* exists here.  Other namespaces (security.*, ACLs) get
	 * EOPNOTSUPP, as on a filesystem without them: ls(1) and getfattr then stop
	 * asking for the rest of the mount, which keeps `ls -l` at one request a file.
	 */
	if (!g_str_has_prefix(name, "user."))
		return reply_err(req, -EOPNOTSUPP);
	err = node_of(req, ino, &node, &scope, -ENODATA);
	if (err)
		return reply_err(req, err);
	if (node.type == NODE_TREE_ROOT && node.ns != NS_SERVED)
		return namespace_getxattr(req, &node, name, size);
	if (node.type != NODE_OBJECT)
		return reply_err(req, -ENODATA);
	field_name = xattr_field_name(node.kind, name);
	field = field_name ? find_xattr(node.kind, field_name) : NULL;
	if (!field)
		return reply_err(req, -ENODATA);
	err = node_object(&node, &obj);
	if (err)
		return reply_err(req, err);
	caller_from_req(&caller, req);
	if (field->perm && !perm_may_access(&caller, &obj, field->perm)) {
		caller_clear(&caller);
		return reply_err(req, reason(EACCES, "getxattr %s of %s id %d: no read permission",
					     name, node.kind->name, obj.id));
	}
	value = g_string_new(NULL);
	err = field->format_for ? field->format_for(&caller, &obj, value) : field->format(&obj, value);
	if (!err && field->pids)
		attr_pids_as_seen_by(&caller, value);
	caller_clear(&caller);
	if (err)
		return reply_err(req, err);
	reply_xattr_value(req, size, value);
}

static void append_names(GString *list, const char *prefix, const struct xattr_field *fields)
{
	for (; fields && fields->name; fields++) {
		g_string_append(list, prefix);
		g_string_append(list, fields->name);
		g_string_append_c(list, '\0');
	}
}

static void ipcfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	g_autoptr(GString) list = g_string_new(NULL);
	int err;

	err = node_of(req, ino, &node, &scope, -ENOENT);
	if (err)
		return reply_err(req, err);
	if (node.type == NODE_TREE_ROOT && node.ns != NS_SERVED)
		ns_xattr_names(list);
	if (node.type == NODE_OBJECT) {
		err = node_object(&node, &obj);
		if (err)
			return reply_err(req, err);
		if (node.kind->sysv)
			append_names(list, node.kind->xattr_prefix, attr_common_fields);
		append_names(list, node.kind->xattr_prefix, node.kind->xattrs);
	}
	reply_xattr_value(req, size, list);
}

static void ipcfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	struct caller caller;
	const char *field;
	int err;

	(void)flags;
	err = node_of(req, ino, &node, &scope, -ENOENT);
	if (err)
		return reply_err(req, err);
	if (node.type != NODE_OBJECT)
		return reply_err(req, reason(ENOTSUP, "setxattr %s: directories have none", name));
	field = xattr_field_name(node.kind, name);
	if (!field || !find_xattr(node.kind, field))
		return reply_err(req, reason(ENOTSUP, "setxattr %s: not an ipcfs attribute", name));
	if (!node.kind->setxattr)
		return reply_err(req, reason(EPERM, "setxattr %s: read-only", name));
	err = node_object(&node, &obj);
	if (err)
		return reply_err(req, err);
	caller_from_req(&caller, req);
	err = node.kind->setxattr(&caller, &obj, field, value, size);
	caller_clear(&caller);
	reply_err(req, err);
}

static void ipcfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	reply_err(req, reason(EPERM, "removexattr %s: attributes of IPC objects are fixed", name));
}

static void ipcfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_ino(ino, nlookup);
	fuse_reply_none(req);
}

static void ipcfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_ino(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Say in the debug log how requests will arrive: -o io_uring is asked for, never forced. */
static void log_transport(struct fuse_conn_info *conn)
{
	g_autofree char *param = NULL;

	if (!ipcfs_options.io_uring)
		return;
#if HAVE_FUSE_IO_URING
	if (conn->capable_ext & FUSE_CAP_OVER_IO_URING) {
		unsigned major = 0, minor = 0, micro = 0;
		int nice;

		log_debug("io_uring: the kernel offers FUSE over io_uring; libfuse starts its rings after INIT (if it was built with liburing, it logs \"starting io-uring\"); FORGET, INTERRUPT and notifications still use /dev/fuse");
		sscanf(fuse_pkgversion(), "%u.%u.%u", &major, &minor, &micro);
		if (major == 3 && (minor < 18 || (minor == 18 && micro <= 3)))
			log_debug("io_uring: libfuse %s can lose a reply sent from a thread other than the ring's (libfuse issue #1443, fixed after 3.18.3), every wait is answered from a waiter thread, and a lost reply can stall every request of that CPU's ring for good",
				  fuse_pkgversion());
		/* docs/design.md, "Threading": at equal nice a ring thread seldom preempts its caller. */
		nice = getpriority(PRIO_PROCESS, 0);
		if (nice >= 0)
			log_debug("io_uring: the daemon runs at nice %d, where a caller is often woken on another CPU than its ring's; -o nice=-3 keeps a request on one (ipcfs(8))",
				  nice);
		return;
	}
	if (!g_file_get_contents("/sys/module/fuse/parameters/enable_uring", &param, NULL, NULL))
		log_debug("io_uring: this kernel has no FUSE over io_uring: requests come through /dev/fuse");
	else
		log_debug("io_uring: the kernel's FUSE over io_uring is off (/sys/module/fuse/parameters/enable_uring is %s; root may write 1 there): requests come through /dev/fuse",
			  g_strstrip(param));
#else
	(void)conn;
	(void)param;
	log_debug("io_uring: this libfuse (%s) has no FUSE over io_uring (3.18 has): requests come through /dev/fuse",
		  fuse_pkgversion());
#endif
}

static void ipcfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* open(O_TRUNC) arrives as a flag: `echo x > sem/...` must not reset anything. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* ls -l gets names and attributes in one request, and never asks again. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* Permissions are ours to decide, with SysV rules. */
	conn->want &= ~(unsigned)FUSE_CAP_POSIX_ACL;
	/*
	 * No asynchronous direct I/O: it turns each io_submit(2) write into a
	 * background request, and a few that wait (a semop, a full queue) fill
	 * max_background, after which every RELEASE of every user queues
	 * behind them.  Without it, io_submit waits in its caller, like write(2).
	 */
	conn->want &= ~(unsigned)FUSE_CAP_ASYNC_DIO;
	log_transport(conn);
	for (unsigned i = 0; i < NKINDS; i++)
		if (kinds[i]->init)
			kinds[i]->init(conn);
}

/*
 * The daemon lets go of index ns (ns.h): the kinds drop what they keep in its
 * namespace, unless that is the served one, which index 0 holds for good.
 */
static void let_go_ns(unsigned ns)
{
	forget_names(ns);
	if (ns_ino(ns) == ns_ino(NS_SERVED))
		return;
	for (unsigned i = 0; i < NKINDS; i++)
		if (kinds[i]->let_go_ns)
			kinds[i]->let_go_ns(ns_ino(ns));
	successor_forget_ns(ns_ino(ns));
}

/* Drop "<parent nodeid>/<name>" from the kernel's cache: false if it may still be there. */
static bool drop_cached_name(const char *remembered_name)
{
	char *name;
	fuse_ino_t parent = g_ascii_strtoull(remembered_name, &name, 10);
	int err = fuse_lowlevel_notify_inval_entry(ipcfs_session, parent, name + 1, strlen(name + 1));

	/* 0: unhashed, it goes with its last use; -ENOENT: gone already. */
	if (err && err != -ENOENT)
		log_debug("ns: cannot drop %s from the kernel's cache: %s", remembered_name, strerror(-err));
	return err == 0 || err == -ENOENT;
}

/*
 * The last process of namespace ns is gone (ns.h): tell the kernel to drop
 * every name it may hold under /ns/<ino>, so that, once each is unused, it
 * forgets their nodeids and the daemon lets go of the namespace.  A name
 * looked up later (relative to a directory still in use) is dropped when
 * ns.c asks again.
 */
static void vanish_ns(unsigned ns)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer name;

	g_mutex_lock(&remembered_lock);
	if (remembered[ns]) {
		g_hash_table_iter_init(&iter, remembered[ns]);
		while (g_hash_table_iter_next(&iter, &name, NULL))
			g_ptr_array_add(names, g_strdup(name));
	}
	g_mutex_unlock(&remembered_lock);
	for (guint i = 0; i < names->len; i++) {
		if (!drop_cached_name(g_ptr_array_index(names, i)))
			continue;
		g_mutex_lock(&remembered_lock);
		if (remembered[ns])
			g_hash_table_remove(remembered[ns], g_ptr_array_index(names, i));
		g_mutex_unlock(&remembered_lock);
	}
}

int fs_setup(void)
{
	ns_on_let_go(let_go_ns);
	ns_on_vanish(vanish_ns);
	aliases = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
	open_files = g_hash_table_new(g_direct_hash, g_direct_equal);
	quota_init(&open_dirs, DIRS_MAX, DIRS_PER_UID);
	alias_by_caller = g_hash_table_new(caller_key_hash, caller_key_equal);
	for (unsigned i = 0; i < NKINDS; i++) {
		int err = kinds[i]->setup ? kinds[i]->setup() : 0;

		if (err)
			return err;
	}
	return 0;
}

void fs_teardown(void)
{
	/* The table stays: a waiter still blocked in the kernel may hold a file as we exit. */
	if (open_files)
		release_unreleased();
	g_clear_pointer(&alias_by_caller, g_hash_table_unref);
	quota_clear(&open_dirs);
	g_clear_pointer(&aliases, g_hash_table_unref);
	for (unsigned i = 0; i < NKINDS; i++)
		if (kinds[i]->teardown)
			kinds[i]->teardown();
}

static void ipcfs_destroy(void *userdata)
{
	(void)userdata;
}

const struct fuse_lowlevel_ops ipcfs_ops = {
	.init = ipcfs_init,
	.destroy = ipcfs_destroy,
	.lookup = ipcfs_lookup,
	.forget = ipcfs_forget,
	.forget_multi = ipcfs_forget_multi,
	.getattr = ipcfs_getattr,
	.setattr = ipcfs_setattr,
	.mknod = ipcfs_mknod,
	.mkdir = refuse_mkdir,
	.unlink = ipcfs_unlink,
	.rmdir = refuse_rmdir,
	.symlink = refuse_symlink,
	.rename = refuse_rename,
	.link = refuse_link,
	.open = ipcfs_open,
	.create = ipcfs_create,
	.read = ipcfs_read,
	.write = ipcfs_write,
	.flush = ipcfs_flush,
	.fsync = ipcfs_fsync,
	.release = ipcfs_release,
	.opendir = ipcfs_opendir,
	.readdir = ipcfs_readdir,
	.readdirplus = ipcfs_readdirplus,
	.releasedir = ipcfs_releasedir,
	.getxattr = ipcfs_getxattr,
	.listxattr = ipcfs_listxattr,
	.setxattr = ipcfs_setxattr,
	.removexattr = ipcfs_removexattr,
	.poll = ipcfs_poll,
	.lseek = ipcfs_lseek,
};
