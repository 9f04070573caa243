// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer: /proc/<pid>/maps text, which any process shapes (procmaps_find_segment). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(int id, void *data)
{
	(void)data;
	if (id < 0)
		abort();	/* ids are never negative */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan catches any read past the end. */
	char *maps = malloc(size ? size : 1);
	unsigned long start = 0, end = 0;
	int id = 0;

	if (!maps)
		return 0;
	memcpy(maps, data, size);
	if (size >= 2)
		id = (data[0] << 8) | data[1];
	if (procmaps_find_segment(maps, size, id, &start, &end)) {
		/* What the daemon relies on: a real range, named on a line that has the id. */
		if (start >= end || !memmem(maps, size, "/SYSV", 5))
			abort();
	}
	procmaps_each_segment(maps, size, check_id, NULL);
	free(maps);
	return 0;
}
