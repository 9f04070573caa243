// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IPC namespaces of the host (ns.h).
 *
 * Which namespaces exist is learnt from /proc/<pid>/ns/ipc, since the kernel
 * has no list of them.  To notice that the last process of a held namespace
 * is gone, the daemon watches one process in it (its witness) with a pidfd:
 * when the witness exits, another process in it becomes the witness, and if
 * there is none the namespace has vanished: the kernel is told to drop its
 * unused names (ns_on_vanish), which makes it forget their nodeids, after
 * which the daemon lets go of the namespace.
 *
 * The kernel keeps unused FUSE names in its cache, whatever their timeout,
 * until memory is short (only virtiofs deletes them at once), so that alone
 * would not do: a name still in use when the namespace vanished (an open
 * file, a shell's working directory) stays cached after its last use, which
 * the daemon is not told of.  So while a vanished namespace is still held,
 * the watcher asks the kernel again, every VANISHED_RETRY_MS.
 */
#include "ns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "sysv.h"

#define NS_UNKNOWN (-1)		/* a new thread starts in its creator's namespace */
#define SHOWN_PROCESSES 8	/* "a few pids": user.ns.pids lists at most these */
#define VANISHED_RETRY_MS 1000

struct ns_entry {
	uint64_t ino;		/* 0: the index is free */
	int fd;			/* the namespace, while held; else -1 */
	gint refs;		/* nodeids the kernel holds in it, open files and directories */
	pid_t witness;		/* a process last seen in it (0: none needed, the served one) */
	int pidfd;		/* the witness, watched while held; else -1 */
	bool vanished;		/* held, and no process is left in it */
	struct perm_chain chain;
};

static bool enabled;
static int served_fd = -1;
static uint64_t served_ino;
static __thread int current = NS_UNKNOWN;

/* Guards entries[] (but refs, which is atomic) and every setns into an index above 0. */
static GMutex ns_lock;
static struct ns_entry entries[NS_MAX];
static void (*let_go_hook)(unsigned index);
static void (*vanish_hook)(unsigned index);

static int epoll_fd = -1;
static int stop_fd = -1;
static GThread *watcher;

bool ns_enabled(void)
{
	return enabled;
}

unsigned ns_current(void)
{
	return current < 0 ? NS_SERVED : (unsigned)current;
}

uint64_t ns_ino(unsigned index)
{
	/* A held index keeps its inode number: no lock needed to read it. */
	return __atomic_load_n(&entries[index].ino, __ATOMIC_RELAXED);
}

uint64_t ns_current_ino(void)
{
	return ns_ino(ns_current());
}

/* ---- Moving a thread ---- */

static int enter(int index)
{
	int err = 0;

	if (index == current)
		return 0;
	if (index == (int)NS_SERVED) {
		if (setns(served_fd, CLONE_NEWIPC) != 0)
			return reason(errno, "setns into the served IPC namespace");
		perm_use_chain(NULL);
	} else {
		struct ns_entry *e = &entries[index];

		g_mutex_lock(&ns_lock);
		if (e->fd < 0)
			err = reason(ESTALE, "IPC namespace index %d: the daemon let go of it", index);
		else if (setns(e->fd, CLONE_NEWIPC) != 0)
			err = reason(errno, "setns into IPC namespace %llu", (unsigned long long)e->ino);
		else
			perm_use_chain(&e->chain);
		g_mutex_unlock(&ns_lock);
		if (err)
			return err;
	}
	current = index;
	return 0;
}

int ns_scope_enter(ns_scope *scope, unsigned index)
{
	int was = current;
	int err;

	g_assert(scope->was == NS_SCOPE_UNUSED);
	if (!enabled)
		return 0;	/* every thread is in the served namespace for good */
	err = enter((int)index);
	if (!err)
		scope->was = was;
	return err;
}

void ns_scope_end(ns_scope *scope)
{
	int was = scope->was;

	if (was == NS_SCOPE_UNUSED)
		return;
	scope->was = NS_SCOPE_UNUSED;
	/* A thread that did not know where it was goes to the served namespace. */
	if (was == NS_UNKNOWN || enter(was) != 0)
		enter((int)NS_SERVED);
}

struct thread_start {
	GThreadFunc func;
	gpointer data;
};

static gpointer start_in_served(gpointer p)
{
	struct thread_start start = *(struct thread_start *)p;

	g_free(p);
	if (enabled && enter((int)NS_SERVED) != 0)
		log_debug("a thread of the daemon stays in its creator's IPC namespace");
	return start.func(start.data);
}

GThread *ns_thread_new(const char *name, GThreadFunc func, gpointer data)
{
	struct thread_start *start = g_new(struct thread_start, 1);

	*start = (struct thread_start){ .func = func, .data = data };
	return g_thread_new(name, start_in_served, start);
}

/* ---- Which namespaces exist ---- */

/* Call found(pid, ino, data) for each process in /proc, in pid order, until it says stop. */
static void scan_processes(bool (*found)(pid_t pid, uint64_t ino, void *data), void *data)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;

	if (!proc) {
		reason(errno, "ns: cannot list /proc");
		return;
	}
	while ((d = readdir(proc))) {
		char path[64];
		struct stat st;
		char *end;
		long pid = strtol(d->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "%ld/ns/ipc", pid);
		if (fstatat(dirfd(proc), path, &st, 0) != 0)
			continue;	/* exited meanwhile */
		if (!found((pid_t)pid, st.st_ino, data))
			break;
	}
	closedir(proc);
}

static bool add_ino(pid_t pid, uint64_t ino, void *data)
{
	GHashTable *seen = data;

	if (!g_hash_table_contains(seen, &ino)) {
		uint64_t *key = g_new(uint64_t, 1);

		*key = ino;
		g_hash_table_insert(seen, key, GINT_TO_POINTER(pid));
	}
	return true;
}

struct first_in {
	uint64_t ino;
	pid_t pid;
};

static bool find_first(pid_t pid, uint64_t ino, void *data)
{
	struct first_in *want = data;

	if (ino != want->ino)
		return true;
	want->pid = pid;
	return false;
}

/* A process in namespace ino, or 0 if none is left. */
static pid_t process_in(uint64_t ino)
{
	struct first_in want = { .ino = ino };

	scan_processes(find_first, &want);
	return want.pid;
}

bool ns_process_in(pid_t pid, uint64_t ino)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)pid);
	return pid > 0 && stat(path, &st) == 0 && st.st_ino == ino;
}

static gint by_value(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

void ns_list(GArray *inos)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	GHashTableIter iter;
	gpointer key, pid;

	scan_processes(add_ino, seen);
	add_ino(0, served_ino, seen);
	g_mutex_lock(&ns_lock);
	for (unsigned i = 1; i < NS_MAX; i++) {
		struct ns_entry *e = &entries[i];

		if (!e->ino)
			continue;
		pid = g_hash_table_lookup(seen, &e->ino);
		if (pid)
			e->witness = GPOINTER_TO_INT(pid);
		else if (e->fd < 0 && g_atomic_int_get(&e->refs) == 0 && !g_hash_table_contains(seen, &e->ino))
			e->ino = 0;	/* gone, and nothing of the kernel names it: the index is free */
	}
	g_mutex_unlock(&ns_lock);
	g_hash_table_iter_init(&iter, seen);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_array_append_val(inos, *(uint64_t *)key);
	g_array_sort(inos, by_value);
}

/* ---- Holding a namespace ---- */

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Watch e's witness; with ns_lock held. */
static void watch_witness(struct ns_entry *e)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(e - entries) };

	if (e->pidfd >= 0) {
		close(e->pidfd);
		e->pidfd = -1;
	}
	if (!e->witness)
		return;
	e->pidfd = pidfd_of(e->witness);
	if (e->pidfd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, e->pidfd, &ev) != 0)
		reason(errno, "ns: cannot watch pid %d of IPC namespace %llu: it will not be seen to vanish",
		       (int)e->witness, (unsigned long long)e->ino);
}

/* Open e's namespace (its witness's, checked to be it); with ns_lock held. */
static int hold_entry(struct ns_entry *e)
{
	char path[64];
	struct stat st;
	int fd;

	if (e->ino == served_ino) {
		fd = fcntl(served_fd, F_DUPFD_CLOEXEC, 0);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)e->witness);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return reason(errno == ENOENT ? ENOENT : errno, "ns: cannot open IPC namespace %llu",
			      (unsigned long long)e->ino);
	/* The witness may have exited, and its pid gone to a process elsewhere. */
	if (fstat(fd, &st) != 0 || st.st_ino != e->ino) {
		close(fd);
		return reason(ENOENT, "ns: IPC namespace %llu: its last process left as it was opened",
			      (unsigned long long)e->ino);
	}
	perm_chain_learn(fd, &e->chain);
	e->fd = fd;
	watch_witness(e);
	log_debug("ns: holding IPC namespace %llu as index %u", (unsigned long long)e->ino,
		  (unsigned)(e - entries));
	return 0;
}

int ns_find(uint64_t ino, unsigned *index)
{
	struct ns_entry *e = NULL, *free_slot = NULL;
	pid_t witness = 0;
	int err = 0;

	g_mutex_lock(&ns_lock);
	for (unsigned i = 1; i < NS_MAX && !e; i++) {
		if (entries[i].ino == ino)
			e = &entries[i];
		else if (!entries[i].ino && !free_slot)
			free_slot = &entries[i];
	}
	/* The served namespace may have no process (ipc_ns= of a bind mount): it exists while we serve it. */
	if (ino != served_ino) {
		witness = e && ns_process_in(e->witness, ino) ? e->witness : process_in(ino);
		if (!witness) {
			err = reason(ENOENT, "ns: no process is in IPC namespace %llu", (unsigned long long)ino);
			goto out;
		}
	}
	if (!e) {
		if (!free_slot) {
			err = reason(ENOSPC, "ns: %u IPC namespaces are in use already", NS_MAX - 1);
			goto out;
		}
		e = free_slot;
		*e = (struct ns_entry){ .ino = ino, .fd = -1, .pidfd = -1 };
	}
	if (e->witness != witness) {
		e->witness = witness;
		if (e->fd >= 0)
			watch_witness(e);
	}
	if (e->fd < 0)
		err = hold_entry(e);
	if (err) {
		if (g_atomic_int_get(&e->refs) == 0)
			e->ino = 0;
		goto out;
	}
	g_atomic_int_inc(&e->refs);
	*index = (unsigned)(e - entries);
out:
	g_mutex_unlock(&ns_lock);
	return err;
}

void ns_hold(unsigned index)
{
	if (index != NS_SERVED)
		g_atomic_int_inc(&entries[index].refs);
}

void ns_put(unsigned index, uint64_t count)
{
	struct ns_entry *e = &entries[index];
	gint n = (gint)MIN(count, (uint64_t)G_MAXINT);

	if (index == NS_SERVED || g_atomic_int_add(&e->refs, -n) != n)
		return;
	g_mutex_lock(&ns_lock);
	/* A lookup may have held it again meanwhile. */
	if (g_atomic_int_get(&e->refs) == 0 && e->fd >= 0) {
		if (let_go_hook)
			let_go_hook(index);
		close(e->fd);
		e->fd = -1;
		e->vanished = false;
		if (e->pidfd >= 0) {
			close(e->pidfd);
			e->pidfd = -1;
		}
		log_debug("ns: let go of IPC namespace %llu (index %u)", (unsigned long long)e->ino,
			  index);
	}
	g_mutex_unlock(&ns_lock);
}

void ns_on_let_go(void (*let_go)(unsigned index))
{
	let_go_hook = let_go;
}

void ns_on_vanish(void (*vanish)(unsigned index))
{
	vanish_hook = vanish;
}

/* ---- Noticing that a namespace is gone ---- */

/* e's witness exited: find another, or report the namespace gone. */
static void witness_exited(unsigned index)
{
	struct ns_entry *e = &entries[index];
	bool vanished = false;

	g_mutex_lock(&ns_lock);
	if (e->fd >= 0 && e->witness && !ns_process_in(e->witness, e->ino)) {
		e->witness = process_in(e->ino);
		watch_witness(e);
		vanished = e->vanished = !e->witness;
	}
	g_mutex_unlock(&ns_lock);
	if (vanished) {
		log_debug("ns: the last process of IPC namespace %llu is gone", (unsigned long long)e->ino);
		if (vanish_hook)
			vanish_hook(index);
	}
}

/* Ask the kernel again to drop the names of every vanished namespace still held; how many. */
static unsigned retry_vanished(void)
{
	unsigned held[NS_MAX], n = 0;

	g_mutex_lock(&ns_lock);
	for (unsigned i = 1; i < NS_MAX; i++)
		if (entries[i].vanished)
			held[n++] = i;
	g_mutex_unlock(&ns_lock);
	for (unsigned i = 0; i < n && vanish_hook; i++)
		vanish_hook(held[i]);
	return n;
}

static gpointer watch_witnesses(gpointer data)
{
	unsigned vanished_held = 0;

	(void)data;
	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(epoll_fd, ev, G_N_ELEMENTS(ev),
				   vanished_held ? VANISHED_RETRY_MS : -1);

		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == NS_MAX)
				return NULL;	/* stop_fd */
			witness_exited(ev[i].data.u32);
		}
		if (n == 0 || vanished_held == 0)
			vanished_held = n == 0 ? retry_vanished() : 1;
	}
}

/* ---- Set up ---- */

int ns_setup(bool all_ns)
{
	struct epoll_event stop = { .events = EPOLLIN, .data.u32 = NS_MAX };
	struct stat st;

	current = (int)NS_SERVED;
	enabled = all_ns;
	/* Which namespace the served one is, all_ns or not (user.ipc.attached asks). */
	if (stat("/proc/thread-self/ns/ipc", &st) == 0)
		entries[NS_SERVED].ino = served_ino = st.st_ino;
	if (!enabled)
		return 0;
	served_fd = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC);
	if (served_fd < 0 || fstat(served_fd, &st) != 0) {
		fprintf(stderr, "ipcfs: all_ns: cannot open the IPC namespace: %s\n", strerror(errno));
		return -1;
	}
	/* setns(CLONE_NEWIPC) needs CAP_SYS_ADMIN: find out now, on our own namespace. */
	if (setns(served_fd, CLONE_NEWIPC) != 0) {
		fprintf(stderr, "ipcfs: all_ns: cannot enter IPC namespaces: %s\n", strerror(errno));
		return -1;
	}
	served_ino = st.st_ino;
	entries[NS_SERVED].ino = served_ino;
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (epoll_fd < 0 || stop_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, stop_fd, &stop) != 0) {
		fprintf(stderr, "ipcfs: all_ns: %s\n", strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < NS_MAX; i++)
		entries[i].fd = entries[i].pidfd = -1;
	return 0;
}

/* The watcher starts with the session, after fuse_daemonize() has forked. */
void ns_start(void)
{
	if (enabled && !watcher)
		watcher = g_thread_new("ns-watch", watch_witnesses, NULL);
}

void ns_stop(void)
{
	if (watcher) {
		eventfd_write(stop_fd, 1);
		g_thread_join(watcher);
		watcher = NULL;
	}
}

void ns_teardown(void)
{
	if (!enabled)
		return;
	ns_stop();
	for (unsigned i = 1; i < NS_MAX; i++) {
		if (entries[i].fd >= 0)
			close(entries[i].fd);
		if (entries[i].pidfd >= 0)
			close(entries[i].pidfd);
		entries[i] = (struct ns_entry){ .fd = -1, .pidfd = -1 };
	}
	close(epoll_fd);
	close(stop_fd);
	close(served_fd);
	epoll_fd = stop_fd = served_fd = -1;
}

/* ---- What /ns/<ino> tells about itself ---- */

struct visible_in {
	uint64_t ino;
	struct caller *caller;
	GArray *pids;
};

#define PF_KTHREAD 0x00200000	/* linux/sched.h */

/* Kernel threads live in the initial namespace, and tell nothing about who uses it. */
static bool kernel_thread(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *stat = NULL;
	unsigned long flags = 0;
	const char *after_comm;

	if (!g_file_get_contents(path, &stat, NULL, NULL) || !(after_comm = strrchr(stat, ')')))
		return false;
	/* ") state ppid pgrp session tty_nr tpgid flags" */
	sscanf(after_comm + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags);
	return flags & PF_KTHREAD;
}

static bool collect_visible(pid_t pid, uint64_t ino, void *data)
{
	struct visible_in *want = data;

	if (ino == want->ino && !kernel_thread(pid) && perm_may_see_process(want->caller, pid))
		g_array_append_val(want->pids, pid);
	return want->pids->len < SHOWN_PROCESSES;
}

int ns_format_xattr(struct caller *caller, unsigned index, const char *name, GString *out)
{
	g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	g_autoptr(GHashTable) cgroups = NULL;
	struct visible_in want = { .ino = ns_ino(index), .caller = caller, .pids = pids };

	if (strcmp(name, "user.ns.pids") != 0 && strcmp(name, "user.ns.cgroup") != 0)
		return -ENODATA;
	scan_processes(collect_visible, &want);
	if (strcmp(name, "user.ns.pids") == 0) {
		sysv_format_hidden(sysv_format_processes(caller, pids, out), out);
		return 0;
	}
	/* The cgroups of those processes, each once, in the order of their first process. */
	cgroups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; i < pids->len; i++) {
		char *cgroup = sysv_cgroup_of(g_array_index(pids, pid_t, i));

		if (!cgroup || g_hash_table_contains(cgroups, cgroup)) {
			g_free(cgroup);
			continue;
		}
		if (out->len)
			g_string_append_c(out, ' ');
		g_string_append(out, cgroup);
		g_hash_table_add(cgroups, cgroup);
	}
	return 0;
}

void ns_xattr_names(GString *list)
{
	g_string_append_len(list, "user.ns.pids\0user.ns.cgroup\0",
			    sizeof("user.ns.pids\0user.ns.cgroup\0") - 1);
}
