/* SysV waiters the kernel knows of, whoever made the call (not only callers through the mount). */
#pragma once

#include <glib.h>

#include "perm.h"

/*
 * The line (sysv.h) of every thread in the IPC namespace this thread acts in,
 * outside the daemon, blocked in semop/semtimedop (sem true) or msgsnd/msgrcv
 * (sem false) on object id, that /proc would show the caller, appended to out
 * (sorted by tid); a sem waiter's operations follow its COMM as [NUM:OP ...]
 * when the caller may read that process's memory.  Then the "+N hidden" line,
 * for those it may not see and the hidden callers already listed.  One scan
 * of /proc serves every request for a short while.
 */
void waiters_format(struct caller *caller, bool sem, int id, unsigned hidden, GString *out);
/* How many such threads there are, whoever may see them. */
unsigned waiters_count(bool sem, int id);
