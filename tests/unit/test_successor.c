// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>

#include "successor.h"

enum { SHM = 0, SEM = 1 };

static void test_follows_every_re_creation(void)
{
	const uint64_t ns = 4026531839u;

	g_assert_cmpint(successor_of(SHM, ns, 10), ==, 10);
	/* O_TRUNC: the segment becomes a placeholder, which the first write makes a segment. */
	successor_note(SHM, ns, 10, -1);
	successor_note(SHM, ns, -1, 20);
	g_assert_cmpint(successor_of(SHM, ns, 10), ==, 20);
	g_assert_cmpint(successor_of(SHM, ns, -1), ==, 20);
	/* Grown again, many times: one step from the start after a look-up. */
	for (int id = 21; id < 200; id++)
		successor_note(SHM, ns, id - 1, id);
	g_assert_cmpint(successor_of(SHM, ns, 10), ==, 199);
	g_assert_cmpint(successor_of(SHM, ns, 150), ==, 199);
	/* Other kinds and namespaces have their own ids. */
	g_assert_cmpint(successor_of(SEM, ns, 10), ==, 10);
	g_assert_cmpint(successor_of(SHM, ns + 1, 10), ==, 10);
	successor_forget_ns(ns);
	g_assert_cmpuint(successor_count(), ==, 0);
	g_assert_cmpint(successor_of(SHM, ns, 10), ==, 10);
}

static void test_an_id_made_anew_is_not_followed_back(void)
{
	const uint64_t ns = 1;

	successor_note(SEM, ns, 5, 6);
	/* The kernel hands out 5 again, and ipcfs re-creates that one as 7. */
	successor_note(SEM, ns, 6, 5);
	g_assert_cmpint(successor_of(SEM, ns, 6), ==, 5);
	g_assert_cmpint(successor_of(SEM, ns, 5), ==, 5);	/* live again: its old entry is gone */
	successor_note(SEM, ns, 5, 7);
	g_assert_cmpint(successor_of(SEM, ns, 6), ==, 7);
	successor_forget_ns(ns);
}

static void test_bounded_oldest_first(void)
{
	const uint64_t ns = 2;

	for (int id = 0; id < SUCCESSOR_MAX + 100; id++)
		successor_note(SHM, ns, 2 * id, 2 * id + 1);
	g_assert_cmpuint(successor_count(), ==, SUCCESSOR_MAX);
	g_assert_cmpint(successor_of(SHM, ns, 0), ==, 0);	/* the oldest went first */
	g_assert_cmpint(successor_of(SHM, ns, 2 * (SUCCESSOR_MAX + 99)), ==, 2 * (SUCCESSOR_MAX + 99) + 1);
	successor_forget_ns(ns);
	g_assert_cmpuint(successor_count(), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/successor/follows-every-re-creation", test_follows_every_re_creation);
	g_test_add_func("/successor/an-id-made-anew-is-not-followed-back",
			test_an_id_made_anew_is_not_followed_back);
	g_test_add_func("/successor/bounded-oldest-first", test_bounded_oldest_first);
	return g_test_run();
}
