// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>

#include "quota.h"

static void test_per_uid_and_in_all(void)
{
	struct quota q;

	quota_init(&q, 5, 2);
	g_assert_null(quota_take(&q, 1000));
	g_assert_null(quota_take(&q, 1000));
	/* A uid's share is used up; other uids still get theirs. */
	g_assert_false(quota_refused_in_all(quota_take(&q, 1000)));
	g_assert_nonnull(quota_take(&q, 1000));
	g_assert_null(quota_take(&q, 1001));
	g_assert_null(quota_take(&q, 1001));
	g_assert_null(quota_take(&q, 1002));
	/* Five in all: even a uid with nothing gets nothing now. */
	g_assert_true(quota_refused_in_all(quota_take(&q, 1003)));
	/* Giving back makes room for that uid, and in all. */
	quota_give(&q, 1000);
	g_assert_null(quota_take(&q, 1000));
	quota_give(&q, 1002);
	g_assert_null(quota_take(&q, 1003));
	g_assert_nonnull(quota_take(&q, 1003));
	quota_clear(&q);
}

static void test_many_units_at_once(void)
{
	struct quota q;

	quota_init(&q, 10, 6);
	g_assert_null(quota_take_n(&q, 1000, 6));
	g_assert_false(quota_refused_in_all(quota_take_n(&q, 1000, 1)));	/* all or none */
	g_assert_null(quota_take_n(&q, 1001, 4));
	g_assert_true(quota_refused_in_all(quota_take_n(&q, 1002, 1)));
	g_assert_null(quota_take_n(&q, 1002, 0));
	quota_give_n(&q, 1000, 6);
	g_assert_null(quota_take_n(&q, 1002, 6));
	quota_give_n(&q, 1002, 6);
	quota_give_n(&q, 1001, 4);
	g_assert_cmpuint(q.used, ==, 0);
	quota_clear(&q);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/quota/per-uid-and-in-all", test_per_uid_and_in_all);
	g_test_add_func("/quota/many-units-at-once", test_many_units_at_once);
	return g_test_run();
}
