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
	int64_t blocks;		/* 512-byte blocks in memory or swap (/proc/sysvipc/shm); -1: not read */
	/* sem */
	unsigned long nsems;
	/* msg */
	unsigned long qnum, qbytes;
	pid_t lspid, lrpid;

	/* A name that exists in the filesystem but not (yet) in the kernel. */
	bool pending;
};

/*
 * Is now the same kernel object as was, seen again by its id?  Ids are
 * reused once enough objects have come and gone (or /proc/sys/kernel/
 * *_next_id says so), so an id alone does not name an object for ever.
 * What an object never changes in its life: its key (except that IPC_RMID
 * of an attached segment makes it private), its creator, the creating pid
 * of a segment and the size of a set.  ctime is no help: IPC_SET, SETVAL and
 * SETALL change it.
 */
static inline bool ipc_obj_same(const struct ipc_obj *was, const struct ipc_obj *now)
{
	bool key_kept = now->key == was->key || (now->key == 0 && (now->mode & IPC_MODE_SHM_DEST));

	return now->id == was->id && now->pending == was->pending && key_kept &&
	       now->cuid == was->cuid && now->cgid == was->cgid && now->cpid == was->cpid &&
	       now->nsems == was->nsems;
}
