// SPDX-License-Identifier: GPL-2.0-only
/*
 * Native waiters (waiters.h), from /proc/<pid>/task/<tid>/syscall: the kernel
 * shows there the system call a thread is blocked in and its arguments, the
 * first of which is the object's id for every SysV call that waits.
 *
 * A scan reads one small file per thread of the host, so it is made at most
 * once per WAITERS_FRESH_US for each namespace, under one lock: concurrent
 * requests wait for the scan in progress and use it.  It keeps only the
 * threads blocked in a SysV call (few), so memory is linear in those, and
 * each answer reads those threads' syscall files again: one that has stopped
 * waiting is never named, and one that began in the last WAITERS_FRESH_US
 * may be missing.
 */
#include "waiters.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ns.h"
#include "procsyscall.h"
#include "sysv.h"

#define WAITERS_FRESH_US 50000
#define OPS_SHOWN 8		/* of one semop: the rest are summarised as "..." */

struct blocked {
	pid_t pid, tid;
	long nr;
	int id;
	uint64_t sops, nsops;
};

static GMutex scan_lock;
static GArray *last_scan;	/* struct blocked, of last_ns; with scan_lock */
static uint64_t last_ns;
static gint64 last_time;

static bool waits_on_ipc(long nr)
{
	return nr == SYS_semop || nr == SYS_semtimedop || nr == SYS_msgsnd || nr == SYS_msgrcv;
}

static bool in_namespace(pid_t pid, pid_t tid, uint64_t ns)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/ns/ipc", (int)pid, (int)tid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strtoull(link + strcspn(link, "[") + 1, NULL, 10) == ns && ns != 0;
}

/* The SysV call thread tid of pid is blocked in: false if none (or gone). */
static bool read_blocked(pid_t pid, pid_t tid, struct blocked *b)
{
	uint64_t args[PROCSYSCALL_ARGS];
	char path[64], text[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0 || !procsyscall_parse(text, (size_t)n, &b->nr, args) || !waits_on_ipc(b->nr) ||
	    args[0] > G_MAXINT)
		return false;
	b->pid = pid;
	b->tid = tid;
	b->id = (int)args[0];
	b->sops = args[1];
	b->nsops = args[2];
	return true;
}

static void scan_process(pid_t pid, uint64_t ns, GArray *found)
{
	char path[64];
	DIR *tasks;
	struct dirent *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	tasks = opendir(path);
	if (!tasks)
		return;		/* gone since */
	while ((d = readdir(tasks))) {
		pid_t tid = (pid_t)atoi(d->d_name);
		struct blocked b;

		if (tid > 0 && read_blocked(pid, tid, &b) && in_namespace(pid, tid, ns))
			g_array_append_val(found, b);
	}
	closedir(tasks);
}

static GArray *scan(uint64_t ns)
{
	GArray *found = g_array_new(FALSE, FALSE, sizeof(struct blocked));
	pid_t self = getpid();
	DIR *proc = opendir("/proc");
	struct dirent *d;

	if (!proc)
		return found;
	while ((d = readdir(proc))) {
		pid_t pid = (pid_t)atoi(d->d_name);

		if (pid > 0 && pid != self)
			scan_process(pid, ns, found);
	}
	closedir(proc);
	return found;
}

/* The threads blocked in a SysV call in namespace ns, as of at most WAITERS_FRESH_US ago. */
static GArray *blocked_now(uint64_t ns)
{
	GArray *copy;

	g_mutex_lock(&scan_lock);
	if (!last_scan || last_ns != ns || g_get_monotonic_time() - last_time > WAITERS_FRESH_US) {
		g_clear_pointer(&last_scan, g_array_unref);
		last_scan = scan(ns);
		last_ns = ns;
		last_time = g_get_monotonic_time();
	}
	copy = g_array_copy(last_scan);
	g_mutex_unlock(&scan_lock);
	return copy;
}

/* Yama's ptrace_scope above 0 keeps /proc/<pid>/mem from non-descendants without CAP_SYS_PTRACE. */
static bool may_read_memory(struct caller *caller, pid_t pid)
{
	g_autofree char *scope = NULL;

	if (!perm_may_see_process(caller, pid))
		return false;
	if (perm_has_global_cap(caller, PERM_CAP_SYS_PTRACE))
		return true;
	return !g_file_get_contents("/proc/sys/kernel/yama/ptrace_scope", &scope, NULL, NULL) ||
	       atoi(scope) == 0;
}

/* " [NUM:OP ...]" of the semop a thread waits in, read from its memory; nothing if unreadable. */
static void append_sem_ops(const struct blocked *b, GString *out)
{
	struct { unsigned short num; short op; short flg; } ops[OPS_SHOWN];
	size_t n = MIN(b->nsops, (uint64_t)OPS_SHOWN);
	char path[64];
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)b->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	got = n ? pread(fd, ops, n * sizeof(ops[0]), (off_t)b->sops) : -1;
	close(fd);
	if (got != (ssize_t)(n * sizeof(ops[0])))
		return;
	g_string_append_c(out, '[');
	for (size_t i = 0; i < n; i++)
		g_string_append_printf(out, "%s%u:%+d", i ? " " : "", ops[i].num, ops[i].op);
	if (b->nsops > n)
		g_string_append(out, " ...");
	g_string_append_c(out, ']');
}

static gint compare_tids(gconstpointer a, gconstpointer b)
{
	const struct blocked *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* Of the threads seen blocked: is this one still blocked on object id of the kind, as the kernel says now? */
static bool still_waits(const struct blocked *seen, bool sem, int id, struct blocked *now)
{
	bool of_sem;

	if (seen->id != id || !read_blocked(seen->pid, seen->tid, now) || now->id != id)
		return false;
	of_sem = now->nr == SYS_semop || now->nr == SYS_semtimedop;
	return of_sem == sem;
}

unsigned waiters_count(bool sem, int id)
{
	g_autoptr(GArray) blocked = blocked_now(ns_current_ino());
	unsigned n = 0;

	for (guint i = 0; i < blocked->len; i++) {
		struct blocked now;

		n += still_waits(&g_array_index(blocked, struct blocked, i), sem, id, &now);
	}
	return n;
}

void waiters_format(struct caller *caller, bool sem, int id, unsigned hidden, GString *out)
{
	g_autoptr(GArray) blocked = blocked_now(ns_current_ino());
	g_autoptr(GString) ops = g_string_new(NULL);

	g_array_sort(blocked, compare_tids);
	for (guint i = 0; i < blocked->len; i++) {
		struct blocked now, *b = &now;

		if (!still_waits(&g_array_index(blocked, struct blocked, i), sem, id, &now))
			continue;
		if (!perm_may_see_process(caller, b->tid)) {
			hidden++;
			continue;
		}
		g_string_truncate(ops, 0);
		if (sem && may_read_memory(caller, b->pid))
			append_sem_ops(b, ops);
		sysv_describe_process(caller, b->pid, b->tid, ops->str, out);
	}
	sysv_format_hidden(hidden, out);
}
