/* SPDX-License-Identifier: GPL-2.0-only */
/* What the three SysV kinds share: names, listings from /proc/sysvipc, creating as the caller. */
#pragma once

#include <sys/ipc.h>

#include "kind.h"

/* Lookup of "<key>", "id-<id>" or either with "@<variant>". */
int sysv_lookup(const struct ipcfs_kind *kind, const char *name, uid_t asker,
		struct ipc_obj *obj, unsigned *variant);

/* O_CREAT of a key name (with an optional variant) that does not exist yet. */
int sysv_create(const struct ipcfs_kind *kind, struct caller *caller, const char *name,
		mode_t mode, struct ipc_obj *obj, unsigned *variant);

void sysv_format_name(const struct ipc_obj *obj, char *out, size_t size);

/*
 * A new obj for object id with the permission fields of perm (key, mode,
 * owner, creator): what IPC_STAT and the /proc/sysvipc files say alike.
 * The kind fills in the rest.
 */
void sysv_obj_from_perm(struct ipc_obj *obj, int id, const struct ipc_perm *perm);

/*
 * Read a /proc/sysvipc file (one read, like ipcs) and append one struct
 * ipc_obj per line that parse_line understands.
 */
int sysv_read_proc(const char *path, bool (*parse_line)(const char *line, struct ipc_obj *obj),
		   GArray *objs);

/*
 * The *_STAT_ANY commands take an index, not an id, and need no read
 * permission, like /proc/sysvipc.  Returns the index to pass for an id.
 */
int sysv_id_to_index(int id);

/*
 * get(key, size, IPC_CREAT | IPC_EXCL | mode), made with the calling thread's
 * effective uid and gid set to uid:gid, so that they become the new object's
 * creator and owner.  Only this thread changes (raw syscalls, not the glibc
 * wrappers that change every thread).  Returns the id, or -errno (logged).
 */
int sysv_create_as(uid_t uid, gid_t gid, int (*get)(key_t key, size_t size, int flags),
		   key_t key, size_t size, mode_t mode, const char *what);

/*
 * A list of processes, as every xattr that names processes gives it: one line
 * each, "PID:COMM<tab>CGROUP<tab>TITLE" (docs/admin.md), lines separated by '\n'.
 * sysv_describe_process() appends tid of process pid's line (after_comm, if
 * not NULL, right after COMM), starting a new line if out has one already;
 * false if it is gone.  PID is as the caller's pid namespace numbers it.
 */
bool sysv_describe_process(struct caller *caller, pid_t pid, pid_t tid, const char *after_comm,
			   GString *out);
/* The last line of a list some of whose processes the caller may not see: "+N hidden". */
void sysv_format_hidden(unsigned hidden, GString *out);
/*
 * The lines of the processes in pids, sorted, that /proc would show the
 * caller (perm_may_see_process); the gone are left out.  Returns how many
 * it may not see, for sysv_format_hidden().
 */
unsigned sysv_format_processes(struct caller *caller, GArray *pids, GString *out);
/* The cgroup v2 path of pid, or of its first hierarchy (g_free); NULL if gone. */
char *sysv_cgroup_of(pid_t pid);
/* The comm of thread tid of process pid (pid itself: the process's), or NULL once it is gone; g_free it. */
char *sysv_comm_of(pid_t pid, pid_t tid);

/*
 * Is pid still the process that acted on an object at when (a creation, the
 * last operation)?  A process that started later only reuses the pid.  The
 * daemon itself never counts: it is nobody's user of an object.
 */
enum sysv_liveness { SYSV_GONE, SYSV_REUSED, SYSV_ALIVE };
enum sysv_liveness sysv_process_since(pid_t pid, time_t when);

/*
 * user.ipc.creator: its line (sysv_describe_process) while the creator lives, "PID gone" or
 * "PID gone (pid reused)" after (without PID for one outside the caller's pid
 * namespace), "hidden" for a live one there, "ipcfs" for the daemon (an
 * object made through the mount), "unknown" for pid 0 (the kernel keeps no
 * creator of sets and queues).
 */
void sysv_format_creator(struct caller *caller, pid_t pid, time_t created, GString *out);

/*
 * Could sysv_create_as() act as uid:gid?  Asked before removing an object
 * that is to be created again, so that a refusal destroys nothing.
 */
int sysv_check_create_as(uid_t uid, gid_t gid);
