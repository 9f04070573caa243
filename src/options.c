// SPDX-License-Identifier: GPL-2.0-only
/* ipcfs's own -o options (options.h). */
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

struct ipcfs_options ipcfs_options = {
	.chan = CHAN_AUTO,
	.channels = 4,
	.chan_size = 1 << 20,
	.chan_mode = 0600,
	.max_waiters = 4096,
	.listing_cache = 1.0,
};
static char *chan_backend_arg;
static char *chan_mode_arg;
static char *events_arg;
static char *nice_arg;

enum { KEY_DISCARD };

#define IPCFS_OPT(t, p) { t, offsetof(struct ipcfs_options, p), 1 }
static const struct fuse_opt ipcfs_opts[] = {
	IPCFS_OPT("classic", classic),
	IPCFS_OPT("channels=%u", channels),
	IPCFS_OPT("chan_size=%zu", chan_size),
	IPCFS_OPT("ipc_ns=%s", ipc_ns),
	IPCFS_OPT("all_ns", all_ns),
	IPCFS_OPT("max_waiters=%u", max_waiters),
	IPCFS_OPT("listing_cache=%lf", listing_cache),
	/* Words only fstab and mount(8) care about. */
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_END
};

static int discard_opt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == KEY_DISCARD)
		return 0;
	if (g_str_has_prefix(arg, "chan=")) {
		g_free(chan_backend_arg);
		chan_backend_arg = g_strdup(arg + strlen("chan="));
		return 0;
	}
	/* libfuse 3.18 parses these itself; older ones would refuse the mount. */
	if (strcmp(arg, "io_uring") == 0 || g_str_has_prefix(arg, "io_uring_q_depth=")) {
		if (strcmp(arg, "io_uring") == 0)
			ipcfs_options.io_uring = true;
		else
			ipcfs_options.io_uring_q_depth =
				(unsigned)MIN(g_ascii_strtoull(arg + strlen("io_uring_q_depth="), NULL, 10),
					      G_MAXUINT);
		return HAVE_FUSE_IO_URING;
	}
	if (g_str_has_prefix(arg, "events=")) {
		g_free(events_arg);
		events_arg = g_strdup(arg + strlen("events="));
		return 0;
	}
	if (g_str_has_prefix(arg, "chan_mode=")) {
		g_free(chan_mode_arg);
		chan_mode_arg = g_strdup(arg + strlen("chan_mode="));
		return 0;
	}
	if (g_str_has_prefix(arg, "nice=")) {
		g_free(nice_arg);
		nice_arg = g_strdup(arg + strlen("nice="));
		return 0;
	}
	return 1;
}

/* The options fuse_opt_parse() leaves as strings, and the ranges it cannot check. */
static int check_options(void)
{
	if (chan_backend_arg) {
		if (strcmp(chan_backend_arg, "auto") == 0)
			ipcfs_options.chan = CHAN_AUTO;
		else if (strcmp(chan_backend_arg, "kernel") == 0)
			ipcfs_options.chan = CHAN_KERNEL;
		else if (strcmp(chan_backend_arg, "builtin") == 0)
			ipcfs_options.chan = CHAN_BUILTIN;
		else {
			fprintf(stderr, "ipcfs: chan=%s: expected auto, kernel or builtin\n",
				chan_backend_arg);
			return -1;
		}
	}
	if (events_arg) {
		static const char *const words[] = {
			[EVENTS_AUTO] = "auto", [EVENTS_BPF] = "bpf", [EVENTS_WATCH] = "watch",
			[EVENTS_OFF] = "off",
		};
		unsigned i;

		for (i = 0; i < G_N_ELEMENTS(words) && strcmp(events_arg, words[i]) != 0; i++)
			;
		if (i == G_N_ELEMENTS(words)) {
			fprintf(stderr, "ipcfs: events=%s: expected auto, bpf, watch or off\n", events_arg);
			return -1;
		}
		ipcfs_options.events = (enum events_choice)i;
	}
	if (chan_mode_arg) {
		char *end;
		unsigned long mode = strtoul(chan_mode_arg, &end, 8);

		if (*chan_mode_arg == '\0' || *end || mode > 0777) {
			fprintf(stderr, "ipcfs: chan_mode=%s: expected octal bits within 0777\n",
				chan_mode_arg);
			return -1;
		}
		ipcfs_options.chan_mode = (mode_t)mode;
	}
	if (ipcfs_options.max_waiters < 1 || ipcfs_options.max_waiters > 1u << 20) {
		fprintf(stderr, "ipcfs: max_waiters=%u: expected 1 to 1048576\n",
			ipcfs_options.max_waiters);
		return -1;
	}
	if (!(ipcfs_options.listing_cache >= 0 && ipcfs_options.listing_cache <= 3600)) {
		fprintf(stderr, "ipcfs: listing_cache=%g: expected 0 to 3600 seconds\n",
			ipcfs_options.listing_cache);
		return -1;
	}
	if (nice_arg) {
		char *end;
		long nice = strtol(nice_arg, &end, 10);

		if (*nice_arg == '\0' || *end || nice < -20 || nice > 19) {
			fprintf(stderr, "ipcfs: nice=%s: expected -20 to 19\n", nice_arg);
			return -1;
		}
		ipcfs_options.nice_given = true;
		ipcfs_options.nice = (int)nice;
	}
	if (ipcfs_options.channels < 1 || ipcfs_options.channels > 256) {
		fprintf(stderr, "ipcfs: channels=%u: expected 1 to 256\n", ipcfs_options.channels);
		return -1;
	}
	return 0;
}

int options_parse(struct fuse_args *args)
{
	if (fuse_opt_parse(args, &ipcfs_options, ipcfs_opts, discard_opt) != 0)
		return -1;
	return check_options();
}

void options_free(void)
{
	g_clear_pointer(&chan_backend_arg, g_free);
	g_clear_pointer(&chan_mode_arg, g_free);
	g_clear_pointer(&events_arg, g_free);
	g_clear_pointer(&nice_arg, g_free);
	g_clear_pointer((char **)&ipcfs_options.ipc_ns, free);
}
