// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer: the @<view> suffix of /msg names (msg_view_parse). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "msgview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *suffix = g_strndup((const char *)data, size);
	struct msg_view view, again;
	char spelled[64];
	int err = msg_view_parse(suffix, &view);

	if (err) {
		if (err != -ENOENT)
			abort();
		return 0;
	}
	/* The canonical spelling of a view parses to the same view. */
	if (view.framed && view.type == 0 && strcmp(suffix, "framed") == 0)
		return 0;
	snprintf(spelled, sizeof(spelled), "%ld%s", view.type, view.framed ? ".framed" : "");
	if (msg_view_parse(spelled, &again) != 0 || again.type != view.type ||
	    again.framed != view.framed)
		abort();
	return 0;
}
