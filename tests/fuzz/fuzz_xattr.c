// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer: numeric xattr values (user.ipc.qbytes), as setxattr(2) hands them over. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long n, again;
	char spelled[32];
	int err = attr_parse_number((const char *)data, size, ULONG_MAX, &n);

	if (err) {
		if (err != -EINVAL)
			abort();
		return 0;
	}
	if (memchr(data, '\0', size) || n > ULONG_MAX)
		abort();
	snprintf(spelled, sizeof(spelled), "%llu", n);
	if (attr_parse_number(spelled, strlen(spelled), ULONG_MAX, &again) != 0 || again != n)
		abort();
	return 0;
}
