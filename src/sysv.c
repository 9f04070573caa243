// SPDX-License-Identifier: GPL-2.0-only
#include "sysv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "names.h"

/* Split name into its key or id and the suffix of a view (NULL without one). */
static int split_name(const struct ipcfs_kind *kind, const char *name, struct ipc_name *parsed,
		      const char **suffix)
{
	if (!ipc_name_split(name, parsed, suffix))
		return reason(ENOENT, "%s/%s: not a key or id-<id> name", kind->name, name);
	if (*suffix && !kind->parse_variant)
		return reason(ENOENT, "%s/%s: this kind has no @ views", kind->name, name);
	return 0;
}

/* The view a suffix names, once the object exists (a name that resolves to nothing costs nothing). */
static int parse_suffix(const struct ipcfs_kind *kind, const char *suffix, uid_t asker,
			unsigned *variant)
{
	*variant = 0;
	return suffix ? kind->parse_variant(suffix, asker, variant) : 0;
}

int sysv_lookup(const struct ipcfs_kind *kind, const char *name, uid_t asker,
		struct ipc_obj *obj, unsigned *variant)
{
	struct ipc_name parsed;
	const char *suffix;
	int id, err;

	*variant = 0;
	err = split_name(kind, name, &parsed, &suffix);
	if (err)
		return err;
	if (parsed.form == IPC_NAME_ID) {
		err = kind->stat(parsed.id, obj);
	} else {
		err = kind->find_key(parsed.key, &id);
		if (!err)
			err = kind->stat(id, obj);
	}
	return err ? err : parse_suffix(kind, suffix, asker, variant);
}

int sysv_create(const struct ipcfs_kind *kind, struct caller *caller, const char *name,
		mode_t mode, struct ipc_obj *obj, unsigned *variant)
{
	struct ipc_name parsed;
	const char *suffix;
	int err = split_name(kind, name, &parsed, &suffix);

	*variant = 0;
	if (err)
		return -EINVAL;
	if (parsed.form != IPC_NAME_KEY)
		return reason(EINVAL, "create %s/%s: only a key name can be created", kind->name,
			      name);
	/* The view first: a bad suffix must not leave a new object behind. */
	err = parse_suffix(kind, suffix, caller->uid, variant);
	if (err)
		return err;
	err = kind->create_key(caller, parsed.key, mode & 0777, obj);
	if (err && *variant) {
		kind->drop_variant(*variant);
		*variant = 0;
	}
	return err;
}

void sysv_format_name(const struct ipc_obj *obj, char *out, size_t size)
{
	char name[IPC_NAME_MAX];

	ipc_name_format(obj->key, obj->id, name);
	g_strlcpy(out, name, size);
}

void sysv_obj_from_perm(struct ipc_obj *obj, int id, const struct ipc_perm *perm)
{
	memset(obj, 0, sizeof(*obj));
	obj->id = id;
	obj->key = perm->__key;
	obj->mode = perm->mode;
	obj->uid = perm->uid;
	obj->gid = perm->gid;
	obj->cuid = perm->cuid;
	obj->cgid = perm->cgid;
}

int sysv_read_proc(const char *path, bool (*parse_line)(const char *line, struct ipc_obj *obj),
		   GArray *objs)
{
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;
	char *line, *next;

	if (!g_file_get_contents(path, &text, NULL, &error))
		return reason(EIO, "cannot read %s: %s", path, error->message);
	/* The first line is the header. */
	line = strchr(text, '\n');
	for (; line && *line; line = next) {
		struct ipc_obj obj = { 0 };

		line++;
		next = strchr(line, '\n');
		if (next)
			*next = '\0';
		if (*line && parse_line(line, &obj))
			g_array_append_val(objs, obj);
		if (!next)
			break;
		*next = '\n';
	}
	return 0;
}

int sysv_id_to_index(int id)
{
	/* ipcid_to_idx(): the low 15 bits, unless the kernel runs with ipcmni_extend. */
	return id & 0x7fff;
}

static void become_daemon(void)
{
	/* The real ids were never changed: they are the daemon's. */
	syscall(SYS_setresuid, -1, getuid(), -1);
	syscall(SYS_setresgid, -1, getgid(), -1);
}

static int become(uid_t uid, gid_t gid)
{
	if (geteuid() == uid && getegid() == gid)
		return 0;
	if (syscall(SYS_setresgid, -1, gid, -1) != 0)
		return reason(EPERM, "cannot act as gid %u: the daemon lacks the right",
			      (unsigned)gid);
	if (syscall(SYS_setresuid, -1, uid, -1) != 0) {
		int err = errno;

		become_daemon();
		return reason(err, "cannot act as uid %u", (unsigned)uid);
	}
	return 0;
}

int sysv_check_create_as(uid_t uid, gid_t gid)
{
	int err = become(uid, gid);

	if (!err)
		become_daemon();
	return err;
}

int sysv_create_as(uid_t uid, gid_t gid, int (*get)(key_t key, size_t size, int flags),
		   key_t key, size_t size, mode_t mode, const char *what)
{
	int err = become(uid, gid);
	int id;

	if (err)
		return err;
	id = get(key, size, IPC_CREAT | IPC_EXCL | (int)(mode & 0777));
	err = errno;
	become_daemon();
	if (id < 0)
		return reason(err, "%s(0x%08x, %zu): cannot create", what, (unsigned)key, size);
	return id;
}

static gint compare_pids(gconstpointer a, gconstpointer b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* The cgroup v2 path of pid (of "0::<path>"), or of its first hierarchy; NULL if gone. */
char *sysv_cgroup_of(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int)pid);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	char *chosen = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (char **line = lines; *line && !chosen; line++)
		if (g_str_has_prefix(*line, "0::"))
			chosen = g_strdup(*line + 3);
	if (!chosen && lines[0] && strchr(lines[0], ':') && strchr(strchr(lines[0], ':') + 1, ':'))
		chosen = g_strdup(strchr(strchr(lines[0], ':') + 1, ':') + 1);
	return chosen;
}

/*
 * pid's command line as ps(1) shows it: the arguments joined by spaces, a
 * byte outside printable ASCII as '?', at most TITLE_MAX bytes ("..." after);
 * "[comm]" for a process with none (a kernel thread, a zombie).  Only the
 * bytes shown are read: a command line may be megabytes long.
 */
#define TITLE_MAX 200
static void append_title(pid_t pid, const char *comm, GString *out)
{
	char path[64], cmdline[TITLE_MAX + 2];	/* the title, its terminating NUL, one more */
	ssize_t got = -1;
	size_t len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (len < sizeof(cmdline) &&
		       (got = read(fd, cmdline + len, sizeof(cmdline) - len)) > 0)
			len += (size_t)got;
		close(fd);
	}
	/* Read to its end (got 0): its trailing NULs end arguments, they are no title. */
	while (got == 0 && len > 0 && cmdline[len - 1] == '\0')
		len--;
	if (len == 0) {
		g_string_append_printf(out, "[%s]", comm);
		return;
	}
	for (size_t i = 0; i < len && i < TITLE_MAX; i++) {
		unsigned char c = (unsigned char)cmdline[i];

		g_string_append_c(out, c == '\0' ? ' ' : c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
	if (len > TITLE_MAX)
		g_string_append(out, "...");
}

char *sysv_comm_of(pid_t pid, pid_t tid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/comm", (int)pid, (int)tid);
	char *comm = NULL;

	return g_file_get_contents(path, &comm, NULL, NULL) ? g_strchomp(comm) : NULL;
}

bool sysv_describe_process(struct caller *caller, pid_t pid, pid_t tid, const char *after_comm,
			   GString *out)
{
	g_autofree char *comm = sysv_comm_of(pid, tid);
	g_autofree char *cgroup = NULL;

	if (!comm)
		return false;	/* gone */
	cgroup = sysv_cgroup_of(pid);
	if (out->len)
		g_string_append_c(out, '\n');
	g_string_append_printf(out, "%d:%s%s\t%s\t", (int)perm_pid_as_seen_by(caller, tid), comm,
			       after_comm ? after_comm : "", cgroup ? cgroup : "?");
	append_title(pid, comm, out);
	return true;
}

void sysv_format_hidden(unsigned hidden, GString *out)
{
	if (hidden)
		g_string_append_printf(out, "%s+%u hidden", out->len ? "\n" : "", hidden);
}

unsigned sysv_format_processes(struct caller *caller, GArray *pids, GString *out)
{
	unsigned hidden = 0;

	g_array_sort(pids, compare_pids);
	for (guint i = 0; i < pids->len; i++) {
		pid_t pid = g_array_index(pids, pid_t, i);

		if (i > 0 && pid == g_array_index(pids, pid_t, i - 1))
			continue;
		if (!perm_may_see_process(caller, pid))
			hidden++;
		else
			sysv_describe_process(caller, pid, pid, NULL, out);
	}
	return hidden;
}

/* The boot time, in seconds since the epoch (/proc/stat's btime). */
static time_t boot_time(void)
{
	static gsize once;
	static time_t btime;

	if (g_once_init_enter(&once)) {
		g_autofree char *stat = NULL;
		const char *line;

		if (g_file_get_contents("/proc/stat", &stat, NULL, NULL) &&
		    (line = strstr(stat, "\nbtime ")))
			btime = (time_t)strtoll(line + 7, NULL, 10);
		g_once_init_leave(&once, 1);
	}
	return btime;
}

enum sysv_liveness sysv_process_since(pid_t pid, time_t when)
{
	g_autofree char *path = NULL;
	g_autofree char *stat = NULL;
	unsigned long long start_ticks;
	const char *after_comm;
	time_t started;

	if (pid <= 0 || pid == getpid())
		return SYSV_GONE;
	path = g_strdup_printf("/proc/%d/stat", (int)pid);
	if (!g_file_get_contents(path, &stat, NULL, NULL) || !(after_comm = strrchr(stat, ')')))
		return SYSV_GONE;
	/* ") state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
	 * cutime cstime priority nice threads itrealvalue starttime": starttime is field 22. */
	if (sscanf(after_comm + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start_ticks) != 1)
		return SYSV_GONE;
	started = boot_time() + (time_t)(start_ticks / (unsigned long long)sysconf(_SC_CLK_TCK));
	/* Start times are in clock ticks, object times in seconds: a second either way is the same. */
	return started <= when ? SYSV_ALIVE : SYSV_REUSED;
}

void sysv_format_creator(struct caller *caller, pid_t pid, time_t created, GString *out)
{
	enum sysv_liveness liveness;
	pid_t seen;

	if (pid <= 0) {
		g_string_append(out, "unknown");
		return;
	}
	if (pid == getpid()) {
		g_string_append(out, "ipcfs");		/* made through the mount, for a caller */
		return;
	}
	seen = perm_pid_as_seen_by(caller, pid);
	liveness = sysv_process_since(pid, created);
	if (liveness == SYSV_ALIVE) {
		if (seen == 0) {
			g_string_append(out, "hidden");	/* alive, outside the caller's pid namespace */
			return;
		}
		if (sysv_describe_process(caller, pid, pid, NULL, out))
			return;
		liveness = SYSV_GONE;	/* since */
	}
	/* A gone pid of a child pid namespace has no number there any more. */
	if (seen)
		g_string_append_printf(out, "%d ", (int)seen);
	g_string_append(out, liveness == SYSV_REUSED ? "gone (pid reused)" : "gone");
}
