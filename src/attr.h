/* SPDX-License-Identifier: GPL-2.0-only */
/* From an IPC object to what stat(2) and getxattr(2) show. */
#pragma once

#include <glib.h>
#include <sys/stat.h>

#include "ipcobj.h"

struct caller;

/* mode & 0777, owner and group, size, and the object's own times. */
void attr_fill(const struct ipc_obj *obj, ino_t ino, struct stat *st);

/*
 * One xattr field: its name after the kind's prefix, and how to print it.
 * format returns 0 or -errno; perm is what the caller needs (0, PERM_READ).
 * A field whose value depends on who asks has format_for instead.
 */
struct xattr_field {
	const char *name;
	int (*format)(const struct ipc_obj *obj, GString *out);
	int perm;
	int (*format_for)(struct caller *caller, const struct ipc_obj *obj, GString *out);
	/* format prints pids as the daemon numbers them, one or more, space-separated. */
	bool pids;
};

/* Each pid of a pids field's value, as the caller numbers it (0: one it cannot see). */
void attr_pids_as_seen_by(struct caller *caller, GString *value);

/* Fields every SysV kind has: id, key, cuid, cgid. */
extern const struct xattr_field attr_common_fields[];

/* NULL-terminated field tables; find name (without prefix) in them. */
const struct xattr_field *attr_find_field(const struct xattr_field *fields, const char *name);

/*
 * An xattr value that is a number: decimal digits, white space around them
 * allowed, nothing else (no sign, no NUL), at most max.  0 or -EINVAL.
 */
int attr_parse_number(const char *value, size_t size, unsigned long long max,
		      unsigned long long *out);
