// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer: mount options (options_parse), as mount(8) or fstab would pass
 * them: the input's lines are the arguments after "ipcfs", usually "-o" and
 * a comma-separated list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "options.h"

#define MAX_ARGS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ipcfs_options defaults = {
	.chan = CHAN_AUTO, .channels = 4, .chan_size = 1 << 20, .chan_mode = 0600,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_auto(GStrv) lines = g_strsplit(text, "\n", MAX_ARGS);
	char *argv[MAX_ARGS + 2] = { "ipcfs" };
	struct fuse_args args;
	int argc = 1;

	for (int i = 0; lines[i]; i++)
		argv[argc++] = lines[i];
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	ipcfs_options = defaults;
	if (options_parse(&args) == 0) {
		/* What the daemon relies on once the options are accepted. */
		if (ipcfs_options.channels < 1 || ipcfs_options.channels > 256 ||
		    ipcfs_options.chan_mode > 0777 || ipcfs_options.chan > CHAN_BUILTIN ||
		    (ipcfs_options.nice_given && (ipcfs_options.nice < -20 || ipcfs_options.nice > 19)))
			abort();
	}
	fuse_opt_free_args(&args);
	options_free();
	return 0;
}
