// SPDX-License-Identifier: GPL-2.0-only
/* The lifetime of open files (file.h). */
#include "file.h"

#include "kind.h"
#include "log.h"
#include "ns.h"
#include "successor.h"

static GMutex open_files_lock;
static GHashTable *open_files;	/* struct ipcfs_file * set */

void ipcfs_files_setup(void)
{
	open_files = g_hash_table_new(g_direct_hash, g_direct_equal);
}

struct ipcfs_file *ipcfs_file_new(const struct ipcfs_kind *kind, unsigned kind_index,
				  const struct ipc_obj *obj, unsigned variant, int flags, bool created,
				  const struct caller *opener)
{
	struct ipcfs_file *file = g_new0(struct ipcfs_file, 1);

	file->kind = kind;
	file->kind_index = kind_index;
	g_atomic_ref_count_init(&file->refs);	/* the open's reference */
	g_mutex_init(&file->obj_lock);
	file->obj = *obj;
	file->variant = variant;
	file->flags = flags;
	file->created = created;
	file->opener = opener->uid;
	file->opener_pid = opener->pid;
	file->ns = ns_current();
	return file;
}

void ipcfs_file_discard(struct ipcfs_file *file)
{
	g_mutex_clear(&file->obj_lock);
	g_free(file);
}

void ipcfs_file_publish(struct ipcfs_file *file)
{
	ns_hold(file->ns);	/* until the file is freed (ipcfs_file_put) */
	g_mutex_lock(&open_files_lock);
	g_hash_table_add(open_files, file);
	g_mutex_unlock(&open_files_lock);
}

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
	if (file->kind->release)
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
	successor_note(file->kind_index, ns_ino(file->ns), old_id, obj->id);
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

void ipcfs_file_release_open(struct ipcfs_file *file)
{
	g_mutex_lock(&open_files_lock);
	file->released = true;
	g_mutex_unlock(&open_files_lock);
	ipcfs_file_put(file);
}

/* The table stays: a waiter still blocked in the kernel may hold a file as we exit. */
void ipcfs_files_teardown(void)
{
	g_autoptr(GPtrArray) pending = NULL;
	GHashTableIter iter;
	gpointer file;

	if (!open_files)
		return;		/* the mount was refused before any file could open */
	pending = g_ptr_array_new();
	g_mutex_lock(&open_files_lock);
	g_hash_table_iter_init(&iter, open_files);
	while (g_hash_table_iter_next(&iter, &file, NULL))
		if (!((struct ipcfs_file *)file)->released)
			g_ptr_array_add(pending, file);
	g_mutex_unlock(&open_files_lock);
	if (pending->len)
		log_debug("exit: %u open files got no RELEASE; releasing them now", pending->len);
	for (guint i = 0; i < pending->len; i++)
		ipcfs_file_release_open(g_ptr_array_index(pending, i));
}

