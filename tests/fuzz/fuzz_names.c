// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer: object names and aliases, "<key>", "id-<id>", with an "@<view>" suffix. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *name = g_strndup((const char *)data, size);	/* as FUSE gives names */
	struct ipc_name parsed, again;
	char formatted[IPC_NAME_MAX];
	const char *suffix;

	/* The length-bounded parser must not read past len (ASan checks the raw buffer). */
	ipc_name_parse((const char *)data, size, &parsed);
	if (!ipc_name_split(name, &parsed, &suffix))
		return 0;
	if (suffix && suffix[-1] != '@')
		abort();
	/* A parsed name round-trips through the listing's spelling. */
	if (parsed.form == IPC_NAME_KEY) {
		if (parsed.key == 0)
			abort();
		ipc_name_format(parsed.key, 0, formatted);
	} else {
		if (parsed.id < 0)
			abort();
		ipc_name_format(0, parsed.id, formatted);
	}
	if (!ipc_name_parse(formatted, strlen(formatted), &again) || again.form != parsed.form ||
	    (parsed.form == IPC_NAME_KEY ? again.key != parsed.key : again.id != parsed.id))
		abort();
	return 0;
}
