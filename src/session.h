/* SPDX-License-Identifier: GPL-2.0-only */
/* What main.c makes once, for the modules that talk to the kernel's FUSE side. */
#pragma once

#include "config.h"
#include <fuse_lowlevel.h>
#include <time.h>

extern struct timespec ipcfs_start_time;	/* the times of every directory */
extern struct fuse_session *ipcfs_session;	/* set before the session loop starts */
