// SPDX-License-Identifier: GPL-2.0-only
/* What main.c makes once (session.h). */
#include "session.h"

struct timespec ipcfs_start_time;
struct fuse_session *ipcfs_session;
