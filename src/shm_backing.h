/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The data path of /shm: how the daemon reaches a segment's memory, and
 * whether the kernel can reach it without the daemon (FUSE passthrough).
 */
#pragma once

#include <sys/shm.h>

#include "kind.h"

int shm_backing_setup(void);
void shm_backing_init(struct fuse_conn_info *conn);
void shm_backing_teardown(void);

/* Say once, in the debug log, why a MAP_SHARED mmap fails (classic mode only). */
void shm_backing_log_mmap_refusal(void);

int shm_backing_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi);
void shm_backing_release(struct ipcfs_file *file);

/*
 * Open files other than self that the kernel serves from the segment itself
 * (passthrough): they may map it, so they pin it like attachments do.
 */
unsigned shm_backing_mappers(int id, const struct ipcfs_file *self);

/*
 * obj is the segment as the file is bound to it (ipcfs_file_object()); the
 * daemon reaches its memory only if the segment still is that one.  size and
 * off are already within the segment.
 */
void shm_backing_read(fuse_req_t req, const struct ipc_obj *obj, size_t size, off_t off);
/*
 * Copy len bytes of the segment of from_size bytes attached at from into to, a
 * new segment (all zeros): only the data, so that a sparse segment's holes
 * stay holes and reading them faults in no page.
 */
void shm_copy_data(void *to, const void *from, size_t from_size, size_t len);
void shm_backing_write(fuse_req_t req, const struct ipc_obj *obj, const char *buf, size_t size,
		       off_t off);
/* Zero all obj->size bytes in place. */
int shm_backing_zero(const struct ipc_obj *obj);

/* The segment is gone or replaced: drop what the daemon holds of it. */
void shm_backing_forget(int id);
/* Drop what the daemon holds of every segment that is gone or replaced. */
void shm_backing_sweep(void);
/* The daemon lets go of IPC namespace ns (ns.h): close what it holds there. */
void shm_backing_let_go_ns(uint64_t ns_id);

/* The object for an IPC_STAT of segment id. */
void shm_from_ds(int id, const struct shmid_ds *ds, struct ipc_obj *obj);
