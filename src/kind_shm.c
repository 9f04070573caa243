// SPDX-License-Identifier: GPL-2.0-only
/*
 * /shm/<key>: a shared memory segment, read and written in place.
 *
 * The daemon reaches a segment's memory through the segment's own shmem
 * file: it attaches once, opens /proc/self/map_files/<start>-<end> (which
 * needs CAP_SYS_ADMIN) and detaches again.  That descriptor does not count
 * in nattch, so ipcs shows the same nattch with or without ipcfs.  Without
 * the capability, each operation attaches and detaches around its copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "kind.h"
#include "log.h"
#include "ns.h"
#include "options.h"
#include "procmaps.h"
#include "shm_backing.h"
#include "sysv.h"

/* ---- Names that are not segments yet ----
 *
 * The kernel fixes a segment's size at creation, so open(O_CREAT) makes a
 * placeholder: a 0-byte file that ipcs does not list.  The first write or
 * truncate to a size above 0 creates the segment.  Placeholders have
 * negative ids.
 */
struct pending {
	int id;			/* unique across namespaces */
	uint64_t ns_id;		/* the IPC namespace whose /shm shows it (ns.h) */
	key_t key;
	mode_t mode;
	uid_t uid, cuid;
	gid_t gid, cgid;
	time_t ctime;
};

static GMutex pending_lock;
static GHashTable *pending_by_id;	/* int id -> struct pending */
static int pending_next_id = -1;

/*
 * Placeholders cost the daemon memory and the kernel nothing, so they get
 * bounds of their own: no more than the kernel would allow segments
 * (shmmni), and a share of that per creator, so that `touch shm/$i` in a
 * loop fails with ENOSPC, as shmget would, instead of growing the daemon.
 */
#define PENDING_PER_UID 128

static void pending_to_obj(const struct pending *p, struct ipc_obj *obj)
{
	memset(obj, 0, sizeof(*obj));
	obj->id = p->id;
	obj->key = p->key;
	obj->mode = p->mode;
	obj->uid = p->uid;
	obj->gid = p->gid;
	obj->cuid = p->cuid;
	obj->cgid = p->cgid;
	obj->ctime = p->ctime;
	obj->pending = true;
}

/* The placeholder id, or NULL if there is none in this thread's namespace; with pending_lock held. */
static struct pending *pending_get(int id)
{
	struct pending *p = g_hash_table_lookup(pending_by_id, GINT_TO_POINTER(id));

	return p && p->ns_id == ns_current_ino() ? p : NULL;
}

static struct pending *pending_find_key(key_t key)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, pending_by_id);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		if (((struct pending *)value)->key == key &&
		    ((struct pending *)value)->ns_id == ns_current_ino())
			return value;
	return NULL;
}

static unsigned long long read_limit(const char *path);

/* Would one more placeholder of creator cuid stay within the bounds above? */
static int pending_check_room(uid_t cuid)
{
	unsigned long long shmmni = read_limit("/proc/sys/kernel/shmmni");
	GHashTableIter iter;
	gpointer value;
	unsigned mine = 0, here = 0;

	g_hash_table_iter_init(&iter, pending_by_id);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		const struct pending *p = value;

		here += p->ns_id == ns_current_ino();
		mine += p->ns_id == ns_current_ino() && p->cuid == cuid;
	}
	if (here >= shmmni)
		return reason(ENOSPC, "create shm: %u placeholders already, the kernel's shmmni", here);
	if (mine >= PENDING_PER_UID)
		return reason(ENOSPC, "create shm: uid %u has %u placeholders (0-byte files) already",
			      (unsigned)cuid, mine);
	return 0;
}

/* A new placeholder like `like`, or -ENOSPC beyond the bounds (only when new_one). */
static int pending_add(const struct ipc_obj *like, struct ipc_obj *obj, bool new_one)
{
	struct pending *p;
	int err = 0;

	g_mutex_lock(&pending_lock);
	if (new_one)
		err = pending_check_room(like->cuid);
	if (err) {
		g_mutex_unlock(&pending_lock);
		return err;
	}
	p = g_new0(struct pending, 1);
	p->id = pending_next_id--;
	p->ns_id = ns_current_ino();
	p->key = like->key;
	p->mode = like->mode & 0777;
	p->uid = like->uid;
	p->gid = like->gid;
	p->cuid = like->cuid;
	p->cgid = like->cgid;
	p->ctime = time(NULL);
	g_hash_table_insert(pending_by_id, GINT_TO_POINTER(p->id), p);
	pending_to_obj(p, obj);
	g_mutex_unlock(&pending_lock);
	return 0;
}

static void pending_remove(int id)
{
	g_mutex_lock(&pending_lock);
	g_hash_table_remove(pending_by_id, GINT_TO_POINTER(id));
	g_mutex_unlock(&pending_lock);
}

/* ---- Objects ---- */

static int shm_stat(int id, struct ipc_obj *obj)
{
	struct shmid_ds ds;

	if (id < 0) {
		struct pending *p;
		int err = -ENOENT;

		g_mutex_lock(&pending_lock);
		p = pending_get(id);
		if (p) {
			pending_to_obj(p, obj);
			err = 0;
		}
		g_mutex_unlock(&pending_lock);
		return err;
	}
	if (shmctl(sysv_id_to_index(id), SHM_STAT_ANY, &ds) != id)
		return -ENOENT;
	shm_from_ds(id, &ds, obj);
	return 0;
}

static int shm_find_key(key_t key, int *id)
{
	struct pending *p;

	*id = shmget(key, 0, 0);
	if (*id >= 0)
		return 0;
	g_mutex_lock(&pending_lock);
	p = pending_find_key(key);
	if (p)
		*id = p->id;
	g_mutex_unlock(&pending_lock);
	return p ? 0 : -ENOENT;
}

/* /proc/sysvipc/shm: key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime rss swap */
static bool shm_parse_line(const char *line, struct ipc_obj *obj)
{
	struct ipc_perm perm;
	long long atime, dtime, ctime;
	unsigned long long size, rss = 0, swap = 0;
	unsigned long nattch;
	int id, cpid, lpid;

	if (sscanf(line, "%d %d %o %llu %d %d %lu %u %u %u %u %lld %lld %lld %llu %llu", &perm.__key,
		   &id, &perm.mode, &size, &cpid, &lpid, &nattch, &perm.uid, &perm.gid, &perm.cuid,
		   &perm.cgid, &atime, &dtime, &ctime, &rss, &swap) < 14)
		return false;
	sysv_obj_from_perm(obj, id, &perm);
	obj->blocks = (int64_t)((rss + swap) / 512);
	obj->size = size;
	obj->cpid = cpid;
	obj->lpid = lpid;
	obj->nattch = nattch;
	obj->atime = (time_t)atime;
	obj->mtime = (time_t)dtime;
	obj->ctime = (time_t)ctime;
	return true;
}

/*
 * st_blocks: the segment's resident and swapped pages, which only
 * /proc/sysvipc/shm tells, one line per segment of the namespace.  Reading it
 * for every stat would make `ls -l` quadratic, so one reading serves every
 * stat of that namespace for USAGE_FRESH_US (and each listing makes a new
 * one): du and ls -s may lag a second behind the kernel.  One namespace at a
 * time is kept (/ns/ trees are root's, and rare).
 */
#define USAGE_FRESH_US G_USEC_PER_SEC
static GMutex usage_lock;
static GHashTable *usage_blocks;	/* id -> blocks, of usage_ns as read at usage_read_at */
static uint64_t usage_ns;
static gint64 usage_read_at;

/* Keep what a reading of /proc/sysvipc/shm said; with usage_lock held. */
static void usage_keep(const GArray *objs)
{
	if (!usage_blocks)
		usage_blocks = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_hash_table_remove_all(usage_blocks);
	for (guint i = 0; i < objs->len; i++) {
		const struct ipc_obj *o = &g_array_index(objs, struct ipc_obj, i);

		g_hash_table_insert(usage_blocks, GINT_TO_POINTER(o->id), GSIZE_TO_POINTER((gsize)o->blocks));
	}
	usage_ns = ns_current_ino();
	usage_read_at = g_get_monotonic_time();
}

static void shm_complete_attr(struct ipc_obj *obj)
{
	if (obj->blocks >= 0 || obj->pending)
		return;
	g_mutex_lock(&usage_lock);
	if (!usage_blocks || usage_ns != ns_current_ino() ||
	    g_get_monotonic_time() - usage_read_at > USAGE_FRESH_US) {
		g_autoptr(GArray) objs = g_array_new(FALSE, TRUE, sizeof(struct ipc_obj));

		if (sysv_read_proc("/proc/sysvipc/shm", shm_parse_line, objs) == 0)
			usage_keep(objs);
	}
	obj->blocks = usage_blocks ? (int64_t)GPOINTER_TO_SIZE(g_hash_table_lookup(usage_blocks,
									  GINT_TO_POINTER(obj->id))) : 0;
	g_mutex_unlock(&usage_lock);
}

static int shm_list(GArray *objs)
{
	GHashTableIter iter;
	gpointer value;
	int err = sysv_read_proc("/proc/sysvipc/shm", shm_parse_line, objs);

	if (!err) {
		g_mutex_lock(&usage_lock);
		usage_keep(objs);
		g_mutex_unlock(&usage_lock);
	}
	shm_backing_sweep();

	g_mutex_lock(&pending_lock);
	g_hash_table_iter_init(&iter, pending_by_id);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		struct ipc_obj obj;

		if (((struct pending *)value)->ns_id != ns_current_ino())
			continue;
		pending_to_obj(value, &obj);
		g_array_append_val(objs, obj);
	}
	g_mutex_unlock(&pending_lock);
	return err;
}

static int shm_create_key(struct caller *caller, key_t key, mode_t mode, struct ipc_obj *obj)
{
	struct ipc_obj like = { .key = key, .mode = mode, .uid = caller->uid, .cuid = caller->uid,
				.gid = caller->gid, .cgid = caller->gid };

	int err = pending_add(&like, obj, true);

	if (!err)
		log_debug("create shm 0x%08x: a 0-byte placeholder until its size is known",
			  (unsigned)key);
	return err;
}

static int shm_remove(const struct ipc_obj *obj)
{
	if (obj->pending) {
		pending_remove(obj->id);
		return 0;
	}
	if (shmctl(obj->id, IPC_RMID, NULL) != 0)
		return reason(errno, "IPC_RMID of shm id %d", obj->id);
	shm_backing_forget(obj->id);
	return 0;
}

static int shm_set_owner(const struct ipc_obj *obj, mode_t mode, uid_t uid, gid_t gid)
{
	struct shmid_ds ds = { 0 };

	if (obj->pending) {
		struct pending *p;

		g_mutex_lock(&pending_lock);
		p = pending_get(obj->id);
		if (p) {
			p->mode = mode;
			p->uid = uid;
			p->gid = gid;
			p->ctime = time(NULL);
		}
		g_mutex_unlock(&pending_lock);
		return p ? 0 : -ENOENT;
	}
	ds.shm_perm.mode = mode;
	ds.shm_perm.uid = uid;
	ds.shm_perm.gid = gid;
	if (shmctl(obj->id, IPC_SET, &ds) != 0)
		return reason(errno, "IPC_SET of shm id %d", obj->id);
	return 0;
}

/* ---- Sizes ---- */

static unsigned long long read_limit(const char *path)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return G_MAXUINT64;
	return g_ascii_strtoull(text, NULL, 10);
}

/* Would the kernel accept a segment of this size?  Checked before anything changes. */
static int check_size(uint64_t size, uint64_t freed)
{
	struct shm_info info;
	unsigned long long shmall, page = (unsigned long long)sysconf(_SC_PAGESIZE);
	unsigned long long pages = (size + page - 1) / page;

	if (size > read_limit("/proc/sys/kernel/shmmax"))
		return reason(EFBIG, "shm size %llu is above shmmax", (unsigned long long)size);
	shmall = read_limit("/proc/sys/kernel/shmall");
	if (shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&info) >= 0 &&
	    (unsigned long long)info.shm_tot - (freed + page - 1) / page + pages > shmall)
		return reason(ENOSPC, "shm size %llu would exceed shmall", (unsigned long long)size);
	return 0;
}

/* Create a segment as the object's creator, then give it the object's owner. */
static int create_segment(const struct ipc_obj *like, uint64_t size, struct ipc_obj *created)
{
	int id = sysv_create_as(like->cuid, like->cgid, shmget, like->key, size, like->mode,
				"shmget");
	int err;

	if (id < 0)
		return id;
	err = shm_stat(id, created);
	if (!err && (created->uid != like->uid || created->gid != like->gid))
		err = shm_set_owner(created, like->mode & 0777, like->uid, like->gid);
	if (!err)
		err = shm_stat(id, created);
	return err;
}

/*
 * Giving a segment another size removes it and creates it again, so it
 * takes what IPC_RMID takes (owner, creator or CAP_SYS_ADMIN), not just
 * write permission.  A placeholder has nothing to lose.
 */
static bool may_recreate(struct caller *caller, const struct ipc_obj *obj)
{
	return obj->pending || perm_may_control(caller, obj);
}

/*
 * Who pins the segment besides the file asking: processes attached with
 * shmat, and in passthrough mode the open files that may map it (their
 * mappings are not counted in nattch).  A pinned segment keeps its size.
 */
static unsigned long pinned_by(const struct ipc_obj *obj, const struct ipcfs_file *self)
{
	if (obj->pending)
		return 0;
	return obj->nattch + shm_backing_mappers(obj->id, self);
}

/*
 * Give obj a new size: a placeholder becomes a segment; a segment nobody has
 * attached is re-created under the same key, mode and owner, its contents
 * carried over up to the new size.  The id changes.
 */
static int resize(struct ipc_obj *obj, uint64_t size, const struct ipcfs_file *self)
{
	struct ipc_obj created;
	void *old_map = NULL, *new_map;
	unsigned long pins;
	int err;

	if (size == obj->size)
		return 0;
	pins = pinned_by(obj, self);
	if (pins > 0)
		return reason(EBUSY, "resize shm id %d: attached or mapped by %lu processes or files",
			      obj->id, pins);
	err = check_size(size, obj->pending ? 0 : obj->size);
	if (err)
		return err;
	if (obj->pending) {
		err = create_segment(obj, size, &created);
		if (err)
			return err;
		pending_remove(obj->id);
		log_debug("shm 0x%08x: placeholder became id %d (%llu bytes)", (unsigned)obj->key,
			  created.id, (unsigned long long)size);
		*obj = created;
		return 0;
	}
	if (obj->key == 0)
		return reason(EBUSY, "resize shm id %d: a private segment cannot be re-created",
			      obj->id);

	err = sysv_check_create_as(obj->cuid, obj->cgid);
	if (err)
		return err;
	/* Hold the old memory, free the key, create the new segment, copy. */
	old_map = shmat(obj->id, NULL, SHM_RDONLY);
	if (old_map == (void *)-1)
		return reason(errno == EINVAL ? EIDRM : errno, "resize shm id %d: shmat", obj->id);
	if (shmctl(obj->id, IPC_RMID, NULL) != 0) {
		err = reason(errno, "resize shm id %d: IPC_RMID", obj->id);
		shmdt(old_map);
		return err;
	}
	shm_backing_forget(obj->id);
	err = create_segment(obj, size, &created);
	if (err) {
		/*
		 * Only a race can get here (every limit was checked above): put the
		 * old contents back under the key, in the room just freed.
		 */
		int restored = create_segment(obj, obj->size, &created);

		if (restored == 0 && (new_map = shmat(created.id, NULL, 0)) != (void *)-1) {
			shm_copy_data(new_map, old_map, obj->size, obj->size);
			shmdt(new_map);
			log_debug("resize shm 0x%08x: the new size failed; the old contents are back as id %d",
				  (unsigned)obj->key, created.id);
			*obj = created;
			shm_stat(created.id, obj);
		} else {
			log_debug("resize shm 0x%08x: the new size failed and the old one could not be restored: the contents are lost",
				  (unsigned)obj->key);
		}
		shmdt(old_map);
		return err;
	}
	new_map = shmat(created.id, NULL, 0);
	if (new_map == (void *)-1) {
		err = reason(errno, "resize shm id %d: shmat of the new segment", created.id);
	} else {
		shm_copy_data(new_map, old_map, obj->size, MIN(size, obj->size));
		shmdt(new_map);
	}
	shmdt(old_map);
	log_debug("resize shm 0x%08x: id %d (%llu bytes) is now id %d (%llu bytes)",
		  (unsigned)obj->key, obj->id, (unsigned long long)obj->size, created.id,
		  (unsigned long long)size);
	shm_stat(created.id, obj);
	return err;
}

/* An unattached segment becomes a 0-byte placeholder with the same key, mode and owner. */
static int truncate_to_zero(struct ipc_obj *obj, const struct ipcfs_file *self)
{
	struct ipc_obj placeholder;
	unsigned long pins;

	if (obj->pending)
		return 0;
	pins = pinned_by(obj, self);
	if (pins > 0)
		return reason(EBUSY, "truncate shm id %d to 0: attached or mapped by %lu processes or files",
			      obj->id, pins);
	if (obj->key == 0)
		return reason(EBUSY, "truncate shm id %d to 0: a private segment has no key to keep",
			      obj->id);
	if (shmctl(obj->id, IPC_RMID, NULL) != 0)
		return reason(errno, "truncate shm id %d: IPC_RMID", obj->id);
	shm_backing_forget(obj->id);
	/* Takes the segment's place: never refused, or the segment would just be gone. */
	pending_add(obj, &placeholder, false);
	*obj = placeholder;
	return 0;
}

static int shm_truncate(struct caller *caller, struct ipc_obj *obj, off_t size,
			struct ipcfs_file *file)
{
	int err;

	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size != obj->size && !may_recreate(caller, obj))
		return reason(EPERM, "truncate shm id %d: a new size re-creates the segment, which needs IPC_RMID rights that uid %u lacks",
			      obj->id, (unsigned)caller->uid);
	err = size == 0 ? truncate_to_zero(obj, file) : resize(obj, (uint64_t)size, file);
	/* Even a failed resize may have re-created the segment, with its old size. */
	if (file && obj->id != ipcfs_file_id(file))
		ipcfs_file_rebind(file, obj);
	return err;
}

/* ---- Open files ---- */

static int shm_file_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi)
{
	struct ipc_obj *obj = &file->obj;
	int err;

	shm_backing_log_mmap_refusal();
	/*
	 * O_TRUNC: the file becomes what is written next; nothing old shows
	 * through.  Never of a segment in use: a mistyped `: >` must not wipe a
	 * database's attached memory, so an attached or mapped segment is EBUSY,
	 * as truncate is, and nothing changes (`1<>` and `dd conv=notrunc` write
	 * into it).  Only a caller who may remove the segment gets it replaced by a
	 * placeholder; for anyone else it is zeroed in place.
	 */
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY && !obj->pending) {
		unsigned long pins = pinned_by(obj, file);
		struct ipc_obj now = *obj;
		g_auto(caller_t) caller = { 0 };
		bool recreate;

		if (pins > 0)
			return reason(EBUSY, "open shm id %d with O_TRUNC: attached or mapped by %lu processes or files, so nothing is truncated (write with 1<> or dd conv=notrunc)",
				      obj->id, pins);
		caller_from_req(&caller, req);
		recreate = obj->key != 0 && may_recreate(&caller, obj);
		if (recreate) {
			err = truncate_to_zero(&now, file);
			/* The inode that was opened names the placeholder now (successor.h). */
			if (now.id != obj->id)
				ipcfs_file_rebind(file, &now);
		} else {
			err = shm_backing_zero(obj);
			log_debug("open shm id %d with O_TRUNC: private or not the caller's to remove, so zeroed and kept at %llu bytes",
				  obj->id, (unsigned long long)obj->size);
		}
		if (err)
			return err;
	}
	return shm_backing_open(req, file, fi);
}

static void shm_file_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
			  bool nonblock)
{
	struct ipc_obj obj;
	int err = ipcfs_file_object(file, &obj);

	(void)nonblock;	/* memory never waits */
	if (err) {
		shm_backing_forget(ipcfs_file_id(file));
		reply_error(req, err);
		return;
	}
	if (obj.pending || (uint64_t)off >= obj.size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	shm_backing_read(req, &obj, MIN(size, obj.size - (uint64_t)off), off);
}

/* A segment is data from its first byte to its last: no holes to report (cp and tar probe). */
static int64_t shm_data_size(struct ipcfs_file *file)
{
	struct ipc_obj obj;
	int err = ipcfs_file_object(file, &obj);

	if (err)
		return err;
	return obj.pending ? 0 : (int64_t)obj.size;
}

static void shm_file_write(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size,
			   off_t off, bool nonblock)
{
	struct ipc_obj obj;
	uint64_t end = (uint64_t)off + size;
	int id = ipcfs_file_id(file);
	int err = ipcfs_file_object(file, &obj);

	(void)nonblock;
	if (err) {
		shm_backing_forget(id);
		reply_error(req, err);
		return;
	}
	if (end > obj.size) {
		unsigned long pins = pinned_by(&obj, file);
		g_auto(caller_t) caller = { 0 };
		bool grow;

		caller_from_req(&caller, req);
		grow = pins == 0 && may_recreate(&caller, &obj);
		if (!grow && pins == 0)
			log_debug("write shm id %d past its end: growing re-creates it, which needs IPC_RMID rights that uid %u lacks; the size stays",
				  obj.id, (unsigned)caller.uid);
		if (grow) {
			err = resize(&obj, end, file);
			if (obj.id != id)
				ipcfs_file_rebind(file, &obj);
			if (err) {
				reply_error(req, err);
				return;
			}
		} else if ((uint64_t)off >= obj.size) {
			reply_error(req, reason(ENOSPC, "write shm id %d at %lld: past the end of a segment that keeps its size",
						    obj.id, (long long)off));
			return;
		} else {
			/* A fixed size: write what fits, like a full device. */
			size = (size_t)(obj.size - (uint64_t)off);
		}
	}
	shm_backing_write(req, &obj, buf, size, off);
}

/* ---- Extended attributes ---- */

static int format_cpid(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%d", (int)obj->cpid);
	return 0;
}

static int format_lpid(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%d", (int)obj->lpid);
	return 0;
}

static int format_nattch(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%lu", obj->nattch);
	return 0;
}

static int format_status(const struct ipc_obj *obj, GString *out)
{
	if (obj->mode & IPC_MODE_SHM_DEST)
		g_string_append(out, "dest");
	if (obj->mode & IPC_MODE_SHM_LOCKED)
		g_string_append(out, out->len ? ",locked" : "locked");
	return 0;
}

/*
 * Does this /proc/<pid>/maps text map segment id?  A SysV segment's mapping
 * names its shmem file, "/SYSV<key> (deleted)", whose inode number is the id.
 */
/*
 * A FUSE daemon serving ipcfs (this one or another mount's): its mapping of a
 * segment is how it reads it for its callers, not a use of the segment, so
 * user.ipc.attached leaves it out.  Known by its name and an open /dev/fuse.
 */
static bool is_ipcfs_daemon(pid_t pid)
{
	g_autofree char *comm = NULL;
	g_autofree char *fds = g_strdup_printf("/proc/%d/fd", (int)pid);
	g_autoptr(GDir) dir = NULL;
	const char *entry;

	if (pid == getpid())
		return true;
	comm = sysv_comm_of(pid, pid);
	if (!comm || strcmp(comm, "ipcfs") != 0)
		return false;
	dir = g_dir_open(fds, 0, NULL);
	while (dir && (entry = g_dir_read_name(dir))) {
		g_autofree char *link = g_strdup_printf("%s/%s", fds, entry);
		g_autofree char *target = g_file_read_link(link, NULL);

		if (target && strcmp(target, "/dev/fuse") == 0)
			return true;
	}
	return false;
}

/*
 * user.ipc.attached: every process that has the segment attached.  The one
 * expensive answer ipcfs gives (every /proc/<pid>/maps is read, and a process
 * may map tens of thousands of things), so:
 *
 *  - it needs read permission on the segment (EACCES otherwise);
 *  - one linear pass over every process answers for every segment of the
 *    namespace at once (attached_scan), and its answer serves later requests
 *    while it is under ATTACHED_FRESH_US old and the segment's nattch, lpid,
 *    atime and dtime are as the pass saw them (an attach or detach moves them);
 *  - one pass runs at a time, at most ATTACHED_WAITERS_MAX requests wait for
 *    it, and any more get EAGAIN at once, so slow scans never hold more than a
 *    few of the daemon's workers.
 *
 * Ids are per namespace, so only processes in the segment's count, and ipcfs
 * daemons, this one among them, are no users of the segment (is_ipcfs_daemon).
 */
#define ATTACHED_FRESH_US G_USEC_PER_SEC
#define ATTACHED_WAITERS_MAX 2

struct attached_pass {
	uint64_t ns;
	gint64 done_at;
	GHashTable *pids;	/* segment id -> GArray of pid_t */
	GHashTable *seen;	/* segment id -> its fingerprint at the pass (struct ipc_obj) */
};

static GMutex attached_lock;
static GCond attached_done;
static struct attached_pass *attached_last;	/* the newest pass, or NULL */
static bool attached_scanning;
static unsigned attached_waiters;

static void attached_pass_free(struct attached_pass *a)
{
	if (!a)
		return;
	g_hash_table_unref(a->pids);
	g_hash_table_unref(a->seen);
	g_free(a);
}

static void free_pids(gpointer p)
{
	g_array_unref(p);
}

struct scan_one {
	struct attached_pass *pass;
	pid_t pid;
	int included;	/* -1: not yet decided; 0 or 1 */
};

static void note_mapping(int id, void *data)
{
	struct scan_one *one = data;
	GArray *pids;

	if (one->included < 0)
		one->included = ns_process_in(one->pid, one->pass->ns) && !is_ipcfs_daemon(one->pid);
	if (!one->included)
		return;
	pids = g_hash_table_lookup(one->pass->pids, GINT_TO_POINTER(id));
	if (!pids) {
		pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
		g_hash_table_insert(one->pass->pids, GINT_TO_POINTER(id), pids);
	}
	/* A process maps a segment once per attachment: name it once. */
	if (!pids->len || g_array_index(pids, pid_t, pids->len - 1) != one->pid)
		g_array_append_val(pids, one->pid);
}

/* One pass over every process's maps, for the namespace this thread acts in. */
static struct attached_pass *attached_scan(void)
{
	struct attached_pass *a = g_new0(struct attached_pass, 1);
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	g_autoptr(GArray) segments = g_array_new(FALSE, TRUE, sizeof(struct ipc_obj));
	const char *entry;

	a->ns = ns_current_ino();
	a->pids = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free_pids);
	a->seen = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	/* First what each segment looked like, so that a later attach or detach shows. */
	if (sysv_read_proc("/proc/sysvipc/shm", shm_parse_line, segments) == 0)
		for (guint i = 0; i < segments->len; i++) {
			struct ipc_obj *o = &g_array_index(segments, struct ipc_obj, i);

			g_hash_table_insert(a->seen, GINT_TO_POINTER(o->id), g_memdup2(o, sizeof(*o)));
		}
	while (proc && (entry = g_dir_read_name(proc))) {
		g_autofree char *maps = NULL, *path = NULL;
		struct scan_one one = { .pass = a, .included = -1 };
		gsize len;

		if (!g_ascii_isdigit(*entry))
			continue;
		one.pid = (pid_t)g_ascii_strtoll(entry, NULL, 10);
		path = g_strdup_printf("/proc/%d/maps", (int)one.pid);
		if (g_file_get_contents(path, &maps, &len, NULL))
			procmaps_each_segment(maps, len, note_mapping, &one);
	}
	a->done_at = g_get_monotonic_time();
	return a;
}

/* Does pass a still tell the truth about obj? */
static bool attached_fresh(const struct attached_pass *a, const struct ipc_obj *obj)
{
	const struct ipc_obj *was;

	if (!a || a->ns != ns_current_ino() || g_get_monotonic_time() - a->done_at > ATTACHED_FRESH_US)
		return false;
	was = g_hash_table_lookup(a->seen, GINT_TO_POINTER(obj->id));
	return was && was->nattch == obj->nattch && was->lpid == obj->lpid &&
	       was->atime == obj->atime && was->mtime == obj->mtime;
}

/* The attached pids of obj, appended to pids; 0 or -EAGAIN (logged). */
static int attached_pids(const struct ipc_obj *obj, GArray *pids)
{
	struct attached_pass *a;
	GArray *found;

	g_mutex_lock(&attached_lock);
	while (!attached_fresh(attached_last, obj) && attached_scanning) {
		if (attached_waiters >= ATTACHED_WAITERS_MAX) {
			g_mutex_unlock(&attached_lock);
			return reason(EAGAIN, "user.ipc.attached of shm id %d: a scan of every process runs, and %d requests wait for it already",
				      obj->id, ATTACHED_WAITERS_MAX);
		}
		attached_waiters++;
		g_cond_wait(&attached_done, &attached_lock);
		attached_waiters--;
	}
	if (!attached_fresh(attached_last, obj)) {
		attached_scanning = true;
		g_mutex_unlock(&attached_lock);
		a = attached_scan();
		g_mutex_lock(&attached_lock);
		attached_pass_free(attached_last);
		attached_last = a;
		attached_scanning = false;
		g_cond_broadcast(&attached_done);
	}
	found = g_hash_table_lookup(attached_last->pids, GINT_TO_POINTER(obj->id));
	if (found)
		g_array_append_vals(pids, found->data, found->len);
	g_mutex_unlock(&attached_lock);
	return 0;
}

static int format_attached(struct caller *caller, const struct ipc_obj *obj, GString *out)
{
	g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	int err;

	if (!perm_may_access(caller, obj, PERM_READ))
		return reason(EACCES, "user.ipc.attached of shm id %d: mode %03o denies uid %u read permission, which this answer needs",
			      obj->id, obj->mode & 0777, (unsigned)caller->uid);
	/* Nothing has it mapped: spare the scan (passthrough mappings are not in nattch). */
	if (obj->pending || (obj->nattch == 0 && shm_backing_mappers(obj->id, NULL) == 0))
		return 0;
	err = attached_pids(obj, pids);
	if (err)
		return err;
	sysv_format_hidden(sysv_format_processes(caller, pids, out), out);
	return 0;
}

/* The kernel keeps a segment's creator: cpid, and ctime to tell a reused pid. */
static int format_creator(struct caller *caller, const struct ipc_obj *obj, GString *out)
{
	if (obj->pending)
		g_string_append(out, "ipcfs");		/* a placeholder: a name in the daemon only */
	else
		sysv_format_creator(caller, obj->cpid, obj->ctime, out);
	return 0;
}

/*
 * A leftover, as far as the kernel can tell: nothing has it attached or
 * mapped, and its creator and its last attacher or detacher are gone.  A
 * segment made through the mount has the daemon as its creator, which counts
 * as gone: its last user decides.
 */
static int format_orphan(const struct ipc_obj *obj, GString *out)
{
	bool orphan = !obj->pending && obj->nattch == 0 && shm_backing_mappers(obj->id, NULL) == 0 &&
		      sysv_process_since(obj->cpid, obj->ctime) != SYSV_ALIVE &&
		      sysv_process_since(obj->lpid, MAX(obj->atime, obj->mtime)) != SYSV_ALIVE;

	g_string_append(out, orphan ? "1" : "0");
	return 0;
}

static const struct xattr_field shm_xattrs[] = {
	{ .name = "cpid", .format = format_cpid, .pids = true },
	{ .name = "lpid", .format = format_lpid, .pids = true },
	{ .name = "nattch", .format = format_nattch },
	{ .name = "attached", .format_for = format_attached },
	{ .name = "status", .format = format_status },
	{ .name = "creator", .format_for = format_creator },
	{ .name = "orphan", .format = format_orphan },
	{ .name = NULL },
};

static int shm_setup(void)
{
	pending_by_id = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	return shm_backing_setup();
}

/* Placeholders are names in the daemon only: they go with its hold on their namespace. */
static void shm_let_go_ns(uint64_t ns_id)
{
	GHashTableIter iter;
	gpointer value;

	g_mutex_lock(&pending_lock);
	g_hash_table_iter_init(&iter, pending_by_id);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		if (((struct pending *)value)->ns_id == ns_id)
			g_hash_table_iter_remove(&iter);
	g_mutex_unlock(&pending_lock);
	shm_backing_let_go_ns(ns_id);
}

static void shm_teardown(void)
{
	g_clear_pointer(&attached_last, attached_pass_free);
	shm_backing_teardown();
	g_hash_table_unref(pending_by_id);
}

const struct ipcfs_kind kind_shm = {
	.name = "shm",
	.dir_mode = 01777,
	.xattr_prefix = "user.ipc.",
	.xattrs = shm_xattrs,
	.sysv = true,
	.setup = shm_setup,
	.init = shm_backing_init,
	.teardown = shm_teardown,
	.let_go_ns = shm_let_go_ns,
	.list = shm_list,
	.format_name = sysv_format_name,
	.lookup = sysv_lookup,
	.stat = shm_stat,
	.complete_attr = shm_complete_attr,
	.find_key = shm_find_key,
	.create_key = shm_create_key,
	.create = sysv_create,
	.remove = shm_remove,
	.set_owner = shm_set_owner,
	.truncate = shm_truncate,
	.open = shm_file_open,
	.read = shm_file_read,
	.write = shm_file_write,
	.data_size = shm_data_size,
	.release = shm_backing_release,
};
