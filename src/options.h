/* SPDX-License-Identifier: GPL-2.0-only */
/* The -o options of ipcfs itself; the rest go to libfuse. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum chan_choice { CHAN_AUTO, CHAN_KERNEL, CHAN_BUILTIN };

struct ipcfs_options {
	bool classic;			/* -o classic: no FUSE passthrough for /shm */
	enum chan_choice chan;		/* -o chan=auto|kernel|builtin */
	unsigned channels;		/* -o channels=N (built-in) */
	size_t chan_size;		/* -o chan_size=BYTES (built-in) */
	mode_t chan_mode;		/* -o chan_mode=MODE (built-in) */
	const char *ipc_ns;		/* -o ipc_ns=PATH */
};

extern struct ipcfs_options ipcfs_options;
