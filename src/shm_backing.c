// SPDX-License-Identifier: GPL-2.0-only
#include "shm_backing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "session.h"
#include "log.h"
#include "ns.h"
#include "options.h"
#include "perm.h"
#include "procmaps.h"
#include "sysv.h"

#if HAVE_FUSE_PASSTHROUGH
#include <linux/fuse.h>
#include <sys/ioctl.h>
#endif

/*
 * Descriptors of segments' shmem files, by namespace and segment id.  Bounded: beyond
 * SEG_CACHE_MAX entries, unused ones are closed.  An entry is dropped as soon
 * as its segment is seen to be gone, so the daemon never keeps a destroyed
 * segment's memory alive: a sweeper thread looks every SWEEP_INTERVAL_US
 * while the cache holds entries of the served namespace (under /ns/<ino>, at
 * the next cache miss or listing there, and when the daemon lets go of the
 * namespace), and so does every cache miss and listing.  One exception: while passthrough opens use
 * its backing id, it stays (marked forgotten) until the last of them is
 * released.  The kernel fails with EIO any open of an inode that has a
 * backing file unless it names that same backing file, and a removed segment
 * that is still attached stays reachable as id-<id>.
 */
#define SEG_CACHE_MAX 64
#define SWEEP_INTERVAL_US (G_USEC_PER_SEC / 2)

/*
 * A segment, as one 64-bit key: its namespace's inode number (ns_current_ino()
 * of ns.h; the kernel's are 32-bit, proc_alloc_inum) above its id there.
 */
static uint64_t seg_key(uint64_t ns_id, int id)
{
	return ns_id << 32 | (uint32_t)id;
}

static uint64_t seg_key_ns(uint64_t key)
{
	return key >> 32;
}

struct seg_fd {
	uint64_t key;		/* seg_key() */
	int id;
	struct ipc_obj obj;	/* which segment, as it was when fd was opened (ipc_obj_same) */
	int fd;
	/*
	 * fd mapped once, read-only, for classic reads: the reply is written to
	 * /dev/fuse straight from the segment's pages (one copy, into the reader's
	 * pages), not pread into a buffer first (two).  A mapping of the shmem
	 * file is not an attachment: nattch does not count it.  NULL until the
	 * first read; MAP_FAILED if it cannot be mapped (reads use pread then).
	 */
	char *map;
	size_t map_len;
	int backing_id;	/* registered with the kernel for passthrough; 0 if not */
	unsigned passthrough_opens;	/* open files the kernel serves from fd; under cache_lock */
	bool forgotten;		/* segment gone or replaced: kept only for passthrough_opens */
	int refs;	/* the cache's own reference counts as one; so does each passthrough open */
};

static GMutex cache_lock;
static GHashTable *cache;	/* seg_key() -> struct seg_fd */
static GCond sweeper_wake;	/* an entry came, or the sweeper is to stop; with cache_lock */
static GThread *sweeper;
static bool sweeper_stop;
static bool map_files_works = true;	/* false once /proc/self/map_files is refused */
static bool passthrough;		/* chosen at FUSE init */

static void backing_close(int backing_id);

void shm_from_ds(int id, const struct shmid_ds *ds, struct ipc_obj *obj)
{
	sysv_obj_from_perm(obj, id, &ds->shm_perm);
	obj->size = ds->shm_segsz;
	obj->cpid = ds->shm_cpid;
	obj->lpid = ds->shm_lpid;
	obj->nattch = ds->shm_nattch;
	obj->atime = ds->shm_atime;
	obj->mtime = ds->shm_dtime;
	obj->ctime = ds->shm_ctime;
	obj->blocks = -1;	/* IPC_STAT does not say: see kind_shm.c, shm_complete_attr() */
}

/* Segment id of the namespace this thread acts in. */
static struct seg_fd *cache_find(int id)
{
	uint64_t key = seg_key(ns_current_ino(), id);

	return g_hash_table_lookup(cache, &key);
}

static void seg_fd_unref(struct seg_fd *s)
{
	if (--s->refs == 0) {
		if (s->backing_id > 0)
			backing_close(s->backing_id);
		if (s->map && s->map != MAP_FAILED)
			munmap(s->map, s->map_len);
		close(s->fd);
		g_free(s);
	}
}

/*
 * Attach obj's segment by its id; NULL with errno EIDRM unless it still is
 * that segment.  While attached, the id cannot pass to another segment (a
 * removed segment keeps its id until the last detach), so one IPC_STAT
 * after the attach tells what was attached.
 */
static void *attach_checked(const struct ipc_obj *obj, int flags, struct shmid_ds *ds)
{
	struct ipc_obj now;
	void *addr = shmat(obj->id, NULL, flags);

	if (addr == (void *)-1) {
		errno = errno == EINVAL ? EIDRM : errno;
		return NULL;
	}
	if (shmctl(obj->id, IPC_STAT, ds) == 0) {
		shm_from_ds(obj->id, ds, &now);
		if (ipc_obj_same(obj, &now))
			return addr;
	}
	shmdt(addr);
	errno = EIDRM;
	return NULL;
}

/* The shmem file of this process's attachment of a segment of size bytes at addr, or -errno. */
static int open_attachment(const void *addr, size_t size, int flags)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char path[80];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)addr,
		 (unsigned long)addr + ((size + page - 1) & ~(page - 1)));
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * The segment's file, taken from a process that has it attached: its
 * /proc/<pid>/map_files entry for the attachment.  No shmat, so nothing the
 * kernel reports about the segment moves (lpid, atime, dtime, nattch).  The
 * candidates are the last process to attach or detach and the creator, one
 * of which is attached in most programs (a database's postmaster, a
 * producer).  -ENOENT if neither is, or the file is not that segment's.
 */
static int borrow_segment_file(const struct ipc_obj *obj)
{
	const pid_t candidates[] = { obj->lpid, obj->cpid };
	uint64_t here = ns_current_ino();

	for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++) {
		pid_t pid = candidates[i];
		g_autofree char *maps = NULL, *path = NULL;
		unsigned long start, end;
		struct shmid_ds ds;
		struct ipc_obj now;
		struct stat st;
		gsize len;
		int fd;

		if (pid <= 0 || (i == 1 && pid == candidates[0]) || pid == getpid() ||
		    !ns_process_in(pid, here))
			continue;
		path = g_strdup_printf("/proc/%d/maps", (int)pid);
		if (!g_file_get_contents(path, &maps, &len, NULL) ||
		    !procmaps_find_segment(maps, len, obj->id, &start, &end))
			continue;
		g_free(path);
		path = g_strdup_printf("/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* The kernel numbers a segment's shmem file by the segment's id; and it is still obj. */
		if (fstat(fd, &st) == 0 && st.st_ino == (ino_t)(unsigned)obj->id &&
		    shmctl(obj->id, IPC_STAT, &ds) == 0) {
			shm_from_ds(obj->id, &ds, &now);
			if (ipc_obj_same(obj, &now)) {
				log_debug("shm id %d: its file taken from pid %d's attachment, not attached by the daemon",
					  obj->id, (int)pid);
				return fd;
			}
		}
		close(fd);
	}
	return -ENOENT;
}

/*
 * The segment's file.  Borrowed from an attached process where one is;
 * otherwise attach, open the attachment's map_files entry, and detach, which
 * moves lpid (to the daemon), atime and dtime, as docs/shm.md says.
 */
static int open_segment_file(const struct ipc_obj *obj)
{
	struct shmid_ds ds;
	void *addr;
	int fd;

	if (obj->nattch > 0) {
		fd = borrow_segment_file(obj);
		if (fd >= 0)
			return fd;
	}
	addr = attach_checked(obj, 0, &ds);
	if (!addr)
		return -errno;
	fd = open_attachment(addr, ds.shm_segsz, O_RDWR);
	shmdt(addr);
	return fd;
}

/* Drop (or, for passthrough opens, mark) the entry; call with cache_lock held. */
static void forget_locked(struct seg_fd *s)
{
	if (s->passthrough_opens > 0)
		s->forgotten = true;	/* see the top: dropped at the last such release */
	else
		g_hash_table_remove(cache, &s->key);
}

/*
 * Drop the entries of segments that are gone or whose id names another
 * segment now, so that the daemon does not keep a removed segment's memory
 * alive.  Entries in use by a read or write are left to the next sweep.
 */
static void sweep_locked(void)
{
	g_autoptr(GPtrArray) gone = g_ptr_array_new();
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, cache);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		struct seg_fd *s = value;
		struct shmid_ds ds;
		struct ipc_obj now;

		if (seg_key_ns(s->key) != ns_current_ino() || s->forgotten || s->refs > 1 + (int)s->passthrough_opens)
			continue;
		if (shmctl(sysv_id_to_index(s->id), SHM_STAT_ANY, &ds) == s->id) {
			shm_from_ds(s->id, &ds, &now);
			if (ipc_obj_same(&s->obj, &now))
				continue;
		}
		g_ptr_array_add(gone, s);
	}
	for (guint i = 0; i < gone->len; i++)
		forget_locked(g_ptr_array_index(gone, i));
}

void shm_backing_sweep(void)
{
	g_mutex_lock(&cache_lock);
	sweep_locked();
	g_mutex_unlock(&cache_lock);
}

/* A referenced descriptor for obj's segment, or NULL to use shmat per operation. */
static struct seg_fd *seg_fd_get(const struct ipc_obj *obj)
{
	struct seg_fd *s;
	int fd;

	g_mutex_lock(&cache_lock);
	s = cache_find(obj->id);
	if (s && !ipc_obj_same(&s->obj, obj)) {
		/* The id names another segment now: never hand out the old one's memory. */
		if (!s->forgotten)
			forget_locked(s);
		s = NULL;
		/* Still kept for passthrough opens: this one goes without a cached fd. */
		if (cache_find(obj->id))
			goto out;
	}
	if (s || !map_files_works)
		goto out;
	/* A miss: a good moment to let go of segments that are gone. */
	sweep_locked();
	fd = open_segment_file(obj);
	if (fd == -EPERM || fd == -EACCES) {
		map_files_works = false;
		log_debug("shm: /proc/self/map_files refused (%s): without CAP_SYS_ADMIN, each read and write attaches the segment for its duration",
			  strerror(-fd));
		goto out;
	}
	if (fd < 0)
		goto out;
	if (g_hash_table_size(cache) >= SEG_CACHE_MAX) {
		GHashTableIter iter;
		gpointer value;

		g_hash_table_iter_init(&iter, cache);
		while (g_hash_table_iter_next(&iter, NULL, &value))
			if (((struct seg_fd *)value)->refs == 1)
				g_hash_table_iter_remove(&iter);
	}
	s = g_new0(struct seg_fd, 1);
	s->key = seg_key(ns_current_ino(), obj->id);
	s->id = obj->id;
	s->obj = *obj;
	s->fd = fd;
	s->refs = 1;
	g_hash_table_insert(cache, &s->key, s);
	g_cond_signal(&sweeper_wake);
out:
	if (s)
		s->refs++;
	g_mutex_unlock(&cache_lock);
	return s;
}

static void seg_fd_put(struct seg_fd *s)
{
	g_mutex_lock(&cache_lock);
	seg_fd_unref(s);
	g_mutex_unlock(&cache_lock);
}

void shm_backing_forget(int id)
{
	struct seg_fd *s;

	g_mutex_lock(&cache_lock);
	s = cache_find(id);
	if (s)
		forget_locked(s);
	g_mutex_unlock(&cache_lock);
}

void shm_backing_let_go_ns(uint64_t ns_id)
{
	GHashTableIter iter;
	gpointer value;

	g_mutex_lock(&cache_lock);
	/* No file is open in ns any more, so no entry is in use. */
	g_hash_table_iter_init(&iter, cache);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		if (seg_key_ns(((struct seg_fd *)value)->key) == ns_id)
			g_hash_table_iter_remove(&iter);
	g_mutex_unlock(&cache_lock);
}

static void cache_value_unref(gpointer value)
{
	seg_fd_unref(value);
}

int shm_backing_setup(void)
{
	cache = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, cache_value_unref);
	return 0;
}

/*
 * The sweeper: without it, a removed segment that was read through the
 * daemon stayed in memory until the next cache miss or listing, which may
 * never come.  It sleeps while the cache is empty.  It runs in the served
 * namespace (started at FUSE init, outside any request's ns_scope), so it
 * sweeps that namespace's entries.
 */
static gpointer sweep_loop(gpointer data)
{
	(void)data;
	g_mutex_lock(&cache_lock);
	while (!sweeper_stop) {
		if (g_hash_table_size(cache) == 0) {
			g_cond_wait(&sweeper_wake, &cache_lock);
			continue;
		}
		if (!g_cond_wait_until(&sweeper_wake, &cache_lock,
				       g_get_monotonic_time() + SWEEP_INTERVAL_US) && !sweeper_stop)
			sweep_locked();
	}
	g_mutex_unlock(&cache_lock);
	return NULL;
}

void shm_backing_teardown(void)
{
	if (sweeper) {
		g_mutex_lock(&cache_lock);
		sweeper_stop = true;
		g_cond_signal(&sweeper_wake);
		g_mutex_unlock(&cache_lock);
		g_thread_join(sweeper);
		sweeper = NULL;
	}
	g_hash_table_unref(cache);
}

#if HAVE_FUSE_PASSTHROUGH
/* The daemon itself, judged as perm.c judges callers. */
static bool daemon_has_cap_sys_admin(void)
{
	struct caller self;
	bool has;

	caller_init(&self, geteuid(), getegid(), getpid());
	has = perm_has_global_cap(&self, PERM_CAP_SYS_ADMIN);
	caller_clear(&self);
	return has;
}

/*
 * Closing a backing id can happen wherever a cached descriptor is dropped,
 * also outside any request, so it goes to the session's device directly
 * (fuse_passthrough_close() only needs a request to find the same fd).
 */
static void backing_close(int backing_id)
{
	if (ioctl(fuse_session_fd(ipcfs_session), FUSE_DEV_IOC_BACKING_CLOSE, &backing_id) != 0)
		log_debug("shm: closing backing id %d: %s", backing_id, strerror(errno));
}
#else
static void backing_close(int backing_id)
{
	(void)backing_id;
}
#endif

void shm_backing_init(struct fuse_conn_info *conn)
{
	const char *why_classic = "no FUSE passthrough in this libfuse";

	if (!sweeper)
		sweeper = g_thread_new("ipcfs-shm-sweep", sweep_loop, NULL);

	passthrough = false;
	if (ipcfs_options.classic)
		why_classic = "-o classic";
#if HAVE_FUSE_PASSTHROUGH
	else if (!(conn->capable_ext & FUSE_CAP_PASSTHROUGH))
		why_classic = "the kernel offers no FUSE passthrough";
	else if (!daemon_has_cap_sys_admin())
		why_classic = "passthrough needs CAP_SYS_ADMIN";
	else
		passthrough = fuse_set_feature_flag(conn, FUSE_CAP_PASSTHROUGH);
#else
	(void)conn;
#endif
	if (passthrough)
		log_debug("shm: passthrough mode: the kernel reads, and maps, each segment's own shmem file; writes go through the daemon, which keeps them inside the segment");
	else
		log_debug("shm: classic mode (%s): reads and writes go through the daemon with direct I/O; a MAP_SHARED mmap fails with ENODEV (FUSE cannot keep it coherent), MAP_PRIVATE gives a private copy",
			  why_classic);
}

void shm_backing_log_mmap_refusal(void)
{
	static gsize logged;

	if (!passthrough && g_once_init_enter(&logged)) {
		log_debug("shm: MAP_SHARED mmap of /shm files is refused with ENODEV in classic mode: only FUSE passthrough can map the segment itself");
		g_once_init_leave(&logged, 1);
	}
}

/*
 * In passthrough mode an open hands the kernel the segment's shmem file, and
 * every open of the same inode must hand the same backing id, so the id
 * lives in the cache entry, which each such open holds.
 *
 * Read-only opens are served by the kernel alone.  Opens that may write keep
 * FOPEN_DIRECT_IO, which the kernel lets override passthrough for read and
 * write but not for mmap: writes still come to the daemon, which alone can
 * refuse (ENOSPC) or resize on a write past the end, since a write to the
 * shmem file itself would silently grow it beyond the segment.
 */
int shm_backing_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi)
{
#if HAVE_FUSE_PASSTHROUGH
	struct seg_fd *s;
	int backing_id;

	if (!passthrough || file->obj.pending)
		return 0;
	s = seg_fd_get(&file->obj);
	if (!s)
		return 0;
	g_mutex_lock(&cache_lock);
	if (s->backing_id <= 0) {
		s->backing_id = fuse_passthrough_open(req, s->fd);
		if (s->backing_id <= 0)
			log_debug("shm: fuse_passthrough_open of shm id %d failed (%s): this open is served by the daemon",
				  file->obj.id, strerror(errno));
	}
	/* Decided under the lock: another open may register the id just after we unlock. */
	backing_id = s->backing_id;
	if (backing_id > 0)
		s->passthrough_opens++;
	g_mutex_unlock(&cache_lock);
	if (backing_id <= 0) {
		seg_fd_put(s);
		return 0;
	}
	fi->backing_id = backing_id;
	fi->direct_io = (fi->flags & O_ACCMODE) != O_RDONLY;
	file->priv = s;
#else
	(void)req;
	(void)file;
	(void)fi;
#endif
	return 0;
}

void shm_backing_release(struct ipcfs_file *file)
{
	struct seg_fd *s = file->priv;

	if (!s)
		return;
	g_mutex_lock(&cache_lock);
	s->passthrough_opens--;
	if (s->passthrough_opens == 0 && s->forgotten)
		g_hash_table_remove(cache, &s->key);	/* this open still holds s */
	seg_fd_unref(s);
	g_mutex_unlock(&cache_lock);
}

unsigned shm_backing_mappers(int id, const struct ipcfs_file *self)
{
	struct seg_fd *s;
	unsigned n = 0;

	g_mutex_lock(&cache_lock);
	s = cache_find(id);
	if (s)
		n = s->passthrough_opens - (self && self->priv == s);
	g_mutex_unlock(&cache_lock);
	return n;
}

/* Copy into a temporary attachment, for daemons without CAP_SYS_ADMIN. */
static int write_attached(const struct ipc_obj *obj, const void *from, size_t size, off_t off)
{
	struct shmid_ds ds;
	char *addr = attach_checked(obj, 0, &ds);

	if (!addr)
		return -errno;
	memcpy(addr + off, from, size);
	shmdt(addr);
	return 0;
}

/* s's read-only mapping of the whole segment, made at the first read; NULL if it cannot be. */
static const char *seg_map(struct seg_fd *s)
{
	struct stat st;

	g_mutex_lock(&cache_lock);
	if (!s->map) {
		s->map = MAP_FAILED;
		if (fstat(s->fd, &st) == 0 && st.st_size > 0) {
			s->map_len = (size_t)st.st_size;
			s->map = mmap(NULL, s->map_len, PROT_READ, MAP_SHARED, s->fd, 0);
		}
		if (s->map == MAP_FAILED)
			log_debug("shm: mapping shm id %d for reads failed (%s): its reads are copied with pread",
				  s->id, strerror(errno));
	}
	g_mutex_unlock(&cache_lock);
	return s->map == MAP_FAILED ? NULL : s->map;
}

/*
 * A read's reply comes straight from the segment's memory where it can: the
 * daemon's mapping, or else a temporary attachment, detached once the reply
 * is written.  Only a segment that cannot be mapped is copied twice.
 */
void shm_backing_read(fuse_req_t req, const struct ipc_obj *obj, size_t size, off_t off)
{
	struct seg_fd *s = seg_fd_get(obj);
	g_autofree char *buf = NULL;
	const char *map;
	struct shmid_ds ds;
	char *addr;
	ssize_t n;

	if (!s) {
		addr = attach_checked(obj, SHM_RDONLY, &ds);
		if (!addr) {
			reply_error(req, reason(errno, "read shm id %d", obj->id));
			return;
		}
		fuse_reply_buf(req, addr + off, size);
		shmdt(addr);
		return;
	}
	map = seg_map(s);
	/*
	 * From the mapping: one copy.  But a page of a hole would be faulted in
	 * (allocated, charged to the daemon) by that copy, while pread of the
	 * shmem file reads holes as zeros without allocating: a range with a hole
	 * is read so (two copies, for sparse segments only).
	 */
	if (map && lseek(s->fd, off, SEEK_HOLE) >= off + (off_t)size) {
		fuse_reply_buf(req, map + off, size);
		seg_fd_put(s);
		return;
	}
	buf = g_malloc(size);
	n = pread(s->fd, buf, size, off);
	if (n < 0)
		reply_error(req, reason(errno, "read shm id %d", obj->id));
	else
		fuse_reply_buf(req, buf, (size_t)n);
	seg_fd_put(s);
}

void shm_copy_data(void *to, const void *from, size_t from_size, size_t len)
{
	off_t pos = 0, data, hole;
	int fd = open_attachment(from, from_size, O_RDONLY);

	if (fd < 0) {
		memcpy(to, from, len);	/* no map_files (no CAP_SYS_ADMIN): every byte */
		return;
	}
	while (pos < (off_t)len && (data = lseek(fd, pos, SEEK_DATA)) >= 0 && data < (off_t)len) {
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > (off_t)len)
			hole = (off_t)len;
		memcpy((char *)to + data, (const char *)from + data, (size_t)(hole - data));
		pos = hole;
	}
	close(fd);
}

void shm_backing_write(fuse_req_t req, const struct ipc_obj *obj, const char *buf, size_t size,
		       off_t off)
{
	struct seg_fd *s = seg_fd_get(obj);
	ssize_t n;
	int err;

	if (s) {
		n = pwrite(s->fd, buf, size, off);
		err = n < 0 ? -errno : 0;
		seg_fd_put(s);
	} else {
		err = write_attached(obj, buf, size, off);
		n = (ssize_t)size;
	}
	if (err)
		reply_error(req, reason(-err, "write shm id %d", obj->id));
	else
		fuse_reply_write(req, (size_t)n);
}

int shm_backing_zero(const struct ipc_obj *obj)
{
	struct seg_fd *s = seg_fd_get(obj);
	struct shmid_ds ds;
	char *addr;
	int err = 0;

	if (s) {
		/* Punching a hole in shmem zeroes the range for every attached process. */
		if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)obj->size) != 0)
			err = reason(errno, "zero shm id %d", obj->id);
		seg_fd_put(s);
		return err;
	}
	addr = attach_checked(obj, 0, &ds);
	if (!addr)
		return reason(errno, "zero shm id %d", obj->id);
	memset(addr, 0, obj->size);
	shmdt(addr);
	return 0;
}
