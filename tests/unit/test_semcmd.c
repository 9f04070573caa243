// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "semcmd.h"

static int parse(const char *line, int nsems, struct semcmd *cmd)
{
	return semcmd_parse(line, strlen(line), nsems, cmd);
}

static void test_values(void)
{
	struct semcmd c;

	g_assert_cmpint(parse("5", 1, &c), ==, 0);
	g_assert_cmpint(c.type, ==, SEMCMD_SETVAL);
	g_assert_cmpint(c.value, ==, 5);
	g_assert_cmpint(parse("1 0 4", 3, &c), ==, 0);
	g_assert_cmpint(c.type, ==, SEMCMD_SETALL);
	g_assert_cmpuint(c.values[2], ==, 4);
	semcmd_clear(&c);
	g_assert_cmpint(parse("2=7", 3, &c), ==, 0);
	g_assert_cmpint(c.type, ==, SEMCMD_SETVAL);
	g_assert_cmpint(c.semnum, ==, 2);
	g_assert_cmpint(c.value, ==, 7);
	g_assert_cmpint(parse("  \t ", 3, &c), ==, 0);
	g_assert_cmpint(c.type, ==, SEMCMD_EMPTY);
	g_assert_cmpint(parse("32767", 1, &c), ==, 0);
}

static void test_ops(void)
{
	struct semcmd c;

	g_assert_cmpint(parse("-1", 1, &c), ==, 0);
	g_assert_cmpint(c.type, ==, SEMCMD_OPS);
	g_assert_cmpuint(c.nops, ==, 1);
	g_assert_cmpint(c.ops[0].sem_op, ==, -1);
	semcmd_clear(&c);
	g_assert_cmpint(parse("0:-1 2:+1 1:0 nowait undo timeout=1.5", 3, &c), ==, 0);
	g_assert_cmpuint(c.nops, ==, 3);
	g_assert_cmpint(c.ops[1].sem_num, ==, 2);
	g_assert_cmpint(c.ops[1].sem_op, ==, 1);
	g_assert_cmpint(c.ops[2].sem_op, ==, 0);
	g_assert_true(c.nowait && c.undo && c.has_timeout);
	g_assert_cmpint(c.timeout.tv_sec, ==, 1);
	g_assert_cmpint(c.timeout.tv_nsec, ==, 500000000);
	semcmd_clear(&c);
	g_assert_cmpint(parse("+3\r", 1, &c), ==, 0);
	g_assert_cmpint(c.ops[0].sem_op, ==, 3);
	semcmd_clear(&c);
}

static void test_errors(void)
{
	struct semcmd c;

	g_assert_cmpint(parse("5", 3, &c), ==, -EINVAL);		/* not nsems values */
	g_assert_cmpint(parse("1 2", 3, &c), ==, -EINVAL);
	g_assert_cmpint(parse("1 -1", 3, &c), ==, -EINVAL);		/* values and ops mixed */
	g_assert_cmpint(parse("-1 1", 1, &c), ==, -EINVAL);
	g_assert_cmpint(parse("5 nowait", 1, &c), ==, -EINVAL);	/* flags on a value line */
	g_assert_cmpint(parse("nowait", 1, &c), ==, -EINVAL);
	g_assert_cmpint(parse("3:-1", 3, &c), ==, -EFBIG);
	g_assert_cmpint(parse("3=1", 3, &c), ==, -EFBIG);
	g_assert_cmpint(parse("99999999999:-1", 3, &c), ==, -EFBIG);
	g_assert_cmpint(parse("32768", 1, &c), ==, -ERANGE);
	g_assert_cmpint(parse("0=32768", 1, &c), ==, -ERANGE);
	g_assert_cmpint(parse("+32768", 1, &c), ==, -ERANGE);
	g_assert_cmpint(parse("1:1", 3, &c), ==, -EINVAL);		/* sign required */
	g_assert_cmpint(parse("1=2 0=1", 3, &c), ==, -EINVAL);
	g_assert_cmpint(parse("-1 timeout=x", 1, &c), ==, -EINVAL);
	g_assert_cmpint(parse("-1 timeout=-1", 1, &c), ==, -EINVAL);
	g_assert_cmpint(parse("-1 bogus", 1, &c), ==, -EINVAL);
	g_assert_cmpint(parse("--1", 1, &c), ==, -EINVAL);
	g_assert_cmpint(parse("a:-1", 3, &c), ==, -EINVAL);
	g_assert_cmpint(parse("=1", 3, &c), ==, -EINVAL);
}

/* The kernel's SEMOPM: 500 operations on a line run, 501 fail whole with E2BIG. */
static void test_operation_limit(void)
{
	g_autoptr(GString) line = g_string_new("");
	struct semcmd c;

	for (int i = 0; i < SEMCMD_MAX_OPS; i++)
		g_string_append(line, " 0:+1");
	g_assert_cmpint(semcmd_parse(line->str, line->len, 1, &c), ==, 0);
	g_assert_cmpuint(c.nops, ==, SEMCMD_MAX_OPS);
	g_assert_cmpint(c.ops[SEMCMD_MAX_OPS - 1].sem_op, ==, 1);
	semcmd_clear(&c);
	g_string_append(line, " 0:+1");
	g_assert_cmpint(semcmd_parse(line->str, line->len, 1, &c), ==, -E2BIG);
	g_assert_null(c.ops);
	/* A syntax error anywhere on the line is still EINVAL: syntax is judged before length. */
	g_string_append(line, " bogus");
	g_assert_cmpint(semcmd_parse(line->str, line->len, 1, &c), ==, -EINVAL);
}

/* Found by fuzz_semcmd (tests/fuzz/regressions/semcmd/embedded-nul-cuts-the-line-short). */
static void test_embedded_nul_is_refused(void)
{
	struct semcmd c;

	g_assert_cmpint(semcmd_parse("-1\0garbage", 10, 1, &c), ==, -EINVAL);
	g_assert_cmpint(semcmd_parse("\0", 1, 1, &c), ==, -EINVAL);
	g_assert_cmpint(semcmd_parse("5\0", 2, 1, &c), ==, -EINVAL);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/semcmd/values", test_values);
	g_test_add_func("/semcmd/ops", test_ops);
	g_test_add_func("/semcmd/errors", test_errors);
	g_test_add_func("/semcmd/operation-limit", test_operation_limit);
	g_test_add_func("/semcmd/embedded-nul-is-refused", test_embedded_nul_is_refused);
	return g_test_run();
}
