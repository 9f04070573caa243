/* SPDX-License-Identifier: GPL-2.0-only */
#pragma once

#include "kind.h"

extern const struct fuse_lowlevel_ops ipcfs_ops;
extern struct timespec ipcfs_start_time;
extern struct fuse_session *ipcfs_session;	/* set before the session loop starts */

/* Let every kind prepare (or refuse the mount), and clean up after unmount. */
int fs_setup(void);
void fs_teardown(void);
