/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Names under /ns that the kernel may hold in its cache, and what happens
 * when the daemon lets go of a namespace.  The kernel keeps unused FUSE names
 * whatever their timeout (only virtiofs deletes them at once), and every name
 * it holds keeps the daemon holding the namespace, so when a namespace
 * vanishes each name is dropped with a notification.
 */
#pragma once

#include "config.h"
#include <fuse_lowlevel.h>

/* Register with ns.c: called once, before the mount. */
void ns_names_setup(void);
/* A name the kernel now holds in the tree of namespace ns (the served one's are not kept). */
void ns_names_remember(unsigned ns, fuse_ino_t parent, const char *name);
