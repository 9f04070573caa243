// SPDX-License-Identifier: GPL-2.0-only
/* /chan/<n>: broadcast channels (see the /chan issue); empty for now. */
#include <errno.h>

#include "kind.h"

static int chan_list(GArray *objs)
{
	(void)objs;
	return 0;
}

static void chan_format_name(const struct ipc_obj *obj, char *out, size_t size)
{
	g_snprintf(out, size, "%d", obj->id);
}

static int chan_lookup(const struct ipcfs_kind *kind, const char *name, struct ipc_obj *obj,
		       unsigned *variant)
{
	(void)kind; (void)name; (void)obj; (void)variant;
	return -ENOENT;
}

static int chan_stat(int id, struct ipc_obj *obj)
{
	(void)id; (void)obj;
	return -ENOENT;
}

const struct ipcfs_kind kind_chan = {
	.name = "chan",
	.dir_mode = 0755,
	.xattr_prefix = "user.chan.",
	.list = chan_list,
	.format_name = chan_format_name,
	.lookup = chan_lookup,
	.stat = chan_stat,
};
