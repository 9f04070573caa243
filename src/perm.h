/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SysV permission decisions, made with the credentials of the process that
 * called into the filesystem, never with the daemon's.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcobj.h"

#define PERM_READ  4
#define PERM_WRITE 2

/* Capability bits as in linux/capability.h. */
#define PERM_CAP_SYS_ADMIN 21
#define PERM_CAP_IPC_OWNER 15

struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;		/* 0 when the caller is outside our pid namespace */

	/*
	 * Supplementary groups and capabilities cost a read of /proc, so they
	 * are only loaded when a decision depends on them.
	 */
	bool details_loaded;
	bool details_known;	/* false if /proc could not tell: assume none */
	int ngroups;
	gid_t *groups;
	uint64_t cap_effective;
};

void caller_init(struct caller *caller, uid_t uid, gid_t gid, pid_t pid);
void caller_clear(struct caller *caller);

/* Fill groups and capabilities from the text of /proc/<pid>/status. */
bool caller_parse_status(struct caller *caller, const char *status_text);

/* ipcperms(): may the caller read (PERM_READ) and/or write (PERM_WRITE)? */
bool perm_may_access(struct caller *caller, const struct ipc_obj *obj, int want);

/* IPC_SET and IPC_RMID: owner, creator, or CAP_SYS_ADMIN. */
bool perm_may_control(struct caller *caller, const struct ipc_obj *obj);

/* Is the caller in group gid (primary or supplementary)? */
bool perm_in_group(struct caller *caller, gid_t gid);

bool perm_has_cap(struct caller *caller, int cap);
