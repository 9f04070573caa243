// SPDX-License-Identifier: GPL-2.0-only
#include "names.h"

#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Digits only, in the given base, no sign, no spaces; at most max. */
static bool parse_unsigned(const char *s, size_t len, unsigned base, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		int digit = base == 16 ? g_ascii_xdigit_value(s[i]) : g_ascii_digit_value(s[i]);

		if (digit < 0)
			return false;
		value = value * base + (unsigned)digit;
		if (value > max)
			return false;
	}
	*out = value;
	return true;
}

bool ipc_name_parse(const char *s, size_t len, struct ipc_name *out)
{
	uint64_t value;

	if (len > 3 && memcmp(s, "id-", 3) == 0) {
		if (!parse_unsigned(s + 3, len - 3, 10, INT_MAX, &value))
			return false;
		out->form = IPC_NAME_ID;
		out->id = (int)value;
		return true;
	}
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!parse_unsigned(s + 2, len - 2, 16, UINT32_MAX, &value))
			return false;
	} else if (!parse_unsigned(s, len, 10, UINT32_MAX, &value)) {
		return false;
	}
	/* Key 0 is IPC_PRIVATE: such objects are only reachable as id-<id>. */
	if (value == 0)
		return false;
	out->form = IPC_NAME_KEY;
	out->key = (key_t)(uint32_t)value;
	return true;
}

bool ipc_name_split(const char *name, struct ipc_name *out, const char **suffix)
{
	const char *at = strchr(name, '@');

	*suffix = at ? at + 1 : NULL;
	return ipc_name_parse(name, at ? (size_t)(at - name) : strlen(name), out);
}

void ipc_name_format(key_t key, int id, char out[IPC_NAME_MAX])
{
	if (key == 0)
		snprintf(out, IPC_NAME_MAX, "id-%d", id);
	else
		snprintf(out, IPC_NAME_MAX, "0x%08x", (uint32_t)key);
}
