// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel /chan backend: /chan/<n> is channel.ko's /dev/channel<n>.
 *
 * Every FUSE open holds an open of the device of its own, so each keeps its
 * own read position in the module, and user.chan.readers counts it.  The
 * device is always opened O_NONBLOCK: a FUSE worker never sleeps in it.  A
 * read that finds nothing is parked (struct chan_wait) and its device file
 * armed in one epoll set; a single watcher thread answers parked reads and
 * forwards poll notifications when the module says a file is ready.
 *
 * The listing, modes and owners are the device nodes', read live; chmod and
 * chown change the nodes.  The counters are the module's sysfs files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan_backend.h"
#include "chan_wait.h"
#include "kind.h"
#include "log.h"
#include "quota.h"

#define SYSFS_DIR "/sys/class/channel"

/* The device node of channel id, in node (at least NODE_PATH_MAX bytes). */
#define NODE_PATH_MAX 32
static const char *node_path(int id, char *node)
{
	g_snprintf(node, NODE_PATH_MAX, "/dev/channel%d", id);
	return node;
}

struct kernel_file {
	int fd;			/* our open of /dev/channel<n> */
	int id;
	uid_t opener;		/* whose share of device_fds the fd is */
	uint64_t serial;	/* the epoll key: never reused, unlike the address */
	bool in_epoll;		/* added to the epoll set (armed or not) */
	GMutex lock;
	struct chan_wait wait;	/* guarded by lock */
};

static int epoll_fd = -1;
static int stop_fd = -1;	/* an eventfd that ends the watcher */
static GThread *watcher;
/* Open files by serial, so that the watcher never touches a released one. */
static GMutex files_lock;
static GHashTable *files;
static uint64_t next_serial = 1;	/* 0 is stop_fd's key */

/*
 * Each open holds one of the daemon's descriptors, and a daemon out of
 * descriptors fails everyone (it cannot read /proc either), so device opens
 * are bounded: DEVICE_FDS_PER_UID per uid, and in all what RLIMIT_NOFILE
 * leaves after FDS_KEPT_FREE for everything else, at most DEVICE_FDS_MAX.
 */
#define DEVICE_FDS_PER_UID 1024
#define DEVICE_FDS_MAX 4096
#define FDS_KEPT_FREE 256
static struct quota device_fds;

static gpointer watch(gpointer unused);

static int kernel_setup(void)
{
	struct rlimit nofile;

	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (epoll_fd < 0 || stop_fd < 0) {
		fprintf(stderr, "ipcfs: chan=kernel: epoll: %s\n", strerror(errno));
		return -errno;
	}
	epoll_ctl(epoll_fd, EPOLL_CTL_ADD, stop_fd, &(struct epoll_event){ .events = EPOLLIN });
	files = g_hash_table_new(g_int64_hash, g_int64_equal);
	if (getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur <= FDS_KEPT_FREE)
		nofile.rlim_cur = 2 * FDS_KEPT_FREE;
	quota_init(&device_fds, (unsigned)MIN(nofile.rlim_cur - FDS_KEPT_FREE, DEVICE_FDS_MAX),
		   DEVICE_FDS_PER_UID);
	watcher = g_thread_new("chan-watch", watch, NULL);
	return 0;
}

static void kernel_teardown(void)
{
	if (watcher) {
		eventfd_write(stop_fd, 1);
		g_thread_join(watcher);
		watcher = NULL;
	}
	if (files) {
		g_hash_table_destroy(files);
		quota_clear(&device_fds);
	}
	files = NULL;
	close(stop_fd);
	close(epoll_fd);
}

/* ---- Attributes: the device nodes and sysfs ---- */

static int node_obj(int id, struct ipc_obj *obj)
{
	char node[NODE_PATH_MAX];
	struct stat st;

	if (stat(node_path(id, node), &st) != 0)
		return -errno;
	if (!S_ISCHR(st.st_mode))
		return reason(ENOENT, "chan %d: %s is not a character device", id, node);
	memset(obj, 0, sizeof(*obj));
	obj->id = id;
	obj->mode = st.st_mode & 0777;
	obj->uid = obj->cuid = st.st_uid;
	obj->gid = obj->cgid = st.st_gid;
	obj->atime = st.st_atime;
	obj->mtime = st.st_mtime;
	obj->ctime = st.st_ctime;
	return 0;
}

static gint by_id(gconstpointer a, gconstpointer b)
{
	const struct ipc_obj *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* One file per channel the module has and whose node exists. */
static int kernel_list(GArray *objs)
{
	g_autoptr(GDir) dir = g_dir_open(SYSFS_DIR, 0, NULL);
	const char *name;

	if (!dir)
		return 0;	/* the module is gone: no channels */
	while ((name = g_dir_read_name(dir))) {
		guint64 n;
		struct ipc_obj obj;

		if (g_str_has_prefix(name, "channel") &&
		    g_ascii_string_to_unsigned(name + strlen("channel"), 10, 0, G_MAXINT, &n, NULL) &&
		    node_obj((int)n, &obj) == 0)
			g_array_append_val(objs, obj);
	}
	g_array_sort(objs, by_id);
	return 0;
}

static int kernel_stat(int id, struct ipc_obj *obj)
{
	int err = node_obj(id, obj);

	return err == -ENOENT || err == -ENOTDIR ? -ENOENT : err;
}

static int kernel_set_owner(int id, mode_t mode, uid_t uid, gid_t gid)
{
	char node[NODE_PATH_MAX];

	node_path(id, node);
	if (chown(node, uid, gid) != 0 || chmod(node, mode & 0777) != 0)
		return reason(errno, "chmod/chown %s: %s", node, strerror(errno));
	return 0;
}

static int read_counter(int id, const char *name, uint64_t *out)
{
	g_autofree char *path = g_strdup_printf(SYSFS_DIR "/channel%d/%s", id, name);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_file_get_contents(path, &text, NULL, &error))
		return reason(ENOENT, "%s: %s", path, error->message);
	*out = g_ascii_strtoull(text, NULL, 10);
	return 0;
}

static int kernel_counters(int id, struct chan_counters *out)
{
	int err = read_counter(id, "records", &out->records);

	if (!err)
		err = read_counter(id, "bytes", &out->bytes);
	if (!err)
		err = read_counter(id, "readers", &out->readers);
	if (!err)
		err = read_counter(id, "dropped", &out->dropped);
	return err;
}

/* ---- Open files ---- */

static int kernel_open(struct ipcfs_file *file)
{
	char node[NODE_PATH_MAX];
	struct kernel_file *kf;
	const char *refusal;
	int fd;

	refusal = quota_take(&device_fds, file->opener);
	if (refusal)
		return reason(quota_refused_in_all(refusal) ? ENFILE : EMFILE,
			      "open chan %d by uid %u: its device descriptors are %s", file->obj.id,
			      (unsigned)file->opener, refusal);
	fd = open(node_path(file->obj.id, node), (file->flags & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		quota_give(&device_fds, file->opener);
		return reason(errno, "open %s: %s", node, strerror(errno));
	}
	kf = g_new0(struct kernel_file, 1);
	kf->fd = fd;
	kf->id = file->obj.id;
	kf->opener = file->opener;
	g_mutex_init(&kf->lock);
	chan_wait_init(&kf->wait, &kf->lock, file);
	g_mutex_lock(&files_lock);
	kf->serial = next_serial++;
	g_hash_table_insert(files, &kf->serial, kf);
	g_mutex_unlock(&files_lock);
	file->priv = kf;
	return 0;
}

static void kernel_release(struct ipcfs_file *file)
{
	struct kernel_file *kf = file->priv;

	/*
	 * After this the watcher cannot find kf, and is not using it.  No
	 * request is: this runs when the file's last reference goes (kind.h).
	 */
	g_mutex_lock(&files_lock);
	g_hash_table_remove(files, &kf->serial);
	g_mutex_unlock(&files_lock);
	chan_wait_clear(&kf->wait);
	close(kf->fd);		/* also takes it out of the epoll set */
	quota_give(&device_fds, kf->opener);
	g_mutex_clear(&kf->lock);
	g_free(kf);
}

/* Ask the watcher to look at kf once the module says it is readable. Under kf->lock. */
static void arm(struct kernel_file *kf)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLPRI | EPOLLONESHOT,
		.data.u64 = kf->serial,
	};

	if (epoll_ctl(epoll_fd, kf->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, kf->fd, &ev) == 0)
		kf->in_epoll = true;
	else
		log_debug("chan %d: epoll_ctl: %s", kf->id, strerror(errno));
}

/* Read the device's next record, of at most size bytes, into a new *buf: n or -errno. Under kf->lock. */
static ssize_t read_record(void *src, size_t size, char **buf)
{
	struct kernel_file *kf = src;
	ssize_t n;

	*buf = g_malloc(size);
	n = read(kf->fd, *buf, size);
	return n < 0 ? -errno : n;
}

static void rewind_device(void *src)
{
	struct kernel_file *kf = src;

	lseek(kf->fd, 0, SEEK_SET);
}

static void arm_source(void *src)
{
	arm(src);
}

static const struct chan_source device_source = {
	.read_record = read_record, .rewind = rewind_device, .parked = arm_source,
};

static void kernel_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off,
			bool nonblock)
{
	struct kernel_file *kf = file->priv;

	chan_wait_read(&kf->wait, &device_source, kf, req, size, off, nonblock);
}

/* The watcher found kf ready: take the record for its parked read, and its poll handle. */
static void take_wakes(struct kernel_file *kf, struct chan_reply *r)
{
	g_mutex_lock(&kf->lock);
	if (chan_wait_take_wakes(&kf->wait, &device_source, kf, r))
		arm(kf);	/* another reader of the device took the record */
	g_mutex_unlock(&kf->lock);
}

static gpointer watch(gpointer unused)
{
	struct epoll_event events[64];

	(void)unused;
	for (;;) {
		int n = epoll_wait(epoll_fd, events, G_N_ELEMENTS(events), -1);

		for (int i = 0; i < n; i++) {
			struct chan_reply r = { 0 };
			struct kernel_file *kf;

			if (events[i].data.u64 == 0)
				return NULL;
			/* kf cannot be released while files_lock is held; r holds its file after. */
			g_mutex_lock(&files_lock);
			kf = g_hash_table_lookup(files, &events[i].data.u64);
			if (kf)
				take_wakes(kf, &r);
			g_mutex_unlock(&files_lock);
			chan_reply_send(&r);
		}
	}
}

static void kernel_write(fuse_req_t req, struct ipcfs_file *file, const char *buf, size_t size)
{
	struct kernel_file *kf = file->priv;
	ssize_t n = write(kf->fd, buf, size);

	if (n < 0)
		reply_error(req, reason(errno, "write chan %d: %zu bytes: %s", kf->id, size,
					    strerror(errno)));
	else
		fuse_reply_write(req, (size_t)n);
}

static void kernel_poll(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph)
{
	struct kernel_file *kf = file->priv;
	struct pollfd pfd = { .fd = kf->fd, .events = POLLIN | POLLPRI | POLLOUT };

	g_mutex_lock(&kf->lock);
	if (poll(&pfd, 1, 0) < 0)
		pfd.revents = POLLERR;
	chan_wait_keep_poll(&kf->wait, ph);
	if (ph)
		arm(kf);
	g_mutex_unlock(&kf->lock);
	fuse_reply_poll(req, pfd.revents);
}

static void kernel_seek_end(struct ipcfs_file *file)
{
	struct kernel_file *kf = file->priv;

	g_mutex_lock(&kf->lock);
	lseek(kf->fd, 0, SEEK_END);
	kf->wait.offset = 0;
	g_mutex_unlock(&kf->lock);
}

const struct chan_backend chan_kernel = {
	.name = "kernel",
	.setup = kernel_setup,
	.teardown = kernel_teardown,
	.list = kernel_list,
	.stat = kernel_stat,
	.set_owner = kernel_set_owner,
	.counters = kernel_counters,
	.open = kernel_open,
	.release = kernel_release,
	.read = kernel_read,
	.write = kernel_write,
	.poll = kernel_poll,
	.seek_end = kernel_seek_end,
};
