/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The command language of /sem files: one line is one command.
 *
 *   5            SETVAL of a 1-semaphore set      1 0 4       SETALL
 *   2=7          SETVAL of semaphore 2            -1 / +1     semop on semaphore 0
 *   1:-1  1:0    semop on semaphore 1             0:-1 2:+1   one atomic semop
 *   flags on operation lines: nowait, undo, timeout=SECONDS
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/sem.h>
#include <time.h>

#define SEMCMD_SEMVMX 32767	/* the kernel's SEMVMX */
#define SEMCMD_MAX_OPS 500	/* the kernel's default SEMOPM */

enum semcmd_type {
	SEMCMD_EMPTY,	/* a blank line: does nothing */
	SEMCMD_SETVAL,
	SEMCMD_SETALL,
	SEMCMD_OPS,
};

struct semcmd {
	enum semcmd_type type;
	int semnum;			/* SETVAL */
	int value;			/* SETVAL */
	unsigned short *values;		/* SETALL: nsems values */
	struct sembuf *ops;		/* OPS */
	size_t nops;
	bool nowait, undo;
	bool has_timeout;
	struct timespec timeout;
	bool undo_reserved;		/* not parsed: kind_sem.c has entered it in the undo record */
};

/*
 * Parse one line (without its newline) for a set of nsems semaphores.
 * Returns 0, or -EINVAL (syntax, or a NUL byte in the line), -EFBIG (index out of range), -ERANGE
 * (value above SEMVMX) or -E2BIG (more than SEMCMD_MAX_OPS operations); nothing is allocated on
 * failure.
 */
int semcmd_parse(const char *line, size_t len, int nsems, struct semcmd *cmd);
void semcmd_clear(struct semcmd *cmd);
