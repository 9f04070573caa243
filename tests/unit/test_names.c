// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>
#include <string.h>

#include "names.h"

static bool parse(const char *s, struct ipc_name *n)
{
	return ipc_name_parse(s, strlen(s), n);
}

static void test_key_spellings(void)
{
	const char *same[] = { "0x00001234", "0x1234", "0X1234", "0x001234", "4660", "0x0000000000001234" };
	struct ipc_name n;

	for (size_t i = 0; i < G_N_ELEMENTS(same); i++) {
		g_assert_true(parse(same[i], &n));
		g_assert_cmpint(n.form, ==, IPC_NAME_KEY);
		g_assert_cmpint(n.key, ==, 0x1234);
	}
	g_assert_true(parse("0xABCDEF01", &n));
	g_assert_cmpuint((uint32_t)n.key, ==, 0xabcdef01u);
	g_assert_true(parse("0xffffffff", &n));
	g_assert_cmpint(n.key, ==, -1);
	g_assert_true(parse("4294967295", &n));
	g_assert_cmpint(n.key, ==, -1);
}

static void test_ids(void)
{
	struct ipc_name n;

	g_assert_true(parse("id-0", &n));
	g_assert_cmpint(n.form, ==, IPC_NAME_ID);
	g_assert_cmpint(n.id, ==, 0);
	g_assert_true(parse("id-2147483647", &n));
	g_assert_cmpint(n.id, ==, 2147483647);
	g_assert_false(parse("id-2147483648", &n));
	g_assert_false(parse("id-", &n));
	g_assert_false(parse("id--1", &n));
	g_assert_false(parse("id-0x10", &n));
}

static void test_garbage(void)
{
	const char *bad[] = { "", "0", "0x0", "0x00000000", "0x", "0x100000000", "4294967296",
			      "-1", "+5", " 5", "5 ", "12ab", "0xg", "abc", "0x12@", "id", "ID-5",
			      "99999999999999999999999" };
	struct ipc_name n;

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(parse(bad[i], &n));
}

static void test_format(void)
{
	char out[IPC_NAME_MAX];

	ipc_name_format(0x1234, 7, out);
	g_assert_cmpstr(out, ==, "0x00001234");
	ipc_name_format((key_t)0xdeadbeef, 7, out);
	g_assert_cmpstr(out, ==, "0xdeadbeef");
	ipc_name_format(0, 2147483647, out);
	g_assert_cmpstr(out, ==, "id-2147483647");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/names/key-spellings", test_key_spellings);
	g_test_add_func("/names/ids", test_ids);
	g_test_add_func("/names/garbage", test_garbage);
	g_test_add_func("/names/format", test_format);
	return g_test_run();
}
