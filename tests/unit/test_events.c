// SPDX-License-Identifier: GPL-2.0-only
#include <glib.h>
#include <string.h>

#include "events_line.h"

static void test_a_line_is_one_json_object(void)
{
	struct ipc_event e = {
		.time_us = 1796650021123456, .op = EVENT_REMOVE, .kind = "shm", .key_known = true,
		.key = 0x1234, .id = 98307, .pid = 4242, .comm = "ipcrm", .uid_known = true,
		.uid = 1000,
	};
	g_autoptr(GString) out = g_string_new(NULL);

	events_format_line(&e, 4242, out);
	g_assert_cmpstr(out->str, ==,
			"{\"time\": \"2026-12-07T13:27:01.123Z\", \"op\": \"remove\", \"kind\": \"shm\", "
			"\"key\": \"0x00001234\", \"id\": 98307, \"pid\": 4242, \"comm\": \"ipcrm\", "
			"\"uid\": 1000}\n");
	/* A key with the top bit set is still 8 hex digits; a pid the reader may not see is null. */
	g_string_truncate(out, 0);
	e.key = -1;
	e.op = EVENT_CREATE;
	events_format_line(&e, 0, out);
	g_assert_nonnull(strstr(out->str, "\"op\": \"create\""));
	g_assert_nonnull(strstr(out->str, "\"key\": \"0xffffffff\""));
	g_assert_nonnull(strstr(out->str, "\"pid\": null, \"comm\": null, \"uid\": 1000}\n"));
	/* What a source does not know is null too. */
	g_string_truncate(out, 0);
	e.key_known = e.uid_known = false;
	events_format_line(&e, 0, out);
	g_assert_nonnull(strstr(out->str, "\"key\": null"));
	g_assert_nonnull(strstr(out->str, "\"uid\": null}\n"));
}

/* comm is any 15 bytes a process chose (prctl PR_SET_NAME): it stays one JSON string. */
static void test_comm_is_escaped(void)
{
	struct ipc_event e = { .time_us = 0, .op = EVENT_SET, .kind = "msg", .id = 1, .pid = 7 };
	g_autoptr(GString) out = g_string_new(NULL);

	memcpy(e.comm, "a\"b\\c\nd\x7f\xff", sizeof("a\"b\\c\nd\x7f\xff"));
	events_format_line(&e, 7, out);
	g_assert_nonnull(strstr(out->str, "\"comm\": \"a\\\"b\\\\c\\u000ad\\u007f\\u00ff\""));
	g_assert_cmpint(strchr(out->str, '\n') - out->str, ==, (gssize)out->len - 1);
	/* A comm of all 16 bytes, no terminator, is cut at 16. */
	g_string_truncate(out, 0);
	memset(e.comm, 'x', sizeof(e.comm));
	events_format_line(&e, 7, out);
	g_assert_nonnull(strstr(out->str, "\"comm\": \"xxxxxxxxxxxxxxxx\","));
}

static void test_the_lost_line(void)
{
	g_autoptr(GString) out = g_string_new(NULL);

	events_format_lost(905, out);
	g_assert_cmpstr(out->str, ==, "{\"op\": \"lost\", \"count\": 905}\n");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/events/line", test_a_line_is_one_json_object);
	g_test_add_func("/events/comm-escaped", test_comm_is_escaped);
	g_test_add_func("/events/lost", test_the_lost_line);
	return g_test_run();
}
