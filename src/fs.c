// SPDX-License-Identifier: GPL-2.0-only
/*
 * The dispatch of FUSE requests: each request's nodeid becomes a node
 * (node.h), whose namespace the request then runs in, and the kind of the
 * node answers it.  What is here is only what no kind can decide alone:
 * directory handles and their bound, the permission checks of open,
 * truncate, IPC_SET, unlink and xattrs (under SysV rules, with the caller's
 * credentials), the order of check-then-change in setattr, and how a reply
 * the kernel never took gives back what it counted.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listed.h"
#include "log.h"
#include "node.h"
#include "ns.h"
#include "ns_names.h"
#include "quota.h"
#include "transport.h"

/* Reply with an entry that node_lookup() counted; a reply the kernel never took counts nothing. */
static void reply_entry(fuse_req_t req, fuse_ino_t ino, const struct stat *st)
{
	struct fuse_entry_param e = node_entry(ino, st);

	if (fuse_reply_entry(req, &e) != 0)
		node_forget(ino, 1);
}

static void reply_dir_entry(fuse_req_t req, const struct node *dir)
{
	struct stat st;

	node_dir_attr(dir, &st);
	reply_entry(req, node_lookup(NULL, node_dir_ino(dir), req), &st);
}

/* "<ino>" under /ns: the namespace's tree, if a process is still in it. */
static void lookup_namespace(fuse_req_t req, const char *name)
{
	struct node tree = { .type = NODE_TREE_ROOT };
	char *end;
	guint64 ino;
	int err;

	if (!g_ascii_isdigit(*name))
		return reply_error(req, -ENOENT);
	ino = g_ascii_strtoull(name, &end, 10);
	if (*end || ino == 0)
		return reply_error(req, -ENOENT);
	err = ns_find(ino, &tree.ns);
	if (err)
		return reply_error(req, err);
	ns_names_remember(tree.ns, node_dir_ino(&(struct node){ .type = NODE_NS_DIR }), name);
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
		return reply_error(req, err);
	switch (dir.type) {
	case NODE_OBJECT:
	case NODE_ROOT_FILE:
		return reply_error(req, -ENOTDIR);
	case NODE_NS_DIR:
		return lookup_namespace(req, name);
	case NODE_TREE_ROOT:
		for (unsigned i = 0; i < ipcfs_nkinds; i++) {
			if (kind_in_tree(i, dir.ns) && strcmp(name, ipcfs_kinds[i]->name) == 0) {
				struct node child = node_kind_dir(dir.ns, i);

				ns_names_remember(dir.ns, parent, name);
				return reply_dir_entry(req, &child);
			}
		}
		if (dir.ns == NS_SERVED && ns_enabled() && strcmp(name, "ns") == 0) {
			struct node child = node_ns_dir();

			return reply_dir_entry(req, &child);
		}
		return reply_error(req, -ENOENT);
	case NODE_KIND_DIR:
		break;
	}
	err = dir.kind->lookup(dir.kind, name, fuse_req_ctx(req)->uid, &obj, &variant);
	if (err)
		return reply_error(req, err == -EINVAL ? -ENOENT : err);
	node_object_attr(dir.kind, variant, &obj, &st);
	ns_names_remember(dir.ns, parent, name);
	reply_entry(req, node_lookup(dir.kind, st.st_ino, req), &st);
	node_drop_variant(dir.kind, variant);
}

static struct ipcfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct ipcfs_file *)(uintptr_t)fi->fh;
}


/* The file of a request, held for the callback: put it when the callback returns. */
static struct ipcfs_file *request_file(struct fuse_file_info *fi)
{
	return ipcfs_file_hold(file_of(fi));
}

/*
 * An open file for the length of one request on it: held (once the kind
 * replies, RELEASE may run on another thread; the hold keeps the file until
 * the callback returns) and its namespace entered.  Declare one with
 * g_auto(file_request) r = FILE_REQUEST_INIT; file_request_begin() fills it.
 */
typedef struct file_request {
	ns_scope scope;
	struct ipcfs_file *file;
} file_request;
#define FILE_REQUEST_INIT { NS_SCOPE_INIT, NULL }

/* 0, or -errno if the file's namespace cannot be entered (the file is held all the same). */
static int file_request_begin(file_request *r, struct fuse_file_info *fi)
{
	r->file = request_file(fi);
	return ns_scope_enter(&r->scope, r->file->ns);
}

static void file_request_end(file_request *r)
{
	if (r->file)
		ipcfs_file_put(r->file);
	ns_scope_end(&r->scope);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(file_request, file_request_end)

static void ipcfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	struct stat st;
	int err;

	if (!node_decode(ino, &node))
		return reply_error(req, -ENOENT);
	/* Anyone may stat /ns itself (`ls -l` of the root does); only entering it is for root. */
	err = node.type == NODE_NS_DIR ? 0 : node_enter(req, &node, &scope);
	if (err)
		return reply_error(req, err);
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
			return reply_error(req, (int)moved);
	}
	if (node.type != NODE_OBJECT) {
		node_dir_attr(&node, &st);
		fuse_reply_attr(req, &st, NODE_DIR_TIMEOUT);
		return;
	}
	err = node_object(&node, &obj);
	if (err)
		return reply_error(req, err);
	node_object_attr(node.kind, node.variant, &obj, &st);
	fuse_reply_attr(req, &st, NODE_ATTR_FRESH);
}

static void ipcfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	g_auto(caller_t) caller = { 0 };
	struct stat st;
	int err;

	err = node_of_type(req, "setattr", ino, NODE_OBJECT, -ENOENT, -EPERM, &node, &scope);
	if (err)
		return reply_error(req, err);
	/* Through an open file (ftruncate): that file's object, never a newer one with its id. */
	if (fi && node.kind->sysv) {
		struct ipcfs_file *file = request_file(fi);

		err = ipcfs_file_object(file, &obj);
		ipcfs_file_put(file);
	} else {
		err = node_object(&node, &obj);
	}
	if (err)
		return reply_error(req, err);

	caller_from_req(&caller, req);
	/* Check everything before changing anything. */
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07777 & ~0777u))
			return reply_error(req, reason(EINVAL, "chmod %s: mode %o has bits outside 0777",
						       node.kind->name, attr->st_mode & 07777));
		if (!perm_may_control(&caller, &obj))
			return reply_error(req, reason(EPERM, "IPC_SET of %s id %d: uid %u is neither owner nor creator",
						       node.kind->name, obj.id, (unsigned)caller.uid));
		if (!node.kind->set_owner)
			return reply_error(req, reason(EPERM, "%s: mode and owner cannot change", node.kind->name));
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!node.kind->truncate)
			return reply_error(req, reason(EINVAL, "truncate %s: not supported", node.kind->name));
		/* An open file was permission-checked at open, like ftruncate(2). */
		if (!fi && !perm_may_access(&caller, &obj, PERM_WRITE))
			return reply_error(req, reason(EACCES, "truncate %s id %d: no write permission",
						       node.kind->name, obj.id));
	}

	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		mode_t mode = to_set & FUSE_SET_ATTR_MODE ? attr->st_mode & 0777 : obj.mode & 0777;
		uid_t uid = to_set & FUSE_SET_ATTR_UID ? attr->st_uid : obj.uid;
		gid_t gid = to_set & FUSE_SET_ATTR_GID ? attr->st_gid : obj.gid;

		err = node.kind->set_owner(&obj, mode, uid, gid);
		if (err)
			return reply_error(req, err);
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct ipcfs_file *file = fi ? request_file(fi) : NULL;

		err = node.kind->truncate(&caller, &obj, attr->st_size, file);
		if (file)
			ipcfs_file_put(file);
		if (err)
			return reply_error(req, err);
	}
	/* Times belong to the kernel object: touch(1) must work, but changes nothing. */

	err = node.kind->stat(obj.id, &obj);
	if (err)
		return reply_error(req, err);
	node_object_attr(node.kind, node.variant, &obj, &st);
	fuse_reply_attr(req, &st, NODE_ATTR_FRESH);
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

	for (unsigned i = 0; i < ipcfs_nkinds; i++) {
		struct node child = node_kind_dir(ns, i);

		if (kind_in_tree(i, ns))
			g_array_append_val(children, child);
	}
	if (ns == NS_SERVED && ns_enabled()) {
		struct node child = node_ns_dir();

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
		return reply_error(req, err);
	if (node.type == NODE_OBJECT || node.type == NODE_ROOT_FILE)
		return reply_error(req, -ENOTDIR);
	refusal = quota_take(&open_dirs, fuse_req_ctx(req)->uid);
	if (refusal)
		return reply_error(req, reason(quota_refused_in_all(refusal) ? ENFILE : EMFILE,
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
		return reply_error(req, err);
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
		parent = node_ns_dir();
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
		node_namespace_attr(ino, st);
		return true;
	}
	default:
		*obj = &g_array_index(dh->entries, struct ipc_obj, i);
		dh->dir.kind->format_name(*obj, name, size);
		node_object_attr(dh->dir.kind, 0, *obj, st);
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
		return reply_error(req, err);
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
				ns_names_remember(dh->dir.ns, node_dir_ino(&dh->dir), name);
				e = node_entry(node_lookup(NULL, nodeid, req), &st);
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
			node_forget(g_array_index(counted, fuse_ino_t, i), 1);
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
	reply_error(req, 0);
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

/*
 * Permission check and kind open of obj, of the kind of at (the object's
 * node, its directory's, or a root file's, whose kind decides who may open
 * it); on success fi->fh is the new ipcfs_file.
 */
static int open_object(fuse_req_t req, struct caller *caller, const struct node *at, unsigned variant,
		       const struct ipc_obj *obj, struct fuse_file_info *fi, bool created)
{
	const struct ipcfs_kind *kind = at->kind;
	struct ipcfs_file *file;
	int err;

	if (!created && at->type != NODE_ROOT_FILE &&
	    !perm_may_access(caller, obj, access_wanted(fi->flags)))
		return reason(EACCES, "open %s id %d: mode %03o denies uid %u", kind->name, obj->id,
			      obj->mode & 0777, (unsigned)caller->uid);
	file = ipcfs_file_new(kind, at->kind_index, obj, variant, fi->flags, created, caller);
	/* Every read and write reaches the daemon: no page cache can go stale. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	err = kind->open ? kind->open(req, file, fi) : 0;
	/* Removed since the lookup: to the caller the name was gone, as on any file system. */
	if (err == -EIDRM)
		err = reason(ENOENT, "open %s id %d: removed while being opened", kind->name, obj->id);
	if (err) {
		ipcfs_file_discard(file);
		return err;
	}
	fi->fh = (uintptr_t)file;
	ipcfs_file_publish(file);
	return 0;
}

/* What an open of node (nodeid ino) opens: its object's live attributes; a root file has none. */
static int object_to_open(fuse_req_t req, fuse_ino_t ino, struct node *node,
			  const struct fuse_file_info *fi, struct ipc_obj *obj)
{
	if (node->type == NODE_ROOT_FILE) {
		*obj = (struct ipc_obj){ .id = -1 };
		return 0;
	}
	if (node->type != NODE_OBJECT)
		return reason(EISDIR, "open of nodeid %#" PRIx64 ": a directory", (uint64_t)ino);
	/*
	 * Writers that wait need an inode of their own: a listing's nodeid
	 * (which the kernel caches), or an alias made for another thread, is
	 * refused with ESTALE, after which the kernel looks the path up again
	 * (LOOKUP_REVAL) and opens the caller's own alias.
	 */
	if (node->kind->writes_wait && (fi->flags & O_ACCMODE) != O_RDONLY &&
	    node->owner != fuse_req_ctx(req)->pid)
		return reason(ESTALE, "open %s for writing: nodeid %#" PRIx64 " is another thread's; looking up again",
			      node->kind->name, (uint64_t)ino);
	node->follow = false;	/* see node_object() */
	return node_object(node, obj);
}

static void ipcfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node node;
	struct ipc_obj obj;
	g_auto(caller_t) caller = { 0 };
	int err;

	err = node_of(req, ino, &node, &scope, -ENOENT);
	if (!err)
		err = object_to_open(req, ino, &node, fi, &obj);
	if (err)
		return reply_error(req, err);
	caller_from_req(&caller, req);
	err = open_object(req, &caller, &node, node.variant, &obj, fi, false);
	if (err)
		return reply_error(req, err);
	/* -ENOENT: the caller was interrupted meanwhile and will never see the file. */
	if (fuse_reply_open(req, fi) == -ENOENT)
		ipcfs_file_release_open(file_of(fi));
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
	g_auto(caller_t) caller = { 0 };
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
		err = open_object(req, &caller, &dir, variant, &obj, fi, created);
	if (!err) {
		node_object_attr(dir.kind, variant, &obj, &st);
		ns_names_remember(dir.ns, parent, name);
		*e = node_entry(node_lookup(dir.kind, st.st_ino, req), &st);
	}
	if (dir.type == NODE_KIND_DIR)
		node_drop_variant(dir.kind, variant);
	return err;
}

static void ipcfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int err = create_entry(req, parent, name, mode, fi->flags & O_EXCL, fi, &e);

	if (err)
		return reply_error(req, err);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		node_forget(e.ino, 1);
		ipcfs_file_release_open(file_of(fi));
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
		return reply_error(req, reason(EPERM, "mknod %s: only regular files are IPC objects", name));
	err = create_entry(req, parent, name, mode & 07777, true, NULL, &e);
	if (err)
		return reply_error(req, err);
	if (fuse_reply_entry(req, &e) != 0)
		node_forget(e.ino, 1);
}


/*
 * file_request_begin() for a read or a write (OP), answering the request itself
 * if it cannot go on: its namespace is gone, or the kind has no such operation
 * (HAS_OP false: EINVAL, as the kernel answers read(2) of a file without one).
 */
static bool file_request_begin_io(fuse_req_t req, file_request *r, struct fuse_file_info *fi,
				  const char *op, bool has_op)
{
	int err = file_request_begin(r, fi);

	if (!err && !has_op)
		err = reason(EINVAL, "%s of a %s file: this kind has none", op, r->file->kind->name);
	if (err)
		reply_error(req, err);
	return err == 0;
}

/* The kernel sends the file's flags as they are now, with every read and write. */
static void ipcfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	g_auto(file_request) r = FILE_REQUEST_INIT;

	(void)ino;
	if (file_request_begin_io(req, &r, fi, "read", file_of(fi)->kind->read))
		r.file->kind->read(req, r.file, size, off, fi->flags & O_NONBLOCK);
}

static void ipcfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	g_auto(file_request) r = FILE_REQUEST_INIT;

	(void)ino;
	if (file_request_begin_io(req, &r, fi, "write", file_of(fi)->kind->write))
		r.file->kind->write(req, r.file, buf, size, off, fi->flags & O_NONBLOCK);
}

static void ipcfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	g_auto(file_request) r = FILE_REQUEST_INIT;

	(void)ino;
	if (!file_of(fi)->kind->flush)
		return reply_error(req, 0);
	if (file_request_begin(&r, fi) == 0)
		r.file->kind->flush(req, r.file);
	else
		reply_error(req, -EIO);
}

static void ipcfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	/* Writes went straight to the kernel object: there is nothing to sync. */
	reply_error(req, 0);
}

static void ipcfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	/* Frees now, or when the last request still using the file has replied. */
	ipcfs_file_release_open(file_of(fi));
	reply_error(req, 0);
}

static void ipcfs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		       struct fuse_pollhandle *ph)
{
	g_auto(file_request) r = FILE_REQUEST_INIT;
	int err;

	(void)ino;
	if (!file_of(fi)->kind->poll) {
		/* Like a regular file: always ready. */
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
		return;
	}
	err = file_request_begin(&r, fi);
	r.file->poll_events = fi->poll_events;
	if (err) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		return reply_error(req, err);
	}
	r.file->kind->poll(req, r.file, ph);
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
	g_auto(file_request) r = FILE_REQUEST_INIT;
	off_t result = file_request_begin(&r, fi);
	struct ipcfs_file *file = r.file;

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
	if (result < 0)
		return reply_error(req, (int)result);
	fuse_reply_lseek(req, result);
}

/* ---- Names that change ---- */

static void ipcfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	g_auto(ns_scope) scope = NS_SCOPE_INIT;
	struct node dir;
	struct ipc_obj obj;
	g_auto(caller_t) caller = { 0 };
	unsigned variant;
	int err;

	err = node_of_type(req, "rm", parent, NODE_KIND_DIR, -EPERM, -EPERM, &dir, &scope);
	if (err)
		return reply_error(req, err);
	err = dir.kind->lookup(dir.kind, name, fuse_req_ctx(req)->uid, &obj, &variant);
	if (err)
		return reply_error(req, err == -EINVAL ? -ENOENT : err);
	node_drop_variant(dir.kind, variant);	/* the object is what goes, whatever view named it */
	if (!dir.kind->remove)
		return reply_error(req, reason(EPERM, "rm %s/%s: cannot be removed", dir.kind->name,
					     name));
	caller_from_req(&caller, req);
	if (!perm_may_control(&caller, &obj))
		err = reason(EPERM, "IPC_RMID of %s id %d: uid %u is neither owner nor creator",
			     dir.kind->name, obj.id, (unsigned)caller.uid);
	else
		err = dir.kind->remove(&obj);
	reply_error(req, err);
}

static void refuse_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)mode;
	reply_error(req, reason(EPERM, "mkdir %s: the tree is fixed", name));
}

static void refuse_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	reply_error(req, reason(EPERM, "rmdir %s: the tree is fixed", name));
}

static void refuse_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent;
	reply_error(req, reason(EPERM, "symlink %s: IPC objects have no links", name));
}

static void refuse_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent; (void)newparent; (void)flags;
	reply_error(req, reason(EPERM, "rename %s to %s: a key cannot change", name, newname));
}

static void refuse_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent;
	reply_error(req, reason(EPERM, "link %s: IPC objects have no links", newname));
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
		reply_error(req, -ERANGE);
	else
		fuse_reply_buf(req, value->str, value->len);
}

/* user.ns.* of /ns/<ino>. */
static void namespace_getxattr(fuse_req_t req, const struct node *node, const char *name,
			       size_t size)
{
	g_autoptr(GString) value = g_string_new(NULL);
	g_auto(caller_t) caller = { 0 };
	int err;

	caller_from_req(&caller, req);
	err = ns_format_xattr(&caller, node->ns, name, value);
	if (err)
		return reply_error(req, err);
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
	g_auto(caller_t) caller = { 0 };
	int err;

	/*
	 * Only user.* exists here.  Other namespaces (security.*, ACLs) get
	 * EOPNOTSUPP, as on a filesystem without them: ls(1) and getfattr then stop
	 * asking for the rest of the mount, which keeps `ls -l` at one request a file.
	 */
	if (!g_str_has_prefix(name, "user."))
		return reply_error(req, -EOPNOTSUPP);
	err = node_of(req, ino, &node, &scope, -ENODATA);
	if (err)
		return reply_error(req, err);
	if (node.type == NODE_TREE_ROOT && node.ns != NS_SERVED)
		return namespace_getxattr(req, &node, name, size);
	if (node.type != NODE_OBJECT)
		return reply_error(req, -ENODATA);
	field_name = xattr_field_name(node.kind, name);
	field = field_name ? find_xattr(node.kind, field_name) : NULL;
	if (!field)
		return reply_error(req, -ENODATA);
	err = node_object(&node, &obj);
	if (err)
		return reply_error(req, err);
	caller_from_req(&caller, req);
	if (field->perm && !perm_may_access(&caller, &obj, field->perm))
		return reply_error(req, reason(EACCES, "getxattr %s of %s id %d: no read permission",
					       name, node.kind->name, obj.id));
	value = g_string_new(NULL);
	err = field->format_for ? field->format_for(&caller, &obj, value) : field->format(&obj, value);
	if (!err && field->pids)
		attr_pids_as_seen_by(&caller, value);
	if (err)
		return reply_error(req, err);
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
		return reply_error(req, err);
	if (node.type == NODE_TREE_ROOT && node.ns != NS_SERVED)
		ns_xattr_names(list);
	if (node.type == NODE_OBJECT) {
		err = node_object(&node, &obj);
		if (err)
			return reply_error(req, err);
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
	g_auto(caller_t) caller = { 0 };
	const char *field;
	int err;

	(void)flags;
	err = node_of_type(req, "setxattr", ino, NODE_OBJECT, -ENOENT, -ENOTSUP, &node, &scope);
	if (err)
		return reply_error(req, err);
	field = xattr_field_name(node.kind, name);
	if (!field || !find_xattr(node.kind, field))
		return reply_error(req, reason(ENOTSUP, "setxattr %s: not an ipcfs attribute", name));
	if (!node.kind->setxattr)
		return reply_error(req, reason(EPERM, "setxattr %s: read-only", name));
	err = node_object(&node, &obj);
	if (err)
		return reply_error(req, err);
	caller_from_req(&caller, req);
	err = node.kind->setxattr(&caller, &obj, field, value, size);
	reply_error(req, err);
}

static void ipcfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	reply_error(req, reason(EPERM, "removexattr %s: attributes of IPC objects are fixed", name));
}

static void ipcfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void ipcfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(forgets[i].ino, forgets[i].nlookup);
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
	transport_log(conn);
	for (unsigned i = 0; i < ipcfs_nkinds; i++)
		if (ipcfs_kinds[i]->init)
			ipcfs_kinds[i]->init(conn);
}

int fs_setup(void)
{
	ns_names_setup();
	node_setup();
	ipcfs_files_setup();
	quota_init(&open_dirs, DIRS_MAX, DIRS_PER_UID);
	for (unsigned i = 0; i < ipcfs_nkinds; i++) {
		int err = ipcfs_kinds[i]->setup ? ipcfs_kinds[i]->setup() : 0;

		if (err)
			return err;
	}
	return 0;
}

void fs_teardown(void)
{
	ipcfs_files_teardown();
	quota_clear(&open_dirs);
	node_teardown();
	for (unsigned i = 0; i < ipcfs_nkinds; i++)
		if (ipcfs_kinds[i]->teardown)
			ipcfs_kinds[i]->teardown();
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
