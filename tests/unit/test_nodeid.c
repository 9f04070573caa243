// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>

#include "nodeid.h"

static void test_an_object_nodeid_gives_back_what_made_it(void)
{
	static const int ids[] = { 0, 1, 32768, 0x7fffffff, -1 };

	for (unsigned kind = 0; kind < NODEID_KINDS_MAX; kind++) {
		for (unsigned i = 0; i < G_N_ELEMENTS(ids); i++) {
			nodeid_t ino = nodeid_object(kind, 4095, 0xffff, ids[i]);

			g_assert_true(nodeid_is_object(ino));
			g_assert_false(nodeid_is_alias(ino));
			g_assert_cmpuint(nodeid_kind_index(ino), ==, kind);
			g_assert_cmpuint(nodeid_ns(ino), ==, 4095);
			g_assert_cmpuint(nodeid_variant(ino), ==, 0xffff);
			g_assert_cmpint(nodeid_id(ino), ==, ids[i]);
			g_assert_cmpuint(nodeid_local(ino), ==, 0);
		}
	}
	/* The served namespace's plain file of kind 0, id 0: still no directory's nodeid. */
	g_assert_cmphex(nodeid_object(0, 0, 0, 0), ==, 1ull << 60);
	g_assert_cmpuint(nodeid_ns(nodeid_object(2, 7, 3, 5)), ==, 7);
	g_assert_cmpuint(nodeid_variant(nodeid_object(2, 7, 3, 5)), ==, 3);
}

static void test_a_directory_nodeid_is_its_local_number(void)
{
	/* The served tree's root is FUSE_ROOT_ID, which the kernel fixes at 1. */
	g_assert_cmphex(nodeid_dir(0, NODEID_LOCAL_TREE_ROOT), ==, 1);
	g_assert_cmphex(nodeid_dir(0, NODEID_LOCAL_KIND_DIR(0)), ==, 2);
	g_assert_cmphex(nodeid_dir(0, NODEID_LOCAL_NS_DIR(4)), ==, 6);
	for (unsigned ns = 0; ns < 1u << NODEID_NS_BITS; ns += 1365) {
		for (unsigned local = 1; local <= NODEID_LOCAL_NS_DIR(NODEID_KINDS_MAX); local++) {
			nodeid_t ino = nodeid_dir(ns, local);

			g_assert_false(nodeid_is_object(ino));
			g_assert_false(nodeid_is_alias(ino));
			g_assert_cmpuint(nodeid_ns(ino), ==, ns);
			g_assert_cmpuint(nodeid_local(ino), ==, local);
		}
	}
	/* The largest tree's kind directories fit below where object bits start. */
	g_assert_cmphex(nodeid_dir((1u << NODEID_NS_BITS) - 1, NODEID_LOCAL_NS_DIR(NODEID_KINDS_MAX)) >> 60,
			==, 0);
}

static void test_no_two_names_share_a_nodeid(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	unsigned made = 0;

	for (unsigned ns = 0; ns < 3; ns++) {
		for (unsigned local = 1; local <= NODEID_LOCAL_NS_DIR(NODEID_KINDS_MAX); local++) {
			nodeid_t *ino = g_new(nodeid_t, 1);

			*ino = nodeid_dir(ns, local);
			g_assert_true(g_hash_table_add(seen, ino));
			made++;
		}
		for (unsigned kind = 0; kind < NODEID_KINDS_MAX; kind++)
			for (unsigned variant = 0; variant < 3; variant++)
				for (int id = 0; id < 3; id++) {
					nodeid_t *ino = g_new(nodeid_t, 1);

					*ino = nodeid_object(kind, ns, variant, id);
					g_assert_true(g_hash_table_add(seen, ino));
					made++;
				}
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, made);
}

static void test_an_alias_is_one_per_thread_and_lives_until_forgotten(void)
{
	nodeid_t base = nodeid_object(1, 0, 2, 77), other = nodeid_object(1, 0, 0, 78);
	nodeid_t a, again, b, c, got;
	pid_t owner = -1;
	bool made, gone;

	nodeid_aliases_init();
	a = nodeid_alias_lookup(base, 100, &made);
	g_assert_true(made);
	g_assert_true(nodeid_is_alias(a));
	g_assert_false(nodeid_is_object(a));
	again = nodeid_alias_lookup(base, 100, &made);
	g_assert_false(made);
	g_assert_cmphex(again, ==, a);
	b = nodeid_alias_lookup(base, 101, &made);
	g_assert_true(made);
	g_assert_cmphex(b, !=, a);
	c = nodeid_alias_lookup(other, 100, &made);
	g_assert_true(made);
	g_assert_cmphex(c, !=, a);

	g_assert_cmphex(nodeid_base(a, &owner), ==, base);
	g_assert_cmpint(owner, ==, 100);
	g_assert_cmphex(nodeid_base(b, &owner), ==, base);
	g_assert_cmpint(owner, ==, 101);
	/* A nodeid that is no alias stands for itself, made for no thread. */
	g_assert_cmphex(nodeid_base(base, &owner), ==, base);
	g_assert_cmpint(owner, ==, 0);

	/* a was looked up twice: one forget leaves it, the second ends it. */
	g_assert_cmphex(nodeid_alias_forget(a, 1, &gone), ==, base);
	g_assert_false(gone);
	g_assert_cmphex(nodeid_base(a, &owner), ==, base);
	g_assert_cmphex(nodeid_alias_forget(a, 1, &gone), ==, base);
	g_assert_true(gone);
	g_assert_cmphex(nodeid_base(a, &owner), ==, 0);
	g_assert_cmpint(owner, ==, 0);
	/* A forget of an alias already gone, and more lookups than were counted. */
	g_assert_cmphex(nodeid_alias_forget(a, 1, &gone), ==, 0);
	g_assert_false(gone);
	g_assert_cmphex(nodeid_alias_forget(b, 5, &gone), ==, base);
	g_assert_true(gone);
	/* The same thread's next lookup makes a new alias, never the forgotten one. */
	got = nodeid_alias_lookup(base, 100, &made);
	g_assert_true(made);
	g_assert_cmphex(got, !=, a);
	g_assert_cmphex(nodeid_base(c, &owner), ==, other);
	nodeid_aliases_clear();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nodeid/object-round-trip", test_an_object_nodeid_gives_back_what_made_it);
	g_test_add_func("/nodeid/directory-round-trip", test_a_directory_nodeid_is_its_local_number);
	g_test_add_func("/nodeid/distinct", test_no_two_names_share_a_nodeid);
	g_test_add_func("/nodeid/alias", test_an_alias_is_one_per_thread_and_lives_until_forgotten);
	return g_test_run();
}
