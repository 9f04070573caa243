/* SPDX-License-Identifier: GPL-2.0-only */
/* The daemon's debug log: with -d, every refused request says why in one line. */
#pragma once

#include <stdbool.h>

extern bool ipcfs_debug;

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log "reason (ERRNO)" when debugging and return -err, for `return reason(...)`. */
int reason(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
