// SPDX-License-Identifier: GPL-2.0-only
/*
 * The tree and the dispatch of FUSE requests to the kinds.
 *
 *   /            nodeid 1
 *   /<kind>      nodeid 2 + kind index
 *   /<kind>/<x>  nodeid (kind index + 1) << 56 | variant << 32 | (uint32_t)id
 *
 * Object nodeids are computed, not allocated, so the daemon keeps no table of
 * them: an id names one object for its whole life (the kernel puts a sequence
 * number in every id), and the same object always gets the same inode.  The
 * one exception, alias nodeids for writers that wait, is explained below.
 *
 * Timeouts.  Object names have an entry timeout of 0: every path walk asks
 * again, so names are always live.  Object attributes are valid for one clock
 * tick (ATTR_FRESH): long enough that the stat(2) whose path walk fetched them
 * uses them instead of asking a second time, too short to outlive it.  The
 * root and the kind directories never change, so they are cached for good.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "quota.h"

#define ROOT_INO FUSE_ROOT_ID
#define KIND_SHIFT 56
#define VARIANT_SHIFT 32
#define VARIANT_MASK 0xffffffu

static const struct ipcfs_kind *const kinds[] = { &kind_shm, &kind_sem, &kind_msg, &kind_chan };
#define NKINDS G_N_ELEMENTS(kinds)

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
 * forgets them.
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

struct node {
	const struct ipcfs_kind *kind;	/* NULL for the root */
	bool is_dir;
	unsigned variant;
	int id;
};

static fuse_ino_t kind_dir_ino(unsigned index)
{
	return ROOT_INO + 1 + index;
}

static fuse_ino_t object_ino(const struct ipcfs_kind *kind, unsigned variant, int id)
{
	for (unsigned i = 0; i < NKINDS; i++)
		if (kinds[i] == kind)
			return ((fuse_ino_t)(i + 1) << KIND_SHIFT) |
			       ((fuse_ino_t)(variant & VARIANT_MASK) << VARIANT_SHIFT) | (uint32_t)id;
	g_assert_not_reached();
}

static unsigned ino_variant(fuse_ino_t ino)
{
	return (unsigned)(ino >> VARIANT_SHIFT) & VARIANT_MASK;
}

static const struct ipcfs_kind *ino_kind(fuse_ino_t ino)
{
	unsigned kind_index = (unsigned)(ino >> KIND_SHIFT);

	return kind_index >= 1 && kind_index <= NKINDS ? kinds[kind_index - 1] : NULL;
}

/* Drop the reference to a variant that a kind's lookup or create gave. */
static void drop_variant(const struct ipcfs_kind *kind, unsigned variant)
{
	if (variant)
		kind->drop_variant(variant);
}

static fuse_ino_t base_ino(fuse_ino_t ino)
{
	struct alias *a;

	if (!(ino & ALIAS_BIT))
		return ino;
	g_mutex_lock(&alias_lock);
	a = g_hash_table_lookup(aliases, &ino);
	ino = a ? a->base : 0;
	g_mutex_unlock(&alias_lock);
	return ino;
}

/* The nodeid a lookup (or readdirplus entry) of this object replies with; counts one lookup. */
static fuse_ino_t lookup_ino(const struct ipcfs_kind *kind, fuse_ino_t base, fuse_req_t req)
{
	struct alias key = { .base = base, .tid = fuse_req_ctx(req)->pid }, *a;
	fuse_ino_t ino;

	if (!kind->writes_wait)
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

	if (!(ino & ALIAS_BIT))
		return;	/* object nodeids are computed: nothing to forget */
	g_mutex_lock(&alias_lock);
	a = g_hash_table_lookup(aliases, &ino);
	if (a && (a->nlookup -= MIN(nlookup, a->nlookup)) == 0) {
		fuse_ino_t base = a->base;

		g_hash_table_remove(alias_by_caller, a);
		g_hash_table_remove(aliases, &ino);	/* frees a */
		if (ino_variant(base))
			drop_variant(ino_kind(base), ino_variant(base));
	}
	g_mutex_unlock(&alias_lock);
}

static bool decode_ino(fuse_ino_t ino, struct node *node)
{
	memset(node, 0, sizeof(*node));
	ino = base_ino(ino);
	if (ino == ROOT_INO) {
		node->is_dir = true;
		return true;
	}
	if (ino > ROOT_INO && ino <= ROOT_INO + NKINDS) {
		node->kind = kinds[ino - ROOT_INO - 1];
		node->is_dir = true;
		return true;
	}
	node->kind = ino_kind(ino);
	if (!node->kind)
		return false;
	node->variant = ino_variant(ino);
	node->id = (int)(uint32_t)ino;
	return true;
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

static void kind_dir_attr(unsigned index, struct stat *st)
{
	dir_attr(kind_dir_ino(index), kinds[index]->dir_mode, st);
}

static void object_attr(const struct ipcfs_kind *kind, unsigned variant,
			const struct ipc_obj *obj, struct stat *st)
{
	attr_fill(obj, object_ino(kind, variant, obj->id), st);
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
	e.entry_timeout = dir ? DIR_TIMEOUT : 0;
	return e;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino, const struct stat *st)
{
	struct fuse_entry_param e = entry_param(ino, st);

	fuse_reply_entry(req, &e);
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
static int node_object(const struct node *node, struct ipc_obj *obj)
{
	if (!node->kind || node->is_dir)
		return -EISDIR;
	return node->kind->stat(node->id, obj);
}

static void ipcfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node dir;
	struct ipc_obj obj;
	unsigned variant = 0;
	struct stat st;
	int err;

	if (!decode_ino(parent, &dir) || !dir.is_dir)
		return reply_err(req, -ENOTDIR);
	if (!dir.kind) {
		for (unsigned i = 0; i < NKINDS; i++) {
			if (strcmp(name, kinds[i]->name) == 0) {
				kind_dir_attr(i, &st);
				return reply_entry(req, st.st_ino, &st);
			}
		}
		return reply_err(req, -ENOENT);
	}
	err = dir.kind->lookup(dir.kind, name, &obj, &variant);
	if (err)
		return reply_err(req, err == -EINVAL ? -ENOENT : err);
	object_attr(dir.kind, variant, &obj, &st);
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

void ipcfs_file_put(struct ipcfs_file *file)
{
	if (!g_atomic_ref_count_dec(&file->refs))
		return;
	g_mutex_lock(&open_files_lock);
	g_hash_table_remove(open_files, file);
	g_mutex_unlock(&open_files_lock);
	if (file->kind->release)
		file->kind->release(file);
	g_mutex_clear(&file->obj_lock);
	g_free(file);
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
	g_mutex_lock(&file->obj_lock);
	file->obj = *obj;
	g_mutex_unlock(&file->obj_lock);
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

		if (file->kind == kind && file->opener_pid > 0 && pick(file, data))
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
	struct node node;
	struct ipc_obj obj;
	struct stat st;
	int err;

	if (!decode_ino(ino, &node))
		return reply_err(req, -ENOENT);
	/*
	 * The kernel sends the file handle with GETATTR only for lseek(SEEK_END),
	 * which FUSE otherwise never forwards: kinds with positions of their own
	 * (/chan) move to their end here.
	 */
	if (fi && !node.is_dir && node.kind->lseek) {
		struct ipcfs_file *file = request_file(fi);
		off_t moved = node.kind->lseek(file, 0, SEEK_END);

		ipcfs_file_put(file);

		if (moved < 0)
			return reply_err(req, (int)moved);
	}
	if (node.is_dir) {
		if (node.kind)
			kind_dir_attr((unsigned)(ino - ROOT_INO - 1), &st);
		else
			dir_attr(ROOT_INO, 0755, &st);
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
	struct node node;
	struct ipc_obj obj;
	struct caller caller;
	struct stat st;
	int err;

	if (!decode_ino(ino, &node))
		return reply_err(req, -ENOENT);
	if (node.is_dir)
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
	const struct ipcfs_kind *kind;	/* NULL for the root */
	GArray *objs;			/* the listing, taken at opendir */
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
	g_array_unref(dh->objs);
	g_free(dh);
}

static void ipcfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node node;
	struct dir_handle *dh;
	const char *refusal;
	int err;

	if (!decode_ino(ino, &node))
		return reply_err(req, -ENOENT);
	if (!node.is_dir)
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
	dh->kind = node.kind;
	dh->objs = g_array_new(FALSE, FALSE, sizeof(struct ipc_obj));
	if (node.kind) {
		err = node.kind->list(dh->objs);
		if (err) {
			free_dir_handle(dh);
			return reply_err(req, err);
		}
	}
	fi->fh = (uintptr_t)dh;
	fi->cache_readdir = 0;
	/* -ENOENT: the caller was interrupted meanwhile; no RELEASEDIR will come. */
	if (fuse_reply_open(req, fi) == -ENOENT)
		free_dir_handle(dh);
}

/* Entry i of a directory: 0 ".", 1 "..", then the kinds or the objects. */
static bool dir_entry(struct dir_handle *dh, fuse_ino_t ino, size_t i, char *name, size_t size,
		      struct stat *st)
{
	if (i < 2) {
		g_strlcpy(name, i == 0 ? "." : "..", size);
		dir_attr(i == 0 ? ino : ROOT_INO, 0755, st);
		return true;
	}
	i -= 2;
	if (!dh->kind) {
		if (i >= NKINDS)
			return false;
		g_strlcpy(name, kinds[i]->name, size);
		kind_dir_attr((unsigned)i, st);
		return true;
	}
	if (i >= dh->objs->len)
		return false;
	const struct ipc_obj *obj = &g_array_index(dh->objs, struct ipc_obj, i);

	dh->kind->format_name(obj, name, size);
	object_attr(dh->kind, 0, obj, st);
	return true;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	g_autofree char *buf = g_malloc(size);
	size_t used = 0;
	char name[64];
	struct stat st;

	for (size_t i = (size_t)off; dir_entry(dh, ino, i, name, sizeof(name), &st); i++) {
		size_t len;

		if (plus) {
			struct fuse_entry_param e = { .attr = st };

			/* Only an entry that fits counts as a lookup. */
			len = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
			if (len > size - used)
				break;
			/* "." and ".." carry no entry (ino 0): the kernel only wants their names. */
			if (i >= 2)
				e = entry_param(dh->kind ? lookup_ino(dh->kind, st.st_ino, req) : st.st_ino,
						&st);
			fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)i + 1);
		} else {
			len = fuse_add_direntry(req, buf + used, size - used, name, &st,
						(off_t)i + 1);
		}
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
}

static void ipcfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void ipcfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
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
	file->opener = caller->uid;
	file->opener_pid = caller->pid;
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
	g_mutex_lock(&open_files_lock);
	g_hash_table_add(open_files, file);
	g_mutex_unlock(&open_files_lock);
	return 0;
}

static void ipcfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node node;
	struct ipc_obj obj;
	struct caller caller;
	int err;

	if (!decode_ino(ino, &node))
		return reply_err(req, -ENOENT);
	if (node.is_dir)
		return reply_err(req, -EISDIR);
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

static void ipcfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct node dir;
	struct ipc_obj obj;
	struct caller caller;
	struct stat st;
	struct fuse_entry_param e;
	unsigned variant = 0;
	bool created = false;
	int err;

	if (!decode_ino(parent, &dir) || !dir.is_dir)
		return reply_err(req, -ENOTDIR);
	if (!dir.kind)
		return reply_err(req, -EPERM);
	caller_from_req(&caller, req);
	err = dir.kind->lookup(dir.kind, name, &obj, &variant);
	if (err == 0 && (fi->flags & O_EXCL)) {
		err = reason(EEXIST, "create %s/%s: exists and O_EXCL was given", dir.kind->name,
			     name);
	} else if (err == -ENOENT || err == -EINVAL) {
		if (!dir.kind->create)
			err = reason(EPERM, "create %s/%s: this kind has a fixed set of files",
				     dir.kind->name, name);
		else
			err = dir.kind->create(dir.kind, &caller, name, mode, &obj, &variant);
		created = err == 0;
	}
	if (!err)
		err = open_object(req, &caller, dir.kind, variant, &obj, fi, created);
	caller_clear(&caller);
	if (err) {
		drop_variant(dir.kind, variant);
		return reply_err(req, err);
	}

	object_attr(dir.kind, variant, &obj, &st);
	e = entry_param(lookup_ino(dir.kind, st.st_ino, req), &st);
	drop_variant(dir.kind, variant);
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		release_open(file_of(fi));
}


static void ipcfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct ipcfs_file *file = request_file(fi);

	(void)ino;
	/* The kernel sends the file's flags as they are now, with every read and write. */
	file->kind->read(req, file, size, off, fi->flags & O_NONBLOCK);
	ipcfs_file_put(file);
}

static void ipcfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct ipcfs_file *file = request_file(fi);

	(void)ino;
	file->kind->write(req, file, buf, size, off, fi->flags & O_NONBLOCK);
	ipcfs_file_put(file);
}

static void ipcfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ipcfs_file *file;

	(void)ino;
	if (!file_of(fi)->kind->flush) {
		fuse_reply_err(req, 0);
		return;
	}
	file = request_file(fi);
	file->kind->flush(req, file);
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
	struct ipcfs_file *file;

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
	file->kind->poll(req, file, ph);
	ipcfs_file_put(file);
}

static void ipcfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	struct ipcfs_file *file = request_file(fi);
	off_t result = -ESPIPE;

	(void)ino;
	if (file->kind->lseek)
		result = file->kind->lseek(file, off, whence);
	ipcfs_file_put(file);
	if (result < 0)
		return reply_err(req, (int)result);
	fuse_reply_lseek(req, result);
}

/* ---- Names that change ---- */

static void ipcfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node dir;
	struct ipc_obj obj;
	struct caller caller;
	unsigned variant;
	int err;

	if (!decode_ino(parent, &dir) || !dir.is_dir || !dir.kind)
		return reply_err(req, -EPERM);
	err = dir.kind->lookup(dir.kind, name, &obj, &variant);
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

static void refuse_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 dev_t rdev)
{
	(void)parent; (void)mode; (void)rdev;
	reply_err(req, reason(EPERM, "mknod %s: only open(O_CREAT) creates objects", name));
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

static void ipcfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
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
	if (!decode_ino(ino, &node) || node.is_dir)
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
	struct node node;
	struct ipc_obj obj;
	g_autoptr(GString) list = g_string_new(NULL);
	int err;

	if (!decode_ino(ino, &node))
		return reply_err(req, -ENOENT);
	if (!node.is_dir) {
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
	struct node node;
	struct ipc_obj obj;
	struct caller caller;
	const char *field;
	int err;

	(void)flags;
	if (!decode_ino(ino, &node) || node.is_dir)
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
	for (unsigned i = 0; i < NKINDS; i++)
		if (kinds[i]->init)
			kinds[i]->init(conn);
}

int fs_setup(void)
{
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
	.mknod = refuse_mknod,
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
