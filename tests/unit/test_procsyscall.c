// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>
#include <string.h>

#include "procsyscall.h"

static bool parse(const char *text, long *nr, uint64_t *args)
{
	return procsyscall_parse(text, strlen(text), nr, args);
}

static void test_a_thread_blocked_in_semop(void)
{
	uint64_t args[PROCSYSCALL_ARGS];
	long nr = 0;

	g_assert_true(parse("65 0x8001 0x7ffd5d1c9a50 0x1 0x0 0x0 0x0 0x7ffd5d1c9a38 0x7f2b1e12a2ad\n",
			    &nr, args));
	g_assert_cmpint(nr, ==, 65);
	g_assert_cmphex(args[0], ==, 0x8001);
	g_assert_cmphex(args[1], ==, 0x7ffd5d1c9a50);
	g_assert_cmphex(args[2], ==, 1);
	/* Without the trailing newline, and with the largest argument. */
	g_assert_true(parse("70 0xffffffffffffffff 0x1 0x2 0x3 0x4 0x5 0x0 0x0", &nr, args));
	g_assert_cmphex(args[0], ==, G_MAXUINT64);
	g_assert_cmphex(args[5], ==, 5);
}

static void test_no_system_call_is_no_answer(void)
{
	uint64_t args[PROCSYSCALL_ARGS];
	long nr = -7;

	g_assert_false(parse("running\n", &nr, args));
	g_assert_false(parse("-1 0x7ffd5d1c9a38 0x7f2b1e12a2ad\n", &nr, args));
	g_assert_false(parse("", &nr, args));
	g_assert_false(parse("65 0x1 0x2\n", &nr, args));			/* cut short */
	g_assert_false(parse("65 1 0x2 0x3 0x4 0x5 0x6 0x0 0x0\n", &nr, args));	/* not hex */
	g_assert_false(parse("65 0x 0x2 0x3 0x4 0x5 0x6 0x0 0x0\n", &nr, args));
	g_assert_false(parse("65 0x1g 0x2 0x3 0x4 0x5 0x6 0x0 0x0\n", &nr, args));
	g_assert_false(parse("99999999999 0x1 0x2 0x3 0x4 0x5 0x6 0x0 0x0\n", &nr, args));
	g_assert_false(parse("65 0x11111111111111111111 0x2 0x3 0x4 0x5 0x6 0x0 0x0\n", &nr, args));
	g_assert_cmpint(nr, ==, -7);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/procsyscall/blocked", test_a_thread_blocked_in_semop);
	g_test_add_func("/procsyscall/none", test_no_system_call_is_no_answer);
	return g_test_run();
}
