// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>
#include <string.h>

#include "procmaps.h"

static const char maps[] =
	"55d0c1a00000-55d0c1a21000 r--p 00000000 fe:00 1310835                    /usr/bin/cat\n"
	"7f3a00000000-7f3a00100000 rw-s 00000000 00:01 65591                      /SYSV00c0ffee (deleted)\n"
	"7f3a10000000-7f3a10001000 r--s 00000000 00:01 32770                      /SYSV00000000 (deleted)\n"
	"7f3a20000000-7f3a20001000 rw-p 00000000 fe:00 65592                      /home/u/SYSV-not\n"
	"7f3a30000000-7f3a30001000 rw-p 00000000 fe:00 77                         /tmp/x /SYSV00000001\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]";

static void test_finds_the_segment_by_its_id(void)
{
	unsigned long start, end;

	g_assert_true(procmaps_find_segment(maps, strlen(maps), 65591, &start, &end));
	g_assert_cmphex(start, ==, 0x7f3a00000000ul);
	g_assert_cmphex(end, ==, 0x7f3a00100000ul);
	g_assert_true(procmaps_find_segment(maps, strlen(maps), 32770, &start, &end));
	g_assert_cmphex(start, ==, 0x7f3a10000000ul);
	/* An inode that is not a segment's, a file named like one, a missing id. */
	g_assert_false(procmaps_find_segment(maps, strlen(maps), 65592, &start, &end));
	g_assert_false(procmaps_find_segment(maps, strlen(maps), 77, &start, &end));
	g_assert_false(procmaps_find_segment(maps, strlen(maps), 1, &start, &end));
	g_assert_false(procmaps_find_segment(maps, strlen(maps), -1, &start, &end));
}

static void test_never_reads_past_the_length(void)
{
	unsigned long start, end;
	const char *line = strchr(maps, '\n') + 1;
	size_t cut = (size_t)(strstr(line, " 65591") - line) + 3;	/* "... 00:01 65" */

	g_assert_false(procmaps_find_segment(line, cut, 65591, &start, &end));
	g_assert_false(procmaps_find_segment(line, cut, 65, &start, &end));
	g_assert_false(procmaps_find_segment(maps, 0, 65591, &start, &end));
}

/* A process with many mappings and no segment: one pass, not one per line. */
static void test_linear_in_the_length(void)
{
	GString *big = g_string_new(NULL);
	unsigned long start, end;
	gint64 t;

	for (int i = 0; i < 200000; i++)
		g_string_append_printf(big, "7f%010x-7f%010x rw-p 00000000 00:00 0 \n", i * 2, i * 2 + 1);
	g_string_append(big, "7f0000000000-7f0000001000 rw-s 00000000 00:01 9 /SYSV00000009 (deleted)\n");
	t = g_get_monotonic_time();
	g_assert_true(procmaps_find_segment(big->str, big->len, 9, &start, &end));
	/* A liveness bound only: a quadratic scan of 200,000 lines takes minutes. */
	g_assert_cmpint(g_get_monotonic_time() - t, <, 10 * G_USEC_PER_SEC);
	g_string_free(big, TRUE);
}

static void count_id(int id, void *data)
{
	GArray *ids = data;

	g_array_append_val(ids, id);
}

static void test_every_segment_of_a_process(void)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(int));

	procmaps_each_segment(maps, strlen(maps), count_id, ids);
	g_assert_cmpuint(ids->len, ==, 2);
	g_assert_cmpint(g_array_index(ids, int, 0), ==, 65591);
	g_assert_cmpint(g_array_index(ids, int, 1), ==, 32770);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/procmaps/finds-the-segment-by-its-id", test_finds_the_segment_by_its_id);
	g_test_add_func("/procmaps/never-reads-past-the-length", test_never_reads_past_the_length);
	g_test_add_func("/procmaps/linear-in-the-length", test_linear_in_the_length);
	g_test_add_func("/procmaps/every-segment-of-a-process", test_every_segment_of_a_process);
	return g_test_run();
}
