/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SysV permission decisions, made with the credentials of the process that
 * called into the filesystem, never with the daemon's.
 */
#pragma once

#include <glib.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcobj.h"

#define PERM_READ  4
#define PERM_WRITE 2

/* Capability bits as in linux/capability.h. */
#define PERM_CAP_IPC_OWNER 15
#define PERM_CAP_SYS_PTRACE 19
#define PERM_CAP_SYS_ADMIN 21
#define PERM_CAP_SYS_RESOURCE 24

struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;		/* 0 when the caller is outside our pid namespace */

	/*
	 * Supplementary groups, capabilities and the user namespace cost reads
	 * of /proc, so they are only loaded when a decision depends on them.
	 */
	bool details_loaded;
	bool details_known;	/* false if /proc could not tell: assume none */
	int ngroups;
	gid_t *groups;
	uint64_t cap_effective;	/* relative to userns, as the kernel keeps them */
	uint64_t userns;	/* inode number of the caller's user namespace */
	uint64_t pidns;		/* and of its pid namespace */
	unsigned pid_level;	/* how many pid namespaces below the daemon's that is */
};

/*
 * One user namespace on the way from the one that owns the served IPC
 * namespace up to the top the daemon can see (the initial one, usually).
 */
struct perm_userns {
	uint64_t ino;
	uid_t owner;		/* who created it, as the daemon sees uids */
};

#define PERM_MAX_USERNS_DEPTH 33	/* the kernel nests at most 32 below the initial one */

/* links[0] owns an IPC namespace; links[i + 1] is links[i]'s parent. */
struct perm_chain {
	struct perm_userns links[PERM_MAX_USERNS_DEPTH];
	int len;
};

/*
 * Learn which user namespaces own the IPC namespace the daemon is in; call
 * after entering it.  Until then, and if it fails, no capability counts.
 */
int perm_setup(void);
/* Replace what perm_setup() learnt (unit tests). */
void perm_set_userns_chain(const struct perm_userns *chain, int n);
/* The chain of the IPC namespace that ipc_ns_fd names; len 0 (logged) if unknown. */
int perm_chain_learn(int ipc_ns_fd, struct perm_chain *chain);
/*
 * Decide for the IPC namespace whose chain this is, in this thread, until
 * the next call; NULL goes back to the served one (perm_setup()).
 */
void perm_use_chain(const struct perm_chain *chain);

void caller_init(struct caller *caller, uid_t uid, gid_t gid, pid_t pid);
void caller_clear(struct caller *caller);
/*
 * Read what /proc tells of the caller's process now (its namespaces, ids and
 * capabilities), which is otherwise read when first needed: for a caller
 * kept past its request, whose process may be gone by then.
 */
void caller_load_details(struct caller *caller);
/* g_auto(caller_t) caller = { 0 }: cleared when it goes out of scope. */
typedef struct caller caller_t;
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(caller_t, caller_clear)

/*
 * Fill groups and capabilities from the text of /proc/<pid>/status.  Fails
 * unless its file system uid and gid are the caller's: the pid may have been
 * reused by another process since the request was made.
 */
bool caller_parse_status(struct caller *caller, const char *status_text);

/* ipcperms(): may the caller read (PERM_READ) and/or write (PERM_WRITE)? */
bool perm_may_access(struct caller *caller, const struct ipc_obj *obj, int want);

/* IPC_SET and IPC_RMID: owner, creator, or CAP_SYS_ADMIN. */
bool perm_may_control(struct caller *caller, const struct ipc_obj *obj);

/* Is the caller in group gid (primary or supplementary)? */
bool perm_in_group(struct caller *caller, gid_t gid);

/*
 * ns_capable(ipc_ns->user_ns, cap): does the caller hold cap over the IPC
 * namespace this thread decides for (the served one, or perm_use_chain())?  Capabilities count only in a user namespace that owns it
 * (directly or as an ancestor), as the kernel's cap_capable() decides.
 */
bool perm_has_cap(struct caller *caller, int cap);
/* capable(cap): cap in the top user namespace the daemon sees. */
bool perm_has_global_cap(struct caller *caller, int cap);

/*
 * Would /proc tell the caller what process pid has mapped (its maps)?  As
 * ptrace_may_access(PTRACE_MODE_READ_FSCREDS): CAP_SYS_PTRACE, or the same
 * real, effective and saved uid and gid as the caller's, and dumpable.  No
 * for a process outside the caller's pid namespace (perm_pid_as_seen_by()).
 */
bool perm_may_see_process(struct caller *caller, pid_t pid);

/*
 * pid, as the daemon numbers it, as the caller's pid namespace numbers it:
 * what the kernel would give the caller for it (pid_vnr), 0 for a process
 * the caller's namespace cannot see.  A caller the daemon cannot see (in an
 * ancestor or unrelated pid namespace) is given 0 too: its numbers are not
 * knowable from here.
 */
pid_t perm_pid_as_seen_by(struct caller *caller, pid_t pid);

/*
 * Does the text of /proc/<tid>/status show a signal pending that the thread
 * does not block: what makes a sleeping FUSE request send INTERRUPT?
 */
bool caller_status_signalled(const char *status_text);

/*
 * Does the text of /proc/<tid>/status say the thread is being killed: a
 * pending SIGKILL, or a pending signal that is not blocked, ignored or caught
 * and whose default action ends the process (complete_signal() adds no
 * SIGKILL for a signal that dumps core, or for a traced process)?
 */
bool caller_status_dying(const char *status_text);
