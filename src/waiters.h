/* SysV waiters the kernel knows of, whoever made the call (not only callers through the mount). */
#pragma once

#include <glib.h>

#include "perm.h"

/*
 * " tid:comm..." of every thread in the IPC namespace this thread acts in,
 * outside the daemon, blocked in semop/semtimedop (sem true) or msgsnd/msgrcv
 * (sem false) on object id, that /proc would show the caller, appended to out
 * space-separated (sorted, the caller's pid numbers).  A sem waiter's
 * operations follow as [NUM:OP ...] when the caller may read that process's
 * memory.  One scan of /proc serves every request for a short while.
 */
unsigned waiters_format(struct caller *caller, bool sem, int id, GString *out);
/* How many such threads there are, whoever may see them. */
unsigned waiters_count(bool sem, int id);
