// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>

#include "attr.h"

static void test_fill(void)
{
	struct ipc_obj o = { .id = 5, .key = 0x1234, .mode = 01640, .uid = 10, .gid = 20,
			     .cuid = 30, .cgid = 40, .size = 4096, .atime = 0, .mtime = 200,
			     .ctime = 100 };
	struct stat st;

	attr_fill(&o, 77, &st);
	g_assert_cmpuint(st.st_ino, ==, 77);
	g_assert_cmpuint(st.st_mode, ==, S_IFREG | 0640);	/* SHM_DEST is not a mode bit */
	g_assert_cmpuint(st.st_uid, ==, 10);			/* owner, not creator */
	g_assert_cmpuint(st.st_gid, ==, 20);
	g_assert_cmpint(st.st_size, ==, 4096);
	g_assert_cmpint(st.st_atim.tv_sec, ==, 100);		/* never: ctime */
	g_assert_cmpint(st.st_mtim.tv_sec, ==, 200);
	g_assert_cmpint(st.st_ctim.tv_sec, ==, 100);
}

static void test_common_fields(void)
{
	struct ipc_obj o = { .id = 5, .key = (key_t)0xdeadbeef, .cuid = 30, .cgid = 40 };
	g_autoptr(GString) out = g_string_new(NULL);
	const struct xattr_field *f;

	f = attr_find_field(attr_common_fields, "key");
	g_assert_nonnull(f);
	g_assert_cmpint(f->format(&o, out), ==, 0);
	g_assert_cmpstr(out->str, ==, "0xdeadbeef");
	g_string_truncate(out, 0);
	attr_find_field(attr_common_fields, "cgid")->format(&o, out);
	g_assert_cmpstr(out->str, ==, "40");
	g_assert_null(attr_find_field(attr_common_fields, "nope"));
}

static void test_same_object(void)
{
	struct ipc_obj was = { .id = 32769, .key = 0x1234, .cuid = 1000, .cgid = 100, .cpid = 42,
			       .mode = 0600, .ctime = 5 };
	struct ipc_obj now = was;

	g_assert_true(ipc_obj_same(&was, &now));
	/* IPC_SET (chmod, chown) and SETVAL change these: still the same object. */
	now.mode = 0666;
	now.uid = 2000;
	now.ctime = 9;
	g_assert_true(ipc_obj_same(&was, &now));
	/* IPC_RMID of an attached segment makes its key private. */
	now.key = 0;
	now.mode |= IPC_MODE_SHM_DEST;
	g_assert_true(ipc_obj_same(&was, &now));
	now.mode &= ~IPC_MODE_SHM_DEST;
	g_assert_false(ipc_obj_same(&was, &now));
	/* The id came round to another object: another creator, key, pid or size. */
	now = was;
	now.cuid = 1001;
	g_assert_false(ipc_obj_same(&was, &now));
	now = was;
	now.key = 0x1235;
	g_assert_false(ipc_obj_same(&was, &now));
	now = was;
	now.cpid = 43;
	g_assert_false(ipc_obj_same(&was, &now));
	now = was;
	now.nsems = 2;
	g_assert_false(ipc_obj_same(&was, &now));
	now = was;
	now.id = 1;
	g_assert_false(ipc_obj_same(&was, &now));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/attr/fill", test_fill);
	g_test_add_func("/attr/common-fields", test_common_fields);
	g_test_add_func("/attr/same-object", test_same_object);
	return g_test_run();
}
