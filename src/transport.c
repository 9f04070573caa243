// SPDX-License-Identifier: GPL-2.0-only
/* How requests reach the daemon (transport.h). */
#include "transport.h"

#include <glib.h>
#include <stdio.h>
#include <sys/resource.h>

#include "log.h"
#include "options.h"

void transport_log(struct fuse_conn_info *conn)
{
	g_autofree char *param = NULL;

	if (!ipcfs_options.io_uring)
		return;
#if HAVE_FUSE_IO_URING
	if (conn->capable_ext & FUSE_CAP_OVER_IO_URING) {
		unsigned major = 0, minor = 0, micro = 0;
		int nice;

		log_debug("io_uring: the kernel offers FUSE over io_uring; libfuse starts its rings after INIT (if it was built with liburing, it logs \"starting io-uring\"); FORGET, INTERRUPT and notifications still use /dev/fuse");
		sscanf(fuse_pkgversion(), "%u.%u.%u", &major, &minor, &micro);
		if (major == 3 && (minor < 18 || (minor == 18 && micro <= 3)))
			log_debug("io_uring: libfuse %s can lose a reply sent from a thread other than the ring's (libfuse issue #1443, fixed after 3.18.3), every wait is answered from a waiter thread, and a lost reply can stall every request of that CPU's ring for good",
				  fuse_pkgversion());
		/* docs/design.md, "Threading": at equal nice a ring thread seldom preempts its caller. */
		nice = getpriority(PRIO_PROCESS, 0);
		if (nice >= 0)
			log_debug("io_uring: the daemon runs at nice %d, where a caller is often woken on another CPU than its ring's; -o nice=-3 keeps a request on one (ipcfs(8))",
				  nice);
		return;
	}
	if (!g_file_get_contents("/sys/module/fuse/parameters/enable_uring", &param, NULL, NULL))
		log_debug("io_uring: this kernel has no FUSE over io_uring: requests come through /dev/fuse");
	else
		log_debug("io_uring: the kernel's FUSE over io_uring is off (/sys/module/fuse/parameters/enable_uring is %s; root may write 1 there): requests come through /dev/fuse",
			  g_strstrip(param));
#else
	(void)conn;
	(void)param;
	log_debug("io_uring: this libfuse (%s) has no FUSE over io_uring (3.18 has): requests come through /dev/fuse",
		  fuse_pkgversion());
#endif
}
