/* SPDX-License-Identifier: GPL-2.0-only */
/* One IPC object as the filesystem sees it: the union of what ipcs shows for each kind. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Bits of the kernel's mode word above 0777 that only shm uses. */
#define IPC_MODE_SHM_DEST   01000
#define IPC_MODE_SHM_LOCKED 02000

struct ipc_obj {
	int id;
	key_t key;
	mode_t mode;		/* the kernel's mode word, including SHM_DEST/SHM_LOCKED */
	uid_t uid, cuid;
	gid_t gid, cgid;
	uint64_t size;		/* segment bytes, semaphores, or queued bytes */
	time_t atime, mtime, ctime;

	/* shm */
	pid_t cpid, lpid;
	unsigned long nattch;
	/* sem */
	unsigned long nsems;
	/* msg */
	unsigned long qnum, qbytes;
	pid_t lspid, lrpid;

	/* A name that exists in the filesystem but not (yet) in the kernel. */
	bool pending;
};
