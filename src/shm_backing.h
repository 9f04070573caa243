/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The data path of /shm: how the daemon reaches a segment's memory, and
 * whether the kernel can reach it without the daemon (FUSE passthrough).
 */
#pragma once

#include "kind.h"

int shm_backing_setup(void);
void shm_backing_init(struct fuse_conn_info *conn);
void shm_backing_teardown(void);

/* Say once, in the debug log, which mode serves /shm and what mmap does. */
void shm_backing_log_mode(void);

int shm_backing_open(struct ipcfs_file *file, struct fuse_file_info *fi);
void shm_backing_release(struct ipcfs_file *file);

/* size and off are already within the segment. */
void shm_backing_read(fuse_req_t req, int id, size_t size, off_t off);
void shm_backing_write(fuse_req_t req, int id, const char *buf, size_t size, off_t off);
int shm_backing_zero(int id, uint64_t size);

/* The segment is gone or replaced: drop what the daemon holds of it. */
void shm_backing_forget(int id);
