// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>

#include "perm.h"

/* The served IPC namespace belongs to IPC_OWNER_NS, created by uid 1000 in TOP_NS. */
#define TOP_NS 10
#define IPC_OWNER_NS 11
#define OTHER_NS 12

static void set_chain(void)
{
	const struct perm_userns chain[] = { { IPC_OWNER_NS, 1000 }, { TOP_NS, 0 } };

	perm_set_userns_chain(chain, 2);
}

/* A caller whose groups and capabilities are already known, so no /proc is read. */
static struct caller make_caller(uid_t uid, gid_t gid, const gid_t *groups, int n, uint64_t caps)
{
	struct caller c;

	caller_init(&c, uid, gid, 0);
	c.details_loaded = c.details_known = true;
	c.userns = IPC_OWNER_NS;
	c.groups = g_memdup2(groups, sizeof(gid_t) * (size_t)n);
	c.ngroups = n;
	c.cap_effective = caps;
	return c;
}

static struct ipc_obj make_obj(uid_t uid, gid_t gid, uid_t cuid, gid_t cgid, mode_t mode)
{
	struct ipc_obj o = { .uid = uid, .gid = gid, .cuid = cuid, .cgid = cgid, .mode = mode };

	return o;
}

static void test_owner_creator_other(void)
{
	struct ipc_obj o = make_obj(1000, 100, 2000, 200, 0640);
	struct caller owner = make_caller(1000, 1, NULL, 0, 0);
	struct caller creator = make_caller(2000, 1, NULL, 0, 0);
	struct caller other = make_caller(3000, 1, NULL, 0, 0);

	g_assert_true(perm_may_access(&owner, &o, PERM_READ | PERM_WRITE));
	g_assert_true(perm_may_access(&creator, &o, PERM_READ | PERM_WRITE));
	g_assert_false(perm_may_access(&other, &o, PERM_READ));
	g_assert_true(perm_may_control(&owner, &o));
	g_assert_true(perm_may_control(&creator, &o));
	g_assert_false(perm_may_control(&other, &o));
	caller_clear(&owner);
	caller_clear(&creator);
	caller_clear(&other);
}

static void test_groups(void)
{
	struct ipc_obj o = make_obj(1000, 100, 1000, 200, 0640);
	gid_t supp_cgid[] = { 5, 200 };
	struct caller primary = make_caller(3000, 100, NULL, 0, 0);
	struct caller creator_group = make_caller(3000, 1, supp_cgid, 2, 0);
	struct caller none = make_caller(3000, 1, (gid_t[]){ 5 }, 1, 0);

	g_assert_true(perm_may_access(&primary, &o, PERM_READ));
	g_assert_false(perm_may_access(&primary, &o, PERM_WRITE));
	g_assert_true(perm_may_access(&creator_group, &o, PERM_READ));
	g_assert_false(perm_may_access(&none, &o, PERM_READ));
	/* Group membership never gives IPC_SET. */
	g_assert_false(perm_may_control(&primary, &o));
	caller_clear(&primary);
	caller_clear(&creator_group);
	caller_clear(&none);
}

static void test_owner_bits_win(void)
{
	/* As in the kernel: the owner class applies even when it grants less than other. */
	struct ipc_obj o = make_obj(1000, 100, 1000, 100, 0066);
	struct caller owner = make_caller(1000, 100, NULL, 0, 0);

	g_assert_false(perm_may_access(&owner, &o, PERM_READ));
	caller_clear(&owner);
}

static void test_capabilities(void)
{
	struct ipc_obj o = make_obj(1000, 100, 1000, 100, 0600);
	struct caller owner_cap = make_caller(0, 0, NULL, 0, 1ull << PERM_CAP_IPC_OWNER);
	struct caller admin = make_caller(0, 0, NULL, 0, 1ull << PERM_CAP_SYS_ADMIN);
	struct caller root_nocaps = make_caller(0, 0, NULL, 0, 0);

	g_assert_true(perm_may_access(&owner_cap, &o, PERM_READ | PERM_WRITE));
	g_assert_false(perm_may_control(&owner_cap, &o));
	g_assert_true(perm_may_control(&admin, &o));
	g_assert_false(perm_may_access(&admin, &o, PERM_READ));
	g_assert_false(perm_may_access(&root_nocaps, &o, PERM_READ));
	caller_clear(&owner_cap);
	caller_clear(&admin);
	caller_clear(&root_nocaps);
}

static void test_capabilities_of_other_user_namespaces(void)
{
	struct ipc_obj o = make_obj(1000, 100, 1000, 100, 0600);
	struct ipc_obj foreign = make_obj(5, 5, 5, 5, 0600);
	uint64_t all = ~0ull;
	struct caller child = make_caller(3000, 1, NULL, 0, all);	/* unshare -r */
	struct caller top = make_caller(0, 0, NULL, 0, all);
	struct caller top_nocaps = make_caller(0, 0, NULL, 0, 0);
	struct caller ns_creator = make_caller(1000, 1, NULL, 0, 0);
	struct caller other_creator = make_caller(3000, 1, NULL, 0, 0);

	child.userns = OTHER_NS;
	top.userns = top_nocaps.userns = ns_creator.userns = other_creator.userns = TOP_NS;
	/* Capabilities of a namespace that does not own the IPC namespace count for nothing. */
	g_assert_false(perm_may_access(&child, &o, PERM_READ));
	g_assert_false(perm_may_control(&child, &o));
	g_assert_false(perm_has_global_cap(&child, PERM_CAP_SYS_RESOURCE));
	/* An ancestor's capabilities do. */
	g_assert_true(perm_may_control(&top, &o));
	g_assert_true(perm_has_global_cap(&top, PERM_CAP_SYS_RESOURCE));
	g_assert_false(perm_may_control(&top_nocaps, &o));
	/* The owning namespace's creator, in its parent, holds every capability in it. */
	g_assert_true(perm_may_access(&ns_creator, &foreign, PERM_READ));
	g_assert_false(perm_has_global_cap(&ns_creator, PERM_CAP_SYS_RESOURCE));
	g_assert_false(perm_may_control(&other_creator, &foreign));
	caller_clear(&child);
	caller_clear(&top);
	caller_clear(&top_nocaps);
	caller_clear(&ns_creator);
	caller_clear(&other_creator);
}

static void test_unknown_caller(void)
{
	/* pid 0 (another pid namespace): no groups, no capabilities are assumed. */
	struct ipc_obj o = make_obj(1000, 100, 1000, 100, 0640);
	struct caller c;

	caller_init(&c, 0, 0, 0);
	g_assert_false(perm_may_access(&c, &o, PERM_READ));
	g_assert_false(perm_may_control(&c, &o));
	caller_clear(&c);
}

static void test_parse_status(void)
{
	const char *status = "Name:\tbash\nUid:\t0\t1\t0\t1\nGid:\t7\t7\t7\t1\n"
			     "Groups:\t4 24 27 \nCapInh:\t0\nCapEff:\t0000000000208000\n";
	struct caller c;

	caller_init(&c, 1, 1, 0);
	g_assert_true(caller_parse_status(&c, status));
	g_assert_cmpint(c.ngroups, ==, 3);
	g_assert_cmpuint(c.groups[2], ==, 27);
	g_assert_cmpuint(c.cap_effective, ==, (1ull << 21) | (1ull << 15));
	caller_clear(&c);
	caller_init(&c, 1, 1, 0);
	g_assert_true(caller_parse_status(&c, "x\nUid:\t1 1 1 1\nGid:\t1 1 1 1\nGroups:\n\nCapEff:\t0\n"));
	g_assert_cmpint(c.ngroups, ==, 0);
	g_assert_false(caller_parse_status(&c, "garbage"));
	caller_clear(&c);
	/* Another process got the pid since the request: its groups and capabilities do not count. */
	caller_init(&c, 2, 1, 0);
	g_assert_false(caller_parse_status(&c, status));
	caller_clear(&c);
}

static void test_status_dying(void)
{
	/* Masks as /proc prints them: bit N-1 is signal N. */
	const char *killed = "x\nSigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n"
			     "SigBlk:\t0\nSigIgn:\t0\nSigCgt:\t0\n";
	const char *quit = "x\nSigPnd:\t0\nShdPnd:\t0000000000000004\nSigBlk:\t0\n"
			   "SigIgn:\t0\nSigCgt:\t0\n";
	const char *quit_caught = "x\nSigPnd:\t0\nShdPnd:\t0000000000000004\nSigBlk:\t0\n"
				  "SigIgn:\t0\nSigCgt:\t0000000000000004\n";
	const char *quit_blocked = "x\nSigPnd:\t0\nShdPnd:\t0000000000000004\n"
				   "SigBlk:\t0000000000000004\nSigIgn:\t0\nSigCgt:\t0\n";
	const char *child = "x\nSigPnd:\t0\nShdPnd:\t0000000000010000\nSigBlk:\t0\n"
			    "SigIgn:\t0\nSigCgt:\t0\n";

	g_assert_true(caller_status_dying(killed));		/* SIGKILL */
	g_assert_true(caller_status_dying(quit));		/* SIGQUIT dumps core: no SIGKILL is added */
	g_assert_false(caller_status_dying(quit_caught));
	g_assert_false(caller_status_dying(quit_blocked));
	g_assert_false(caller_status_dying(child));		/* SIGCHLD is ignored by default */

	/* What wakes a sleeping FUSE request: any pending signal it does not block. */
	g_assert_true(caller_status_signalled(killed));
	g_assert_true(caller_status_signalled(quit));
	g_assert_true(caller_status_signalled(quit_caught));	/* a handler runs: EINTR */
	g_assert_false(caller_status_signalled(quit_blocked));
	g_assert_false(caller_status_signalled("x\nSigPnd:\t0\nShdPnd:\t0\nSigBlk:\t0\n"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	set_chain();
	g_test_add_func("/perm/owner-creator-other", test_owner_creator_other);
	g_test_add_func("/perm/groups", test_groups);
	g_test_add_func("/perm/owner-bits-win", test_owner_bits_win);
	g_test_add_func("/perm/capabilities", test_capabilities);
	g_test_add_func("/perm/capabilities-of-other-user-namespaces",
			test_capabilities_of_other_user_namespaces);
	g_test_add_func("/perm/unknown-caller", test_unknown_caller);
	g_test_add_func("/perm/parse-status", test_parse_status);
	g_test_add_func("/perm/status-dying", test_status_dying);
	return g_test_run();
}
