/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reading /proc/<pid>/task/<tid>/syscall: the system call a thread is
 * blocked in, and its arguments.  Untrusted text only in that a process may
 * change while it is read; pure, no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCSYSCALL_ARGS 6

/*
 * "NR ARG1 ... ARG6 SP PC" (numbers in decimal, arguments in 0x hex): true
 * with *nr and args[] for a thread inside a system call; false for
 * "running", "-1 SP PC" (not in one) or anything else.
 */
bool procsyscall_parse(const char *text, size_t len, long *nr, uint64_t args[PROCSYSCALL_ARGS]);
