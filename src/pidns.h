/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Pids as another pid namespace numbers them.  The kernel gives a caller in
 * a child pid namespace each pid it keeps (cpid, lspid, sempid) in the
 * caller's own numbering, and 0 for a process that namespace cannot see
 * (pid_vnr); the daemon reads them in its own numbering, and translates.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The numbers of the NSpid line of a /proc/<pid>/status text, from the
 * namespace of that /proc down to the process's own; how many there were
 * (at most max are stored), 0 if the line is missing or malformed.
 */
unsigned pidns_parse_nspid(const char *status, pid_t *numbers, unsigned max);

/*
 * pid (as the daemon numbers it) as the pid namespace ns_ino numbers it,
 * that namespace being level levels below the daemon's; 0 if the process is
 * gone or that namespace cannot see it.
 */
pid_t pidns_number_in(uint64_t ns_ino, unsigned level, pid_t pid);
