/* SPDX-License-Identifier: GPL-2.0-only */
#pragma once

#include "kind.h"

extern const struct fuse_lowlevel_ops ipcfs_ops;

/* Let every kind prepare (or refuse the mount), and clean up after unmount. */
int fs_setup(void);
void fs_teardown(void);
