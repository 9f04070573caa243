// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidns.h"

static void test_reads_each_level_of_nspid(void)
{
	pid_t n[4] = { 0 };

	g_assert_cmpuint(pidns_parse_nspid("Name:\tsh\nNSpid:\t4242\t17\t1\nNSgid:\t4242\n", n, 4), ==, 3);
	g_assert_cmpint(n[0], ==, 4242);
	g_assert_cmpint(n[1], ==, 17);
	g_assert_cmpint(n[2], ==, 1);
	/* More levels than room: counted, only the first stored. */
	n[1] = 0;
	g_assert_cmpuint(pidns_parse_nspid("x\nNSpid:\t9\t8\n", n, 1), ==, 2);
	g_assert_cmpint(n[0], ==, 9);
	g_assert_cmpint(n[1], ==, 0);
	/* At the end of the text, without a newline. */
	g_assert_cmpuint(pidns_parse_nspid("x\nNSpid:\t5", n, 4), ==, 1);
}

static void test_refuses_what_is_not_a_pid_list(void)
{
	pid_t n[4];

	g_assert_cmpuint(pidns_parse_nspid("Name:\tsh\n", n, 4), ==, 0);
	g_assert_cmpuint(pidns_parse_nspid("x\nNSpid:\t12x\n", n, 4), ==, 0);
	g_assert_cmpuint(pidns_parse_nspid("x\nNSpid:\t-1\n", n, 4), ==, 0);
	g_assert_cmpuint(pidns_parse_nspid("x\nNSpid:\t0\n", n, 4), ==, 0);
	g_assert_cmpuint(pidns_parse_nspid("x\nNSpid:\t99999999999\n", n, 4), ==, 0);
	/* "NSpid" must start a line. */
	g_assert_cmpuint(pidns_parse_nspid("xNSpid:\t5\n", n, 4), ==, 0);
}

static void test_this_process_in_its_own_namespace(void)
{
	struct stat st;

	g_assert_cmpint(stat("/proc/self/ns/pid", &st), ==, 0);
	/* Level 0 is the daemon's own namespace: a pid there is itself. */
	g_assert_cmpint(pidns_number_in(st.st_ino, 0, getpid()), ==, getpid());
	/* No process of ours lives in a namespace with another inode, or one level down. */
	g_assert_cmpint(pidns_number_in(st.st_ino + 1, 0, getpid()), ==, 0);
	g_assert_cmpint(pidns_number_in(st.st_ino, 1, getpid()), ==, 0);
	g_assert_cmpint(pidns_number_in(st.st_ino, 0, 0), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pidns/reads_each_level_of_nspid", test_reads_each_level_of_nspid);
	g_test_add_func("/pidns/refuses_what_is_not_a_pid_list", test_refuses_what_is_not_a_pid_list);
	g_test_add_func("/pidns/this_process_in_its_own_namespace", test_this_process_in_its_own_namespace);
	return g_test_run();
}
