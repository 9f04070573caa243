/* SPDX-License-Identifier: GPL-2.0-only */
/* The -o options of ipcfs itself; the rest go to libfuse. */
#pragma once

#include "config.h"
#include <fuse_opt.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum chan_choice { CHAN_AUTO, CHAN_KERNEL, CHAN_BUILTIN };
enum events_choice { EVENTS_AUTO, EVENTS_BPF, EVENTS_WATCH, EVENTS_OFF };

struct ipcfs_options {
	bool classic;			/* -o classic: no FUSE passthrough for /shm */
	enum chan_choice chan;		/* -o chan=auto|kernel|builtin */
	unsigned channels;		/* -o channels=N (built-in) */
	size_t chan_size;		/* -o chan_size=BYTES (built-in) */
	mode_t chan_mode;		/* -o chan_mode=MODE (built-in) */
	enum events_choice events;	/* -o events=auto|bpf|watch|off (events.h) */
	const char *ipc_ns;		/* -o ipc_ns=PATH */
	bool all_ns;			/* -o all_ns: /ns/<ino> for every IPC namespace */
	unsigned max_waiters;		/* -o max_waiters=N: calls that wait at once (block.h) */
	double listing_cache;		/* -o listing_cache=SECONDS (listed.h) */
	bool io_uring;			/* -o io_uring was given (libfuse >= 3.18 serves it) */
	unsigned io_uring_q_depth;	/* -o io_uring_q_depth=N; 0: libfuse's default */
	bool nice_given;		/* -o nice=N was given: */
	int nice;			/* the daemon's nice value (else it keeps the one it inherited) */
};

extern struct ipcfs_options ipcfs_options;

/*
 * Take ipcfs's own options out of args (the rest stay for libfuse) into
 * ipcfs_options: 0, or -1 with a one-line reason on stderr.
 */
int options_parse(struct fuse_args *args);
/* Free what options_parse() allocated. */
void options_free(void);
