// SPDX-License-Identifier: GPL-2.0-only
#include "log.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool ipcfs_debug;

static void __attribute__((format(printf, 1, 0))) vlog(const char *fmt, va_list ap, int err)
{
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);

	/* One fprintf per line, so that lines from concurrent threads don't mix. */
	if (err)
		fprintf(stderr, "ipcfs: %s (%s)\n", msg, strerrorname_np(err));
	else
		fprintf(stderr, "ipcfs: %s\n", msg);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!ipcfs_debug)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap, 0);
	va_end(ap);
}

int reason(int err, const char *fmt, ...)
{
	va_list ap;

	if (ipcfs_debug) {
		va_start(ap, fmt);
		vlog(fmt, ap, err);
		va_end(ap);
	}
	return -err;
}
