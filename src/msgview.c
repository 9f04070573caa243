// SPDX-License-Identifier: GPL-2.0-only
#include "msgview.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int msg_view_parse(const char *suffix, struct msg_view *out)
{
	const char *type_end = suffix + strlen(suffix);
	const char *dot = strchr(suffix, '.');
	g_autofree char *digits = NULL;
	const char *p;
	char *end;

	out->type = 0;
	out->framed = false;
	if (strcmp(suffix, "framed") == 0) {
		out->framed = true;
		return 0;
	}
	if (dot) {
		if (strcmp(dot, ".framed") != 0)
			return reason(ENOENT, "msg view @%s: expected @T, @framed or @T.framed", suffix);
		out->framed = true;
		type_end = dot;
	}
	digits = g_strndup(suffix, (gsize)(type_end - suffix));
	p = digits + (*digits == '-' || *digits == '+');
	if (!*p || strspn(p, "0123456789") != strlen(p))
		return reason(ENOENT, "msg view @%s: T is not a decimal number", suffix);
	errno = 0;
	out->type = strtol(digits, &end, 10);
	if (errno == ERANGE)
		return reason(ENOENT, "msg view @%s: T does not fit in a long", suffix);
	return 0;
}
