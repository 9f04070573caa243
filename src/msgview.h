/* SPDX-License-Identifier: GPL-2.0-only */
/* The views of a message queue that a name suffix chooses: /msg/<key>@<suffix>. */
#pragma once

#include <stdbool.h>

struct msg_view {
	long type;	/* msgtyp for reads, mtype for writes (0: any / 1) */
	bool framed;	/* each message carries its type in front, as an int64 */
};

/*
 * "<T>", "framed" or "<T>.framed", T a decimal long (a sign allowed).
 * Returns 0, or -ENOENT (the name names nothing) with the reason logged.
 */
int msg_view_parse(const char *suffix, struct msg_view *out);
