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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include <fuse_lowlevel.h>
#include <glib.h>

#include "block.h"
#include "fs.h"
#include "session.h"
#include "events.h"
#include "listed.h"
#include "log.h"
#include "ns.h"
#include "options.h"
#include "perm.h"

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
	       "    -o all_ns              /ns/<inode>/{shm,sem,msg}: every IPC namespace of the\n"
	       "                           host (only root in the initial user namespace enters)\n"
	       "    -o io_uring            FUSE over io_uring (libfuse 3.18; interrupts of blocked\n"
	       "                           calls do not work over it: docs/performance.md)\n"
	       "    -o listing_cache=SECONDS\n"
	       "                           how long `ls -l` may use what its listing carried\n"
	       "                           (default 1; kept live by a watcher; 0: off)\n"
	       "    -o events=auto|bpf|watch|off\n"
	       "                           the source of /events: eBPF on the syscall tracepoints,\n"
	       "                           or the listing watcher (auto: eBPF if it loads)\n"
	       "    -o max_waiters=N       operations that may wait at once (default 4096; a\n"
	       "                           quarter of them per uid): beyond, EAGAIN\n"
	       "    -o nice=N              the daemon's nice value (-20..19; below 0 needs\n"
	       "                           CAP_SYS_NICE): see ipcfs(8) on io_uring\n"
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

/* One daemon serves every user: take every descriptor the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit nofile;

	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
}

/*
 * -o nice=N, before any thread exists: on Linux a nice value belongs to a
 * thread, and every thread ipcfs or libfuse starts later inherits it.  As
 * nice(1), a value the daemon may not take is said and the mount goes on.
 */
static void apply_nice(void)
{
	if (!ipcfs_options.nice_given)
		return;
	if (setpriority(PRIO_PROCESS, 0, ipcfs_options.nice) != 0)
		fprintf(stderr, "ipcfs: nice=%d: %s (below 0 needs CAP_SYS_NICE); the daemon keeps nice %d\n",
			ipcfs_options.nice, strerror(errno), getpriority(PRIO_PROCESS, 0));
	else
		log_debug("nice: the daemon's threads run at nice %d", ipcfs_options.nice);
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
	if (options_parse(&args) != 0)
		goto out_args;
	ipcfs_debug = opts.debug;

	if (check_mountpoint(opts.mountpoint) != 0)
		goto out_args;
	/* Before any thread exists: setns(CLONE_NEWIPC) applies to the calling thread only. */
	if (ipcfs_options.ipc_ns && enter_ipc_namespace(ipcfs_options.ipc_ns) != 0)
		goto out_args;
	perm_setup();
	raise_fd_limit();
	apply_nice();
	if (ns_setup(ipcfs_options.all_ns) != 0)
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
	blocking_init(ipcfs_options.max_waiters);
	listed_setup(ipcfs_options.listing_cache);
	ns_start();

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
	/*
	 * The connection ended (umount, or an abort through fusectl) while a
	 * worker was taking a request from the queue: the kernel tells that
	 * worker ECONNABORTED instead of the ENODEV that libfuse takes for a
	 * normal end.  It is the same end; the requests it cut short were ended
	 * by the kernel, and their files are released at exit (file.h).
	 */
	if (ret == -ECONNABORTED) {
		log_debug("exit: the connection ended as a worker took a request from the queue (libfuse's \"reading device\" line above): a normal end, as at unmount");
		ret = 0;
	}
	ret = ret < 0 ? 1 : 0;
	blocking_shutdown();
	/* The watchers notify the kernel through the session, and the events source answers
	 * parked reads through it: stop them before it goes. */
	listed_shutdown();
	events_shutdown();
	ns_stop();
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_teardown:
	fs_teardown();
	ns_teardown();
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	options_free();
	return ret;
}
