// SPDX-License-Identifier: GPL-2.0-only
/* ipcfs: System V IPC objects as files. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include <fuse_lowlevel.h>
#include <glib.h>

#include "block.h"
#include "fs.h"
#include "log.h"
#include "options.h"

struct ipcfs_options ipcfs_options = {
	.chan = CHAN_AUTO,
	.channels = 4,
	.chan_size = 1 << 20,
	.chan_mode = 0600,
};
struct timespec ipcfs_start_time;
struct fuse_session *ipcfs_session;

static char *chan_backend_arg;
static char *chan_mode_arg;

enum { KEY_DISCARD };

#define IPCFS_OPT(t, p) { t, offsetof(struct ipcfs_options, p), 1 }
static const struct fuse_opt ipcfs_opts[] = {
	IPCFS_OPT("classic", classic),
	IPCFS_OPT("channels=%u", channels),
	IPCFS_OPT("chan_size=%zu", chan_size),
	IPCFS_OPT("ipc_ns=%s", ipc_ns),
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
	if (g_str_has_prefix(arg, "chan_mode=")) {
		g_free(chan_mode_arg);
		chan_mode_arg = g_strdup(arg + strlen("chan_mode="));
		return 0;
	}
	return 1;
}

static void usage(const char *progname)
{
	printf("usage: %s [options] MOUNTPOINT\n\n", progname);
	printf("System V IPC as files: /shm/<key>, /sem/<key>, /msg/<key> and /chan/<n>.\n\n"
	       "ipcfs options:\n"
	       "    -o classic             no FUSE passthrough for /shm (read/write through the daemon)\n"
	       "    -o chan=auto|kernel|builtin\n"
	       "                           /chan backend: channel.ko's /dev/channelN, or built in\n"
	       "    -o channels=N          built-in channels (default 4)\n"
	       "    -o chan_size=BYTES     built-in ring size per channel (default 1 MiB)\n"
	       "    -o chan_mode=MODE      mode of built-in channel files (default 0600)\n"
	       "    -o ipc_ns=PATH         serve the IPC namespace of PATH (/proc/PID/ns/ipc)\n"
	       "\n"
	       "Writing to /sem/<key>: one line is one command, all or nothing:\n"
	       "    5                      SETVAL of a 1-semaphore set\n"
	       "    1 0 4                  SETALL (exactly nsems values)\n"
	       "    2=7                    SETVAL of semaphore 2\n"
	       "    -1  +1  -3             semop on semaphore 0\n"
	       "    1:-1  2:+4  1:0        semop on semaphore I (I:0 waits for zero)\n"
	       "    0:-1 2:+1              several operations: one atomic semop\n"
	       "    ... nowait undo timeout=1.5\n"
	       "                           flags: IPC_NOWAIT, undo on close, semtimedop\n"
	       "\n"
	       "Message queues: /msg/<key>@<T> sends type T, receives msgtyp T;\n"
	       "    /msg/<key>@framed and /msg/<key>@<T>.framed prefix each message with its type.\n"
	       "\n");
}

/* Refuse to stack on top of another mount: "already mounted" is an error. */
static int check_mountpoint(const char *mountpoint)
{
	struct statx stx;

	if (statx(AT_FDCWD, mountpoint, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) != 0) {
		fprintf(stderr, "ipcfs: %s: %s\n", mountpoint, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(stx.stx_mode)) {
		fprintf(stderr, "ipcfs: %s: not a directory\n", mountpoint);
		return -1;
	}
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) && strcmp(mountpoint, "/") != 0) {
		fprintf(stderr, "ipcfs: %s: already a mount point\n", mountpoint);
		return -1;
	}
	return 0;
}

static int enter_ipc_namespace(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "ipcfs: ipc_ns=%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (setns(fd, CLONE_NEWIPC) != 0) {
		fprintf(stderr, "ipcfs: ipc_ns=%s: cannot enter: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int parse_chan_options(void)
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
	if (ipcfs_options.channels < 1 || ipcfs_options.channels > 256) {
		fprintf(stderr, "ipcfs: channels=%u: expected 1 to 256\n", ipcfs_options.channels);
		return -1;
	}
	return 0;
}

/*
 * mount(8), mount.fuse3 and fstab run "ipcfs SOURCE MOUNTPOINT -o ...": with
 * two positional arguments, the first is the source ("ipcfs"), which names
 * nothing and is dropped.
 */
static void drop_mount_source(int *argc, char *argv[])
{
	int positional[2], n = 0;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			i++;
		} else if (argv[i][0] != '-') {
			if (n == 2)
				return;
			positional[n++] = i;
		}
	}
	if (n != 2)
		return;
	memmove(&argv[positional[0]], &argv[positional[0] + 1],
		sizeof(argv[0]) * (size_t)(*argc - positional[0]));
	(*argc)--;
}

int main(int argc, char *argv[])
{
	struct fuse_args args;
	struct fuse_cmdline_opts opts;
	struct fuse_loop_config *loop_config;
	struct fuse_session *se;
	int ret = 1;

	drop_mount_source(&argc, argv);
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);

	clock_gettime(CLOCK_REALTIME, &ipcfs_start_time);
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (opts.show_version) {
		printf("ipcfs version %s\n", IPCFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (!opts.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT (see --help)\n", argv[0]);
		goto out_args;
	}
	if (fuse_opt_parse(&args, &ipcfs_options, ipcfs_opts, discard_opt) != 0 ||
	    parse_chan_options() != 0)
		goto out_args;
	ipcfs_debug = opts.debug;

	if (check_mountpoint(opts.mountpoint) != 0)
		goto out_args;
	/* Before any thread exists: setns(CLONE_NEWIPC) applies to the calling thread only. */
	if (ipcfs_options.ipc_ns && enter_ipc_namespace(ipcfs_options.ipc_ns) != 0)
		goto out_args;
	if (fs_setup() != 0)
		goto out_args;

	se = fuse_session_new(&args, &ipcfs_ops, sizeof(ipcfs_ops), NULL);
	if (!se)
		goto out_teardown;
	ipcfs_session = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	/* On failure libfuse (or fusermount3) has printed the one-line reason. */
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	/* Detach only now, so that a parent that waits for us knows the mount is ready. */
	if (fuse_daemonize(opts.foreground) != 0)
		goto out_unmount;
	blocking_init();

	if (opts.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop_config = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop_config, opts.clone_fd);
		/* UINT_MAX means "not given": keep libfuse's defaults then. */
		if (opts.max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(loop_config, opts.max_threads);
		if (opts.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop_config, opts.max_idle_threads);
		ret = fuse_session_loop_mt(se, loop_config);
		fuse_loop_cfg_destroy(loop_config);
	}
	ret = ret < 0 ? 1 : 0;
	blocking_shutdown();
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_teardown:
	fs_teardown();
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	g_free(chan_backend_arg);
	g_free(chan_mode_arg);
	return ret;
}
