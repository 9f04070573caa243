/* SPDX-License-Identifier: GPL-2.0-only */
/* How requests reach the daemon: /dev/fuse, or FUSE over io_uring. */
#pragma once

#include "config.h"
#include <fuse_lowlevel.h>

/* Say in the debug log how requests will arrive: -o io_uring is asked for, never forced. */
void transport_log(struct fuse_conn_info *conn);
